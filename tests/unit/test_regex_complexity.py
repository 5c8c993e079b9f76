"""Every pattern the detector runs takes time in proportion to its input.

The patterns: every regex of our recognizers (``recognizers/*.py``: module-level patterns, the
rules of each recognizer, and regexes written inline in functions, found in the source), and the
patterns of the recognizers ``config/recognizers.yaml`` enables (Presidio's predefined ones and
the ops rules), built as ``recognizers.engine`` builds its registry.

The inputs: ``recognizers.complexity.probes`` (runs of letters, digits, blanks, dots, ``a@``,
``Maria `` ..., each also ending in ``!``, and every literal word of the pattern followed by a
run of spaces) at 1,000, 4,000 and 16,000 characters. A linear pattern takes about 16 times as
long on 16,000 characters as on 1,000, a quadratic one about 256 times: the test fails a pattern
past 64 times, or past 0.5 s on 16,000 characters. Times are CPU time of this thread (a busy
machine stretches wall-clock time, not these), the fastest of a few runs, and a failing probe is
measured again before it counts.

Failures name the pattern (recognizer and rule, or module and name) and the kind of input, never
the input text.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import re
import signal
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import pytest
import regex

from recognizers.complexity import Probe, pathological_text, probes
from tests.helpers import ROOT

SIZES = (1_000, 4_000, 16_000)
#: time(16k) / time(1k): linear about 16, quadratic about 256.
MAX_GROWTH = 64.0
#: time(16k) in CPU seconds.
MAX_TIME = 0.5
#: Times under this count as this much (the cost of starting a search at all).
TICK = 5e-6
#: A run that takes this long is stopped (wall clock): a catastrophic pattern fails, never hangs.
HANG_GUARD = 10.0

#: ``re`` functions whose first argument is a pattern: the position of their ``flags`` argument.
_RE_CALLS = {"compile": 1, "match": 2, "search": 2, "fullmatch": 2, "findall": 2, "finditer": 2, "sub": 4, "subn": 4}
_RE_CALLS |= {"split": 3}
#: Helpers that compile the pattern they are given (their own ``re`` call cannot be resolved; their
#: callers' patterns are collected where they are stored).
_COMPILING_HELPERS = {
    ("recognizers.custom", "_rx"),
    ("recognizers.engine", "presidio_trigger"),  # the _PRESIDIO_TRIGGERS, collected below
    ("recognizers.engine", "load_registry_config"),  # ops rules, compiled to validate them only
    # Google's per-country postal-code patterns (data), only matched whole on at most 12 characters
    ("recognizers.address_block", "is_postcode_of_some_country"),
}
_RULE_FIELDS = ("regex", "context_before", "context_after", "not_followed_by", "not_preceded_by")


@dataclass(frozen=True)
class Subject:
    """One pattern and how it is run: ``finditer`` (searched), or ``match`` / ``fullmatch`` once
    on a value (an inline ``re.match(pattern, value)``)."""

    name: str
    rx: Any  # re.Pattern or regex.Pattern
    how: str = "finditer"

    def runner(self) -> Callable[[str], object]:
        if not isinstance(self.rx, re.Pattern):  # the regex module: it has timeouts of its own
            return lambda text: deque(self.rx.finditer(text, timeout=HANG_GUARD), maxlen=0)
        if self.how == "finditer":
            return lambda text: deque(self.rx.finditer(text), maxlen=0)
        return getattr(self.rx, self.how)  # type: ignore[no-any-return]


# ---- collecting the patterns ------------------------------------------------------------------
def _recognizer_modules() -> list[ModuleType]:
    names = sorted(p.stem for p in (ROOT / "recognizers").glob("*.py") if p.stem != "__init__")
    return [importlib.import_module(f"recognizers.{name}") for name in names]


def _ours() -> Iterator[Subject]:
    seen: set[tuple[str, int, str]] = set()

    def subject(name: str, rx: re.Pattern[str], how: str = "finditer") -> Iterator[Subject]:
        key = (rx.pattern, rx.flags, how)
        if key not in seen:
            seen.add(key)
            yield Subject(name, rx, how)

    for mod in _recognizer_modules():
        short = mod.__name__.rsplit(".", 1)[-1]
        for attr, value in vars(mod).items():
            if isinstance(value, re.Pattern):
                yield from subject(f"{short}.{attr}", value)
            if inspect.isclass(value) and value.__module__ == mod.__name__:
                trigger = getattr(value, "TRIGGER", None)
                if isinstance(trigger, re.Pattern):
                    yield from subject(f"{short}.{attr}.TRIGGER", trigger)
                for rule in getattr(value, "RULES", ()) or ():
                    for field in _RULE_FIELDS:
                        rx = getattr(rule, field, None)
                        if isinstance(rx, re.Pattern):
                            yield from subject(f"{short}.{attr}[{rule.name}].{field}", rx)
        for name, rx, how in _inline(mod):
            yield from subject(f"{short}.{name}", rx, how)
        for rec, trigger in (getattr(mod, "_PRESIDIO_TRIGGERS", None) or {}).items():
            yield from subject(f"{short}._PRESIDIO_TRIGGERS[{rec}]", re.compile(trigger, re.IGNORECASE))


def _inline(mod: ModuleType) -> Iterator[tuple[str, re.Pattern[str], str]]:
    """``re.<call>(pattern, ...)`` in the module's source, pattern and flags evaluated in the
    module's namespace; named after the enclosing function."""
    tree = ast.parse(Path(inspect.getfile(mod)).read_text(encoding="utf-8"))
    counts: dict[str, int] = {}
    for func, call in _re_calls(tree, "<module>"):
        assert isinstance(call.func, ast.Attribute)
        op = call.func.attr
        flag_node = next((kw.value for kw in call.keywords if kw.arg == "flags"), None)
        if flag_node is None and len(call.args) > _RE_CALLS[op]:
            flag_node = call.args[_RE_CALLS[op]]
        try:
            pattern = eval(compile(ast.Expression(call.args[0]), mod.__name__, "eval"), vars(mod))
            flags = eval(compile(ast.Expression(flag_node), mod.__name__, "eval"), vars(mod)) if flag_node else 0
        except NameError:
            if (mod.__name__, func) in _COMPILING_HELPERS:
                continue
            raise AssertionError(
                f"{mod.__name__}:{call.lineno}: the pattern of re.{op} cannot be resolved; give it a module-level name "
                "(or add the helper to _COMPILING_HELPERS) so that this test times it"
            ) from None
        rx = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern, flags)
        counts[func] = counts.get(func, 0) + 1
        how = op if op in ("match", "fullmatch") else "finditer"
        yield f"{func}:re.{op}#{counts[func]}", rx, how


def _re_calls(node: ast.AST, func: str) -> Iterator[tuple[str, ast.Call]]:
    for child in ast.iter_child_nodes(node):
        name = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else func
        if (
            isinstance(child, ast.Call)
            and isinstance(child.func, ast.Attribute)
            and isinstance(child.func.value, ast.Name)
            and child.func.value.id == "re"
            and child.func.attr in _RE_CALLS
            and child.args
        ):
            yield func, child
        yield from _re_calls(child, name)


def _presidio_and_ops() -> Iterator[Subject]:
    """The pattern recognizers of ``config/recognizers.yaml`` as the engine's registry holds
    them (no NLP engine needed for those), compiled as Presidio compiles them."""
    from presidio_analyzer import PatternRecognizer
    from presidio_analyzer.recognizer_registry import RecognizerRegistryProvider

    from recognizers.engine import load_registry_config

    conf = load_registry_config(ROOT / "config" / "recognizers.yaml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registry = RecognizerRegistryProvider(registry_configuration=conf).create_recognizer_registry()
    for rec in registry.recognizers:
        if isinstance(rec, PatternRecognizer):
            for pat in rec.patterns:
                yield Subject(f"{rec.name}[{pat.name}]", regex.compile(pat.regex, rec.global_regex_flags))


OURS = list(_ours())
PRESIDIO = list(_presidio_and_ops())


def test_the_collection_is_complete() -> None:
    """The rule patterns of every recognizer, and the recognizers the YAML enables, are here."""
    from recognizers.custom import RuleRecognizer, StreetAddressRecognizer

    names = {s.name for s in OURS}
    assert "custom.StreetAddressRecognizer[european street].regex" in names
    assert any(n.startswith("person.") for n in names)
    assert len(OURS) >= 60
    rules = sum(len(cls.RULES) for cls in RuleRecognizer.__subclasses__())
    assert rules >= len(StreetAddressRecognizer.RULES)
    presidio = {s.name.split("[")[0] for s in PRESIDIO}
    assert {"EmailRecognizer", "UsSsnRecognizer", "IbanRecognizer", "IpRecognizer"} <= presidio
    assert "Customer account number" in presidio  # the shipped ops rule


# ---- timing -----------------------------------------------------------------------------------
class _Hang(Exception):
    pass


@contextlib.contextmanager
def _hang_guard() -> Iterator[None]:
    """Interrupts a stdlib ``re`` search that runs past ``HANG_GUARD`` (``re`` checks signals)."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise _Hang

    old = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, HANG_GUARD)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _cpu_time(run: Callable[[str], object], text: str, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        start = time.thread_time()
        with _hang_guard():
            run(text)
        best = min(best, time.thread_time() - start)
    return best


def _verdict(subject: Subject, probe: Probe, reps: int) -> str | None:
    """None when ``subject`` passes ``probe``; else why not (no input text)."""
    run = subject.runner()
    kind = probe[0] if not probe[1][:1].isalpha() else f"{probe[1]!r} then a run of spaces"
    try:
        times = {}
        for size in SIZES:
            times[size] = _cpu_time(run, pathological_text(probe, size), reps)
            # escalate only while fast: past the limit even if it grew linearly from here on
            if times[size] * SIZES[-1] / size > MAX_TIME:
                return (
                    f"{kind}: {times[size] * 1000:.0f} ms on {size:,} characters "
                    f"(limit {MAX_TIME} s on {SIZES[-1]:,}, growing at least linearly)"
                )
    except (_Hang, TimeoutError):
        return f"{kind}: a run took over {HANG_GUARD:.0f} s (catastrophic backtracking)"
    growth = times[SIZES[-1]] / max(times[SIZES[0]], TICK)
    if growth > MAX_GROWTH:
        shown = ", ".join(f"{n:,}: {t * 1000:.2f} ms" for n, t in times.items())
        return f"{kind}: time grew {growth:.0f}x for 16x the input ({shown})"
    return None


def _problems(subject: Subject, kinds: set[str] | None = None) -> list[str]:
    """The first probe ``subject`` fails (one is enough, and a super-linear pattern tends to fail
    many, each slowly)."""
    for probe in probes(subject.rx.pattern):
        if kinds is not None and probe[0] not in kinds:
            continue
        if _verdict(subject, probe, reps=1) is not None:
            again = _verdict(subject, probe, reps=4)  # a second look: a busy machine, not the pattern?
            if again is not None:
                return [again]
    return []


@pytest.mark.parametrize("subject", OURS, ids=[s.name for s in OURS])
def test_our_patterns_are_linear(subject: Subject) -> None:
    problems = _problems(subject)
    assert not problems, f"{subject.name} is super-linear on {problems[0]}"


@pytest.mark.parametrize("subject", PRESIDIO, ids=[s.name for s in PRESIDIO])
def test_presidio_and_ops_patterns_are_linear(subject: Subject) -> None:
    problems = _problems(subject)
    assert not problems, f"{subject.name} is super-linear on {problems[0]}"


def test_the_test_catches_a_quadratic_pattern() -> None:
    """The european street pattern as it was (no word-start anchor): 2k letters took 1 s."""
    quadratic = Subject("old european street", re.compile(r"[^\W\d_]+(?:straße|strasse|weg)\s+\d{1,5}", re.I))
    assert _problems(quadratic, {"a run of spaces"}) == []
    problems = _problems(quadratic, {"a run of letters"})
    assert len(problems) == 1 and problems[0].startswith("a run of letters"), problems
