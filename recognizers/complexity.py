"""Does a regex take time in proportion to its input? Probes on pathological inputs.

A pattern that is quadratic (or worse) in the length of some run of characters lets one large
message hold a detection process for seconds or minutes: every message behind it misses its
deadline. The probes are long runs of one thing (letters, digits, blanks, ``a@`` ...) and, for
each literal word of the pattern, that word followed by a long run of blanks (``\\s*X?\\s*``
after a keyword is the classic trap). A linear pattern takes about 8 times as long on 8,000
characters as on 1,000; a quadratic one 64 times as long.

:func:`pattern_problems` judges one pattern as Presidio will run it (the ``regex`` module, which
takes a timeout, so a catastrophic pattern cannot hang the check); ``check-config`` calls it for
every pattern rule of the recognizer file. ``tests/unit/test_regex_complexity.py`` uses the same
inputs on every pattern the detector runs.

Messages name the kind of input, never any text.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable

import regex

__all__ = [
    "PATHOLOGICAL",
    "Probe",
    "pathological_text",
    "pattern_problems",
    "probes",
    "seed_words",
]

#: A kind of pathological input: a description for messages, the text it starts with, and the
#: unit repeated after it.
Probe = tuple[str, str, str]

#: Runs of one thing (a description, a prefix, the unit repeated).
PATHOLOGICAL: tuple[Probe, ...] = (
    ("a run of letters", "", "a"),
    ("a run of upper-case letters", "", "A"),
    ("a run of mixed-case letters", "", "Aa"),
    ("a run of digits", "", "1"),
    ("a run of spaces", "", " "),
    ("a run of tabs", "", "\t"),
    ("a run of line breaks", "", "\n"),
    ("a run of dots", "", "."),
    ("a run of hyphens", "", "-"),
    ("a run of commas", "", ","),
    ("repeated 'a@'", "", "a@"),
    ("repeated 'x.'", "", "x."),
    ("repeated '1.'", "", "1."),
    ("repeated '1,'", "", "1,"),
    ("repeated '1-'", "", "1-"),
    ("repeated '1 '", "", "1 "),
    ("repeated given name and space", "", "Maria "),
    ("repeated capitalised word and space", "", "Aa "),
    ("alternating letters and digits", "", "a1"),
    ("alternating letters and hyphens", "", "a-"),
    ("alternating letters and spaces", "", "a "),
    ("alternating letters and dots", "", "a."),
    ("alternating letters and line breaks", "", "a\n"),
    ("repeated comma and space", "", ", "),
    ("a digit then a run of spaces", "1", " "),
    ("a letter then a run of spaces", "a", " "),
    ("a digit then a run of letters", "1", "a"),
    ("'#' then a run of spaces", "#", " "),
    ("'-' then a run of spaces", "-", " "),
    ("a comma then a run of line breaks", ",", "\n"),
)

#: An escape (``\s``, ``\b``, ``\d``) is no part of a literal word.
_ESCAPE = re.compile(r"\\.")
_LITERAL_WORD = re.compile(r"[A-Za-z]{2,}")
#: At most this many words of one pattern become probes (the longest first).
_MAX_SEEDS = 400


#: Ends a probe's run with something no run is made of: nested repeats (``(a+)+$``) backtrack
#: only when the end of their run does not match.
_END = "!"


def pathological_text(probe: Probe, size: int) -> str:
    """``probe``'s text, ``size`` characters long (a probe whose unit ends in ``!`` ends in one)."""
    _, prefix, unit = probe
    end = _END if unit.endswith(_END) and len(unit) > 1 else ""
    unit = unit[: len(unit) - len(end)]
    body = unit * ((size - len(prefix) - len(end)) // len(unit) + 1)
    return (prefix + body)[: size - len(end)] + end


def seed_words(pattern: str) -> list[str]:
    """The literal words of ``pattern`` (lower case), for the word + blanks probes."""
    words = {w.lower() for w in _LITERAL_WORD.findall(_ESCAPE.sub(" ", pattern))}
    return sorted(words, key=lambda w: (-len(w), w))[:_MAX_SEEDS]


def probes(pattern: str) -> list[Probe]:
    """Every probe for ``pattern``: the runs of :data:`PATHOLOGICAL`, as they are and ending in
    ``!``; then each literal word of the pattern followed by a run of spaces and ``!``."""
    ended = [(f"{kind}, then '{_END}'", prefix, unit + _END) for kind, prefix, unit in PATHOLOGICAL]
    seeded = [("one of its words, a run of spaces, then '!'", word, " " + _END) for word in seed_words(pattern)]
    return [*PATHOLOGICAL, *ended, *seeded]


# ---- the check-config probe -------------------------------------------------------------------
#: Each size is 8 times the one before: a linear pattern takes about 8 times as long on it, a
#: quadratic one 64 times. The probe stops growing once a run takes ``_ENOUGH`` (the growth was
#: judged on times well above the timer's noise) ...
_SIZES = (1_000, 8_000, 64_000)
_ENOUGH = 0.02
#: ... and fails a pattern whose time grew more than ``_GROWTH`` times from one size to the next.
#: Times under ``_TICK`` count as ``_TICK`` (noise), so a fast pattern passes on its first sizes
#: and is judged where its times mean something.
_GROWTH = 24.0
_TICK = 0.001
#: The first size may take this long (far longer than any chat turn's worth of text) ...
_FIRST_LIMIT = 0.05
#: ... and no run longer than this (a linear pattern this slow is a problem of its own).
_RUN_LIMIT = 1.0
#: All probes of one pattern together.
_TOTAL_BUDGET = 5.0

#: ``run(text, timeout)``: seconds to find every match in ``text``, None past ``timeout``.
Runner = Callable[[str, float], "float | None"]


def _timer(rx: regex.Pattern[str]) -> Runner:
    """Times are CPU seconds of this thread (as the ``regex`` module's timeouts are): other
    processes on a busy machine stretch wall-clock times, not these."""

    def run(text: str, timeout: float) -> float | None:
        start = time.thread_time()
        try:
            deque(rx.finditer(text, timeout=timeout), maxlen=0)
        except TimeoutError:
            return None
        return time.thread_time() - start

    return run


def _best(run: Runner, text: str, timeout: float, reps: int) -> float | None:
    """The fastest of ``reps`` runs (a busy machine only ever makes a run slower); None as soon as
    one run times out (the caller takes a second look before it blames the pattern)."""
    best: float | None = None
    for _ in range(reps):
        took = run(text, timeout)
        if took is None:
            return None
        best = took if best is None else min(best, took)
    return best


def pattern_problems(name: str, pattern: str, flags: int) -> list[str]:
    """Problems of one pattern rule as Presidio runs it (``regex`` module, ``flags``): empty when
    its time grows linearly with its input on every probe, else one value-free message (it names
    the kind of input, never any text). The probe bounds its own time: at most about
    ``_TOTAL_BUDGET`` seconds, a few milliseconds for a sound pattern."""
    try:
        rx = regex.compile(pattern, flags)
    except (regex.error, TypeError, ValueError) as exc:
        return [f"pattern {name!r} does not compile: {exc}"]
    run = _timer(rx)
    deadline = time.monotonic() + _TOTAL_BUDGET
    for probe in probes(pattern):
        # a second, longer look before blaming the pattern for a busy machine
        if _probe_problem(run, probe, 2, deadline) is None:
            continue
        problem = _probe_problem(run, probe, 4, deadline)
        if problem is not None:
            return [f"pattern {name!r} {problem}"]
    return []


def _probe_problem(run: Runner, probe: Probe, reps: int, deadline: float) -> str | None:
    kind, prefix, _ = probe
    if prefix[:1].isalpha():
        kind = f"{prefix!r} then a run of spaces"  # a word of the pattern itself, no input text
    before: float | None = None
    for size in _SIZES:
        text = pathological_text(probe, size)
        allowed = _FIRST_LIMIT if before is None else min(_RUN_LIMIT, _GROWTH * max(before, _TICK))
        left = deadline - time.monotonic()
        if left <= 0.001:
            return f"is too slow: its complexity probes took over {_TOTAL_BUDGET:.0f} s"
        took = _best(run, text, min(allowed, left), reps)
        if took is None and allowed > left:
            return f"is too slow: its complexity probes took over {_TOTAL_BUDGET:.0f} s"
        if before is None and took is None:
            return (
                f"is too slow: over {allowed * 1000:.0f} ms on {size:,} characters of {kind} "
                "(catastrophic backtracking?)"
            )
        if before is not None and (took is None or took > allowed):
            measured = f"over {allowed * 1000:.0f}" if took is None else f"{took * 1000:.0f}"
            return (
                f"is super-linear: on {kind} its time grows much faster than the input "
                f"({size // 8:,} characters: {before * 1000:.1f} ms; {size:,} characters: {measured} ms)"
            )
        assert took is not None
        if before is not None and took >= _ENOUGH:
            return None
        before = took
    return None
