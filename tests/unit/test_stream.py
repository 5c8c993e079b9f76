"""Stream framers and the boundary-safe text stream: any split of a stream gives the same output."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.config import Destination
from proxy.errors import PayloadError, TooLarge
from proxy.policy import Policy
from proxy.redaction.stream import LineFramer, SseEvent, SseFramer, TextStream, safe_cut
from recognizers.types import Finding

PII = ["Maria Garcia", "maria.garcia@example.com", "4111 1111 1111 1111", "Jean-Luc Picard", "203.0.113.57"]
PII_RX = re.compile("|".join(re.escape(v) for v in PII))


def fake_findings(text: str) -> list[Finding]:
    return [Finding(m.start(), m.end(), "PII", 0.9, "fake") for m in PII_RX.finditer(text)]


def splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, last = [], 0
    for p in points:
        out.append(data[last:p])
        last = p
    out.append(data[last:])
    return out


NDJSON = b'{"a": 1}\n{"text": "Maria Garcia"}\r\n\n{"b": "\xc3\xa9"}\n{"tail": true}'


@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_line_framer_any_split(cuts: list[int]) -> None:
    framer = LineFramer(1024)
    got: list[bytes] = []
    for piece in splits(NDJSON, cuts):
        got.extend(framer.feed(piece))
    tail = framer.flush()
    if tail is not None:
        got.append(tail)
    assert got == [b'{"a": 1}', b'{"text": "Maria Garcia"}', b"", b'{"b": "\xc3\xa9"}', b'{"tail": true}']


def test_line_framer_limit_before_newline() -> None:
    framer = LineFramer(10)
    assert framer.feed(b"0123456789\n") == [b"0123456789"]
    with pytest.raises(TooLarge) as info:
        framer.feed(b"0123456789A")
    assert "line 2" in str(info.value)


SSE = b': keepalive\n\nretry: 1000\n\nevent: msg\nid: 7\ndata: {"text": "hi Maria Garcia"}\n\ndata: a\ndata: b\n\n'


@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_sse_framer_any_split(cuts: list[int]) -> None:
    framer = SseFramer(1024)
    got: list[list[bytes]] = []
    for piece in splits(SSE, cuts):
        got.extend(framer.feed(piece))
    got.extend(framer.flush())
    assert got == [
        [b": keepalive"],
        [b"retry: 1000"],
        [b"event: msg", b"id: 7", b'data: {"text": "hi Maria Garcia"}'],
        [b"data: a", b"data: b"],
    ]


def test_sse_event_render_default_deny_for_other_lines() -> None:
    ev = SseEvent([b"event: msg", b"id: 7", b"data: a", b": note Maria", b"data: b", b"x-extra: Maria"])
    assert ev.data == b"a\nb"
    assert ev.fields == [(0, b"msg"), (1, b"7")]
    # id/event values as scanned; a comment keeps its meaning, not its text; unknown fields dropped
    assert ev.render("x\ny", {0: "msg", 1: "<ID>"}) == b"event: msg\nid: <ID>\ndata: x\ndata: y\n:\n\n"
    assert ev.render("x") == b"data: x\n:\n\n"  # values nobody scanned never pass
    assert SseEvent([b"retry: 10"]).render(None) == b"retry: 10\n\n"
    assert SseEvent([b"retry: 10 Maria"]).render(None) == b"\n\n"


def test_sse_event_too_large() -> None:
    framer = SseFramer(20)
    with pytest.raises(TooLarge):
        framer.feed(b"data: 0123456789\ndata: 0123456789\n")


def test_safe_cut() -> None:
    text = "hello there Maria Garcia and more text here"
    spans = [(12, 24)]
    # the last whitespace before len-holdback, moved left of any finding crossing it
    assert safe_cut(text, spans, holdback=21) == 12
    assert safe_cut(text, spans, holdback=5) == 34
    assert safe_cut("nowhitespace", [], holdback=2) == 0
    assert safe_cut("short", [], holdback=10) == 0


TEXT = (
    "Hello, this is Maria Garcia writing. My card is 4111 1111 1111 1111 and my mail is "
    "maria.garcia@example.com; our captain Jean-Luc Picard logged in from 203.0.113.57. "
) * 3


def stream_redact(pieces: list[bytes], window: int) -> str:
    policy = Policy("d", Destination(), None)
    ts = TextStream(window=window, max_held=4096, holdback=32)
    out = []
    for i, piece in enumerate(pieces):
        final = i == len(pieces) - 1
        ts.feed(piece, final=final)
        while ts.ready(final=final):
            prefix, inside = ts.take(fake_findings(ts.buf), final=final)
            if not prefix:
                break
            red, _ = policy.redact_text(prefix, inside, "body")
            out.append(red)
    assert ts.buf == ""
    return "".join(out)


@settings(max_examples=200)
@given(
    st.lists(st.integers(min_value=0, max_value=100_000), max_size=30),
    st.integers(min_value=40, max_value=200),
)
def test_text_stream_any_split_same_output_and_no_leak(cuts: list[int], window: int) -> None:
    data = TEXT.encode("utf-8")
    whole = stream_redact([data], window)
    split = stream_redact(splits(data, cuts), window)
    assert split == whole
    for value in PII:
        assert value not in split
    assert split.count("<PII>") == 15


def test_text_stream_multibyte_split() -> None:
    data = "Grüße, Maria Garcia".encode()
    pieces = [data[:3], data[3:]]  # splits the two bytes of ü
    assert stream_redact(pieces, 40) == "Grüße, <PII>"


def test_text_stream_invalid_utf8() -> None:
    ts = TextStream(window=10, max_held=100)
    with pytest.raises(PayloadError):
        ts.feed(b"\xff\xfe", final=True)


def test_text_stream_holds_at_most_max() -> None:
    ts = TextStream(window=8, max_held=64, holdback=4)
    ts.feed(b"x" * 65)
    with pytest.raises(TooLarge):
        ts.take([])
