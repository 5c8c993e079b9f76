"""The package surface: curated ``__all__`` on every package others import, no import cycles
between modules, no side effects at import, and one answer per exception at the edge."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from proxy.errors import (
    ConfigError,
    DetectionError,
    DetectionTimeout,
    PayloadError,
    PolicyError,
    TooLarge,
    UnsupportedContent,
)
from proxy.http.errors import ProxyError, answer_for
from proxy.sinks.spool import SpoolError, SpoolFull

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["proxy", "proxy.http", "proxy.redaction", "proxy.sinks", "proxy.vault", "recognizers"]


@pytest.mark.parametrize("name", PACKAGES)
def test_packages_have_a_curated_all(name: str) -> None:
    pkg = importlib.import_module(name)
    exported = getattr(pkg, "__all__", None)
    assert isinstance(exported, list), f"{name} has no __all__"
    for item in exported:
        assert not item.startswith("_"), f"{name}.__all__ exports a private name"
        assert hasattr(pkg, item), f"{name}.__all__ names {item}, which it does not define"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_level_imports(path: Path, modules: set[str]) -> set[str]:
    """Modules of ours imported when ``path`` is imported (function-level and TYPE_CHECKING
    imports excluded: they cannot make a cycle at import time)."""
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    me = _module_name(path)
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for sub in (
            ast.walk(node) if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) else []
        ):
            if isinstance(sub, ast.ImportFrom) and sub.module and sub.level == 0:
                cands = [f"{sub.module}.{a.name}" for a in sub.names] + [sub.module]
                out.update(c for c in cands if c in modules)
            elif isinstance(sub, ast.Import):
                out.update(a.name for a in sub.names if a.name in modules)
    out.discard(me)
    # importing a.b.c imports a and a.b too
    for m in list(out):
        parts = m.split(".")
        out.update(".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in modules)
    out.discard(me)
    return {m for m in out if not me.startswith(m + ".")}  # a package's own parents are not a cycle


def test_no_import_cycles() -> None:
    files = [p for d in ("proxy", "recognizers") for p in (ROOT / d).rglob("*.py") if p.name != "__main__.py"]
    modules = {_module_name(p) for p in files}
    graph = {_module_name(p): _top_level_imports(p, modules) for p in files}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                cycle = [*stack[stack.index(n) :], n]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def _unit(module: str) -> str:
    """A module's room: its subpackage (proxy.http, proxy.redaction, proxy.sinks) or itself."""
    parts = module.split(".")
    if parts[0] == "recognizers":
        return "recognizers"
    return ".".join(parts[:2]) if len(parts) > 2 else module


def test_no_cycles_between_rooms() -> None:
    """Counting every import, lazy ones included: the transport (proxy.http) may use the sinks
    and the core; never the other way round."""
    files = [p for d in ("proxy", "recognizers") for p in (ROOT / d).rglob("*.py") if p.name != "__main__.py"]
    modules = {_module_name(p) for p in files}
    edges: dict[str, set[str]] = {}
    for p in files:
        me = _unit(_module_name(p))
        for sub in ast.walk(ast.parse(p.read_text())):
            names: list[str] = []
            if isinstance(sub, ast.ImportFrom) and sub.module and sub.level == 0:
                names = [sub.module, *(f"{sub.module}.{a.name}" for a in sub.names)]
            elif isinstance(sub, ast.Import):
                names = [a.name for a in sub.names]
            for n in names:
                if n in modules and _unit(n) != me and n not in ("proxy",):
                    edges.setdefault(me, set()).add(_unit(n))
    seen: dict[str, int] = {}

    def visit(u: str, path: list[str]) -> None:
        seen[u] = 1
        for v in sorted(edges.get(u, ())):
            if seen.get(v) == 1:
                pytest.fail("cycle between rooms: " + " -> ".join([*path[path.index(v) :], v]))
            if v not in seen:
                visit(v, [*path, v])
        seen[u] = 2

    for u in sorted(edges):
        if u not in seen:
            visit(u, [u])
    assert "proxy.http" not in edges.get("proxy.sinks", set())
    # the core is sans-io: the vault is injected, never imported
    assert "proxy.vault" not in edges.get("proxy.redaction", set())
    # the detector uses only the bottom of the proxy: its errors and the YAML loader
    assert edges.get("recognizers", set()) <= {"proxy.errors", "proxy.yamlload"}


def test_importing_has_no_side_effects() -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    code = (
        "import os, proxy, proxy.detection, proxy.http.app, recognizers.engine;"
        "print(sorted(k for k in os.environ if k.endswith('_NUM_THREADS')))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (PayloadError("malformed JSON at line 1 column 2"), 400, "bad_request"),
        (TooLarge("line 3 is longer than 10 bytes"), 413, "payload_too_large"),
        (UnsupportedContent("unsupported Content-Encoding"), 415, "unsupported_media_type"),
        (PolicyError("no key"), 500, "internal"),
        (DetectionTimeout("no answer within 2 s"), 503, "detection_timeout"),
        (DetectionError("boom"), 503, "detection_failed"),
        (SpoolFull("full"), 507, "spool_full"),
        (SpoolError("disk"), 503, "spool_unavailable"),
        (ProxyError(502, "upstream unreachable"), 502, "bad_gateway"),
    ],
)
def test_one_answer_per_exception(exc: Exception, status: int, code: str) -> None:
    ans = answer_for(exc, retry_after=5)
    assert ans is not None and (ans.status, ans.code) == (status, code)
    if isinstance(exc, SpoolError):
        assert ans.headers["Retry-After"] == "5"


def test_unknown_exceptions_are_bugs_not_answers() -> None:
    assert answer_for(ValueError("x")) is None
    assert answer_for(ConfigError(["f:1: bad"])) is None  # refused at start-up, never a request's
