"""YAML loading with line numbers and ``${VAR}`` / ``${VAR:-default}`` interpolation.

Every config file the proxy reads goes through :func:`load_yaml`, which returns the plain data
and a map from each value's path (a tuple of keys and list indices) to its 1-based line, so that
validation errors can be reported as ``FILE:LINE: message``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from proxy.errors import ConfigError

__all__ = ["ConfigError", "LoadedYaml", "interpolate", "load_yaml"]

Path_ = tuple[str | int, ...]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class LoadedYaml:
    data: Any
    file: str
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int:
        """The line of the deepest known prefix of ``path`` (1 when nothing is known)."""
        for cut in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:cut]))
            if line is not None:
                return line
        return 1

    def problem(self, path: Path_, message: str) -> str:
        return f"{self.file}:{self.line_of(path)}: {message}"


def interpolate(value: str, env: Mapping[str, str], missing: list[str]) -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}``; names of unset variables go to ``missing``."""

    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        got = env.get(name)
        if got is None or (got == "" and default is not None):
            if default is None:
                missing.append(name)
                return ""
            return default
        return got

    return _VAR.sub(repl, value)


def load_yaml(path: str | Path, env: Mapping[str, str] | None = None, text: str | None = None) -> LoadedYaml:
    """Read ``path`` (or parse ``text``, read from it earlier); raise :class:`ConfigError` with
    ``FILE:LINE`` problems on any failure."""
    env = os.environ if env is None else env
    name = str(path)
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError([f"{name}:1: cannot read file: {exc.__class__.__name__}"]) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError([f"{name}:{line}: YAML syntax error: {exc.problem}"]) from None
    finally:
        loader.dispose()
    out = LoadedYaml(data=None, file=name)
    problems: list[str] = []
    if node is None:
        out.data = {}
        return out
    out.data = _build(node, (), out, env, problems, yaml.SafeLoader(""))
    if problems:
        raise ConfigError(problems)
    return out


def _build(
    node: yaml.Node,
    path: Path_,
    out: LoadedYaml,
    env: Mapping[str, str],
    problems: list[str],
    ctor: yaml.SafeLoader,
) -> Any:
    out.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = ctor.construct_object(key_node, deep=True)
            if not isinstance(key, str | int):
                problems.append(f"{out.file}:{key_node.start_mark.line + 1}: keys must be strings")
                continue
            if key in result:
                problems.append(f"{out.file}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
                continue
            key = str(key)
            sub = (*path, key)
            out.lines[sub] = key_node.start_mark.line + 1
            result[key] = _build(value_node, sub, out, env, problems, ctor)
            out.lines[sub] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), out, env, problems, ctor) for i, item in enumerate(node.value)]
    value = ctor.construct_object(node, deep=True)
    if isinstance(value, str) and "${" in value:
        missing: list[str] = []
        value = interpolate(value, env, missing)
        for var in missing:
            problems.append(
                f"{out.file}:{node.start_mark.line + 1}: environment variable {var} is not set "
                f"(use ${{{var}:-default}} for an optional one)"
            )
        if node.tag == "tag:yaml.org,2002:str" and isinstance(node, yaml.ScalarNode) and not node.style:
            # An unquoted ${VAR} may stand for a number or boolean: resolve it as YAML would.
            resolved = yaml.safe_load(value) if value.strip() else value
            if isinstance(resolved, int | float | bool):
                return resolved
    return value
