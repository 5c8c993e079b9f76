"""Cost bounds of the pieces one request could otherwise use to stop a worker: the content
decoder (bounded per call, a maximum compression ratio), the line framer (C-speed splitting),
Presidio's e-mail pattern (linear), the detector's windows and per-payload budgets, and the
service handing an over-budget payload its own failure.

Payloads are synthetic; assertions on PII are booleans or counts (a failure never prints one)."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import random
import time
import zlib
from collections.abc import Callable, Iterator

import pytest
import regex

from proxy.detection import DetectionService
from proxy.errors import DetectionTimeout, PayloadError, TooLarge
from proxy.redaction.decode import MAX_RATIO, PIECE, RATIO_GRACE, ContentDecoder, decode_body
from proxy.redaction.stream import LineFramer
from recognizers.types import Finding


# ---- ContentDecoder ------------------------------------------------------------------------------
def chunks(data: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    for at in range(0, len(data), size):
        yield data[at : at + size]


def test_a_stream_bomb_is_refused_by_its_ratio_after_a_bounded_amount() -> None:
    bomb = gzip.compress(b"\n" * 100_000_000, 9)  # ~100 KB inflating ~1000:1
    dec = ContentDecoder("gzip")
    decoded = 0
    started = time.perf_counter()

    def inflate() -> None:
        nonlocal decoded
        for chunk in chunks(bomb):
            for piece in dec.pieces(chunk):
                assert len(piece) <= PIECE
                decoded += len(piece)

    with pytest.raises(TooLarge, match="compression ratio"):
        inflate()
    assert decoded < 8 * RATIO_GRACE  # stopped after a few MiB, not 100 MB
    assert time.perf_counter() - started < 1.0


def test_no_single_decode_step_inflates_more_than_a_piece() -> None:
    data = gzip.compress(b"x" * 5_000_000, 9)  # 5 MB in one compressed chunk
    dec = ContentDecoder("gzip", max_ratio=None)
    sizes = [len(p) for p in dec.pieces(data)]
    assert max(sizes) <= PIECE and sum(sizes) == 5_000_000
    assert dec.flush() == b""


def test_real_text_is_far_below_the_ratio() -> None:
    rnd = random.Random(3)
    words = ["error", "user", "login", "failed", "timeout", "GET", "/api/v1/orders", "200", "503"]
    lines = "".join(
        f'{{"n": {i}, "level": "info", "msg": "{" ".join(rnd.choice(words) for _ in range(12))}"}}\n'
        for i in range(60_000)
    ).encode()
    comp = gzip.compress(lines, 9)
    assert len(lines) / len(comp) < MAX_RATIO / 2.5
    dec = ContentDecoder("gzip")
    assert b"".join(p for c in chunks(comp) for p in dec.pieces(c)) + dec.flush() == lines


def test_small_bodies_may_have_any_ratio_and_buffered_bodies_keep_their_limit() -> None:
    small = gzip.compress(b"\0" * 512 * 1024)
    assert ContentDecoder("gzip").decode(small) == b"\0" * 512 * 1024
    with pytest.raises(TooLarge, match="limit of 1000"):
        decode_body(gzip.compress(b"a" * 5000), "gzip", 1000)
    assert decode_body(gzip.compress(b"a" * 5000), "gzip", 5000) == b"a" * 5000
    with pytest.raises(PayloadError, match="truncated"):
        decode_body(gzip.compress(b"a" * 5000)[:-10], "gzip", 10_000)
    raw = zlib.compress(b"abc" * 1000)
    assert ContentDecoder("deflate").decode(raw) == b"abc" * 1000


def test_identity_is_cut_in_pieces_too() -> None:
    dec = ContentDecoder("")
    assert [len(p) for p in dec.pieces(b"a" * (PIECE * 2 + 5))] == [PIECE, PIECE, 5]
    assert list(dec.pieces(b"")) == []


# ---- LineFramer ----------------------------------------------------------------------------------
def reference_lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    tail = lines.pop()
    out = [line.removesuffix(b"\r") for line in lines]
    if tail:
        out.append(tail.removesuffix(b"\r"))
    return out


@pytest.mark.parametrize("seed", range(20))
def test_framer_lines_whatever_the_chunking(seed: int) -> None:
    rnd = random.Random(seed)
    data = b"".join(rnd.choice([b"\n", b"\r\n", b"a", b"bc", b"\r", b'{"x": 1}', b""]) for _ in range(400))
    framer = LineFramer(10_000)
    got: list[bytes] = []
    at = 0
    while at < len(data):
        step = rnd.randint(1, 9)
        got += framer.feed(data[at : at + step])
        at += step
    tail = framer.flush()
    if tail is not None:
        got.append(tail)
    assert got == reference_lines(data)
    assert framer.line_no == len(got)


def test_framer_names_the_long_line() -> None:
    framer = LineFramer(10)
    assert framer.feed(b"ok\nfine\n") == [b"ok", b"fine"]
    with pytest.raises(TooLarge, match="line 4 is longer than 10"):
        framer.feed(b"also\n" + b"y" * 11 + b"\n")
    framer = LineFramer(10)
    framer.feed(b"12345")
    with pytest.raises(TooLarge, match="line 1 is longer"):
        framer.feed(b"678901\n")
    framer = LineFramer(10)
    with pytest.raises(TooLarge, match="line 2 is longer"):
        framer.feed(b"a\n" + b"z" * 11)  # the incomplete tail is already too long


def test_blank_lines_are_cheap() -> None:
    framer = LineFramer(1024)
    started = time.perf_counter()
    n = 0
    for piece in chunks(b"\n" * 8_000_000, PIECE):
        n += len(framer.feed(piece))
    assert n == 8_000_000
    assert time.perf_counter() - started < 1.0


# ---- detection: e-mail pattern, windows, budgets -------------------------------------------------
@pytest.fixture(scope="module")
def detector():  # type: ignore[no-untyped-def]
    from proxy.config import load_config
    from proxy.detection import make_detector
    from tests.helpers import ROOT

    return make_detector(load_config(ROOT / "config" / "proxy.yaml"))


def test_linear_email_finds_what_presidio_finds() -> None:
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    from recognizers.engine import _BudgetClock, _LinearEmail

    flags = regex.DOTALL | regex.MULTILINE
    original = regex.compile(EmailRecognizer.PATTERNS[0].regex, flags)
    linear = _LinearEmail(original, _BudgetClock())
    rnd = random.Random(7)
    alphabet = "ab1.@-_+ é=:\n!x"
    for _ in range(5000):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 40)))
        same = [m.span() for m in original.finditer(text)] == [m.span() for m in linear.finditer(text)]
        assert same, "the linear e-mail pattern differs from Presidio's on a random text"
    for bad in ("x." * 300_000 + "@example.com", "a-" * 300_000 + "@b", "a@" * 300_000):
        started = time.perf_counter()
        list(linear.finditer(bad))
        assert time.perf_counter() - started < 3.0  # linear (Presidio's own: minutes)


def test_windows_cover_long_texts_with_overlap(detector) -> None:  # type: ignore[no-untyped-def]
    from recognizers.engine import WINDOW_OVERLAP

    text = "word " * 10_000 + "x" * 30_000
    wins = detector.windows(text)
    assert len(wins) > 1
    assert all(len(piece) <= detector.window_chars and text[o : o + len(piece)] == piece for o, piece in wins)
    assert wins[0][0] == 0 and wins[-1][0] + len(wins[-1][1]) == len(text)
    for (o1, p1), (o2, _) in itertools.pairwise(wins):
        assert o2 < o1 + len(p1) and o1 + len(p1) - o2 >= WINDOW_OVERLAP // 2  # they overlap
    assert detector.windows("short") == [(0, "short")]


def test_findings_of_a_long_text_are_mapped_back(detector) -> None:  # type: ignore[no-untyped-def]
    filler = "the order shipped on time and nothing else happened. " * 600
    text = filler + "write to jane.doe@example.com please. " + filler + "or call 415-555-0134 today"
    (answer,) = detector.analyze_groups([[text]], [None])
    assert isinstance(answer, list)
    spans = {(f.entity, text[f.start : f.end]) for f in answer[0]}
    assert ("EMAIL_ADDRESS", "jane.doe@example.com") in spans
    assert any(e == "PHONE_NUMBER" and "555-0134" in v for e, v in spans)


PATHOLOGICAL: dict[str, Callable[[], str]] = {
    "dots_then_at": lambda: "x." * 300_000 + "@example.com",
    "digit_dots": lambda: "1." * 300_000,
    "repeated_name": lambda: "Maria " * 35_000,
}


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_a_payload_over_its_budget_fails_alone(detector, name: str) -> None:  # type: ignore[no-untyped-def]
    text = PATHOLOGICAL[name]()
    normal = ["Hi, I am Maria Garcia, mail me at maria@example.com", "nothing to see"]
    started = time.perf_counter()
    bad, good = detector.analyze_groups([[text], normal], [0.5, 0.5])
    took = time.perf_counter() - started
    assert isinstance(bad, str) and "budget" in bad
    assert isinstance(good, list)
    assert {f.entity for f in good[0]} >= {"PERSON", "EMAIL_ADDRESS"}
    assert took < 1.5  # the budget (0.5 s) plus one bounded step, not the payload's full cost


def test_an_over_budget_regex_fails_closed(detector) -> None:  # type: ignore[no-untyped-def]
    """A Presidio regex that runs past the budget raises (Presidio itself would skip the pattern)."""
    from presidio_analyzer import Pattern, PatternRecognizer
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    from recognizers.engine import Budget, OverBudget, _BoundedRegex

    slow = EmailRecognizer.PATTERNS[0].regex  # quadratic on this text (minutes, unbounded)
    rec = PatternRecognizer(supported_entity="X", patterns=[Pattern("slow", slow, 0.9)])
    clock = detector.clock
    rec.patterns[0].compiled_regex = _BoundedRegex(regex.compile(slow, rec.global_regex_flags), clock)
    rec.patterns[0].compiled_with_flags = rec.global_regex_flags
    clock.budget = Budget(0.2)
    try:
        started = time.perf_counter()
        with pytest.raises(OverBudget):
            rec.analyze("x." * 50_000 + "@example.com", entities=["X"])
        assert time.perf_counter() - started < 2.0
    finally:
        clock.budget = None


# ---- the service: an over-budget answer goes to its caller only ----------------------------------
class GroupBackend:
    on_state = None
    ready = True

    def __init__(self) -> None:
        self.budgets: list[list[float | None]] = []

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def run(self, texts: list[str]) -> list[list[Finding]]:
        raise AssertionError("run_groups is used")

    async def run_groups(self, groups: list[list[str]], budgets: list[float | None]) -> list[object]:
        self.budgets.append(budgets)
        await asyncio.sleep(0.01)
        return [
            DetectionTimeout("over budget") if "slow" in g else [[Finding(0, 1, "ECHO", 1.0, t)] for t in g]
            for g in groups
        ]


async def test_the_service_fails_only_the_over_budget_caller() -> None:
    backend = GroupBackend()
    svc = DetectionService(backend, deadline=2.0, budget=0.5)  # type: ignore[arg-type]
    await svc.start()
    try:
        results = await asyncio.gather(
            svc.analyze(["a"]), svc.analyze(["slow"]), svc.analyze(["b", "c"]), return_exceptions=True
        )
        assert isinstance(results[1], DetectionTimeout)
        assert [f.recognizer for r in (results[0], results[2]) for found in r for f in found] == ["a", "b", "c"]  # type: ignore[union-attr]
        assert all(b is not None and 0 < b <= 0.5 for bs in backend.budgets for b in bs)
    finally:
        await svc.close()
