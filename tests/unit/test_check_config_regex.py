"""``check-config`` refuses an ops pattern rule whose matching time grows faster than its input,
and says which rule, as ``FILE:LINE: message``, within a bounded time."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from recognizers.complexity import pattern_problems
from tests.helpers import ROOT

SHIPPED_RECOGNIZERS = (ROOT / "config" / "recognizers.yaml").read_text()

#: A rule appended to the shipped recognizer file; ``{regex}`` is a YAML single-quoted scalar.
RULE = """
  - name: Bad rule
    type: custom
    supported_language: en
    supported_entity: TICKET_ID
    patterns:
      - name: ticket id
        regex: '{regex}'
        score: 0.6
"""

CATASTROPHIC = [
    pytest.param(r"(a+)+$", id="nested-plus"),
    pytest.param(r"(\w+\s?)+$", id="words-and-optional-space"),
]
#: Not catastrophic, but quadratic: a run of letters is rescanned from each of its letters.
QUADRATIC = [
    pytest.param(r"[a-z]+(?:strasse|weg)\s+\d{1,5}", id="suffix-after-letter-run"),
    pytest.param(r"\bticket\s*-?\s*\d{4,8}\b", id="keyword-blank-split"),
]
LINEAR = [
    pytest.param(r"(?i)\bACCT-\d{6,10}\b", id="shipped-account-number"),
    pytest.param(r"\b[A-Z]{2}-\d{4,8}\b", id="letters-and-digits"),
    pytest.param(r"(?<![\w-])(?:\d[ -]?){12,18}\d(?![\w-])", id="bounded-groups"),
    pytest.param(r"\bticket\s*+-?\s*+\d{4,8}\b", id="possessive-blank-split"),
]


def run_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy", "check-config", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def config_with_rule(tmp_path: Path, regex: str) -> tuple[Path, Path, int]:
    """proxy.yaml and recognizers.yaml in ``tmp_path``, the latter with one extra rule; the line
    of that rule's ``regex:``."""
    proxy = tmp_path / "proxy.yaml"
    proxy.write_text((ROOT / "config" / "proxy.yaml").read_text())
    rec = tmp_path / "recognizers.yaml"
    text = SHIPPED_RECOGNIZERS.rstrip("\n") + "\n" + RULE.format(regex=regex)
    rec.write_text(text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if ln.strip().startswith("regex: '"))
    return proxy, rec, line


@pytest.mark.parametrize("regex", CATASTROPHIC + QUADRATIC)
def test_check_config_refuses_super_linear_rule(tmp_path: Path, regex: str) -> None:
    proxy, rec, line = config_with_rule(tmp_path, regex)
    started = time.monotonic()
    r = run_check(proxy)
    took = time.monotonic() - started
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{rec}:{line}: recognizer 'Bad rule': pattern 'ticket id' is "), lines
    assert "super-linear" in lines[0] or "too slow" in lines[0]
    assert took < 60  # bounded: the probe has a time budget (about 5 s), never the pattern's own time


def test_check_config_accepts_the_shipped_rules_quickly(tmp_path: Path) -> None:
    proxy, _, _ = config_with_rule(tmp_path, r"\bTCK-\d{6}\b")
    r = run_check(proxy)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("ok")


@pytest.mark.parametrize("regex", CATASTROPHIC + QUADRATIC)
def test_pattern_problems_names_the_pattern_and_no_input(regex: str) -> None:
    started = time.monotonic()
    problems = pattern_problems("ticket id", regex, 24)
    assert time.monotonic() - started < 30
    assert len(problems) == 1
    assert problems[0].startswith("pattern 'ticket id' is ")
    assert "aaaa" not in problems[0] and "Maria" not in problems[0]  # kinds of input, never input


@pytest.mark.parametrize("regex", LINEAR)
def test_pattern_problems_passes_linear_patterns(regex: str) -> None:
    started = time.monotonic()
    assert pattern_problems("rule", regex, 24) == []
    assert time.monotonic() - started < 5


def test_pattern_problems_reports_a_regex_that_does_not_compile() -> None:
    problems = pattern_problems("rule", "(unclosed", 24)
    assert len(problems) == 1 and problems[0].startswith("pattern 'rule' does not compile")
