"""The redaction core in-process, the mitmproxy way: a fake detector, chunks in, bytes out; no
sockets, no spaCy. The end-to-end tests with real servers are in tests/integration."""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.config import Destination
from proxy.errors import PayloadError, TooLarge, UnsupportedContent
from proxy.policy import Policy
from proxy.redaction import ContentDecoder, Limits, Redaction, decode_body, run
from proxy.redaction.stream import Passthrough
from recognizers.types import Finding
from tests.helpers import drive

PII_RX = re.compile(r"Maria Garcia|maria\.garcia@example\.com|4111 1111 1111 1111")


class FakeDetect:
    """Finds the PII above; counts its calls (one per payload is the contract)."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def __call__(self, texts: list[str]) -> list[list[Finding]]:
        self.calls.append(list(texts))
        return [[Finding(m.start(), m.end(), "PII", 0.9, "fake") for m in PII_RX.finditer(t)] for t in texts]


def redaction(directions: tuple[str, ...] = ("request",), **kw: object) -> Redaction:
    dest = Destination.model_validate({"directions": directions, "default_field": "scan", **kw})
    return Redaction(Policy("d", dest, b"k"), Limits(max_message_bytes=256, stream_window_bytes=64))


def splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


# ---- requests ---------------------------------------------------------------------------------
def test_request_query_headers_and_body_in_one_detection_call() -> None:
    red = redaction()
    detect = FakeDetect()
    plan = red.plan_request(
        query=[("q", "from Maria Garcia")],
        headers=[("Referer", "http://x/?m=maria.garcia@example.com")],
        ctype="application/json",
        charset=None,
        body=b'{"text": "card 4111 1111 1111 1111", "n": 1}',
    )
    parts, events = asyncio.run(run(plan, detect))
    assert len(detect.calls) == 1  # values, keys the config does not name, and the number: one call
    assert {"from Maria Garcia", "card 4111 1111 1111 1111", "q", "text", "n"} <= set(detect.calls[0])
    assert "1" not in detect.calls[0]  # a number of under five digits is no identifier
    assert parts.query == [("q", "from <PII>")]
    assert parts.headers == [("Referer", "http://x/?m=<PII>")]
    assert json.loads(parts.body or b"") == {"text": "card <PII>", "n": 1}
    # keys the config does not name never reach audit records
    assert sorted(e.path for e in events) == ["*", "header.referer", "query.*"]


def test_text_body_is_forwarded_as_utf8() -> None:
    red = redaction()
    plan = red.plan_request(
        query=[], headers=[], ctype="text/plain", charset="latin-1", body="Grüße Maria Garcia".encode("latin-1")
    )
    parts, _ = asyncio.run(run(plan, FakeDetect()))
    assert parts.body == "Grüße <PII>".encode()
    assert parts.content_type == "text/plain; charset=utf-8"


def test_a_direction_not_redacted_passes_everything_unchanged() -> None:
    red = redaction(directions=("response",))
    detect = FakeDetect()
    body = b'{"text": "Maria Garcia"}'
    plan = red.plan_request(
        query=[("q", "Maria Garcia")],
        headers=[("Referer", "Maria Garcia")],
        ctype="application/json",
        charset=None,
        body=body,
    )
    parts, events = asyncio.run(run(plan, detect))
    assert (parts.query, parts.headers, parts.body, events, detect.calls) == (
        [("q", "Maria Garcia")], [("Referer", "Maria Garcia")], body, [], []
    )  # fmt: skip
    nd = b'{"text": "Maria Garcia"}\nnot json at all\n'
    assert isinstance(red.stream("application/x-ndjson", "request", detect, lambda e: None), Passthrough)
    assert drive(red.stream("application/x-ndjson", "request", detect, lambda e: None), [nd[:7], nd[7:]]) == nd
    assert drive(red.messages("request", detect, lambda e: None), [b"Maria Garcia"]) == b"Maria Garcia"
    assert red.passes_binary("request", True) and not red.passes_binary("response", True)
    assert detect.calls == []


def test_modes() -> None:
    red = redaction(directions=("request", "response"))
    assert red.request_mode("application/x-ndjson") == "stream"
    assert red.request_mode("application/json") == "buffer"
    assert red.response_mode("text/event-stream", True) == "stream"
    assert red.response_mode("text/plain", False) == "stream"
    assert red.response_mode("text/plain", True) == "buffer"
    assert redaction().response_mode("text/event-stream", False) == "relay"
    assert redaction().accept_encoding() is None and red.accept_encoding() == "gzip, deflate"


def test_unredactable_content_type() -> None:
    with pytest.raises(UnsupportedContent):
        redaction().plan_body("application/octet-stream", None, b"x")


# ---- stream redactors -------------------------------------------------------------------------
NDJSON = b'{"text": "hi Maria Garcia"}\n\n{"text": "ok"}\r\n{"text": "maria.garcia@example.com"}'


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=200), max_size=6))
def test_ndjson_any_split_gives_the_same_bytes(cuts: list[int]) -> None:
    red = redaction()
    messages: list[int] = []
    out = drive(
        red.stream("application/x-ndjson", "request", FakeDetect(), lambda e: messages.append(len(e))),
        splits(NDJSON, cuts),
    )
    assert out == b'{"text":"hi <PII>"}\n\n{"text":"ok"}\n{"text":"<PII>"}\n'
    assert messages == [1, 0, 1]


def test_ndjson_bad_line_carries_the_lines_before_it() -> None:
    red = redaction()
    s = red.stream("application/x-ndjson", "request", FakeDetect(), lambda e: None)
    data = b'{"text": "Maria Garcia"}\n{"text": "maria.garcia@example.com"\n{"text": "after"}\n'
    with pytest.raises(PayloadError) as info:
        asyncio.run(s.feed(data))
    assert info.value.partial == b'{"text":"<PII>"}\n'
    assert str(info.value).startswith("line 2: ") and "maria" not in str(info.value)


def test_ndjson_line_over_the_limit() -> None:
    s = redaction().stream("application/x-ndjson", "request", FakeDetect(), lambda e: None)
    with pytest.raises(TooLarge):
        asyncio.run(s.feed(b"x" * 300))


def test_sse_events_redacted_comments_kept() -> None:
    red = redaction(directions=("response",))
    sse = b': ping\n\nevent: m\nid: 1\ndata: {"text": "Maria Garcia"}\n\ndata: mail maria.garcia@example.com\n\n'
    for cut in (1, 10, 30, len(sse)):
        out = drive(red.stream("text/event-stream", "response", FakeDetect(), lambda e: None), [sse[:cut], sse[cut:]])
        assert out == b':\n\nevent: m\nid: 1\ndata: {"text":"<PII>"}\n\ndata: mail <PII>\n\n'


def test_sse_invalid_utf8_event() -> None:
    s = redaction(directions=("response",)).stream("text/event-stream", "response", FakeDetect(), lambda e: None)
    with pytest.raises(PayloadError) as info:
        asyncio.run(s.feed(b"data: Maria Garcia\n\ndata: \xff\n\n"))
    assert info.value.partial == b"data: <PII>\n\n"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2000), max_size=8))
def test_text_stream_any_split(cuts: list[int]) -> None:
    body = ("filler words here. " * 20 + "Then Maria Garcia wrote from maria.garcia@example.com. ") * 3
    s = redaction(directions=("response",)).stream("text/plain", "response", FakeDetect(), lambda e: None)
    out = drive(s, splits(body.encode(), cuts))
    assert out.decode() == PII_RX.sub("<PII>", body)


def test_websocket_messages_follow_the_field_rules() -> None:
    red = redaction(fields={"conversation_id": "keep", "text": "scan"}, default_field="drop")
    m = red.messages("request", FakeDetect(), lambda e: None)
    out = asyncio.run(m.feed(b'{"conversation_id": "Maria Garcia", "text": "Maria Garcia", "x": 1}'))
    assert json.loads(out) == {"conversation_id": "Maria Garcia", "text": "<PII>"}
    assert asyncio.run(m.feed(b"plain Maria Garcia")) == b"plain <PII>"


# ---- content decoder --------------------------------------------------------------------------
def test_decoder_gzip_in_pieces() -> None:
    data = b'{"text": "x"}\n' * 500
    z = gzip.compress(data)
    dec = ContentDecoder("gzip")
    out = b"".join(dec.decode(z[i : i + 97]) for i in range(0, len(z), 97)) + dec.flush()
    assert out == data


def test_decoder_refuses_truncated_and_corrupt_bodies() -> None:
    z = gzip.compress(b"hello " * 1000)
    dec = ContentDecoder("gzip")
    dec.decode(z[: len(z) // 2])
    with pytest.raises(PayloadError, match="truncated gzip"):
        dec.flush()
    with pytest.raises(PayloadError, match="corrupt"):
        ContentDecoder("deflate").decode(b"not deflate at all")


def test_decoder_bounds_the_decoded_size() -> None:
    bomb = zlib.compress(b"\n" * 1_000_000)
    with pytest.raises(TooLarge):
        decode_body(bomb, "deflate", 10_000)
    with pytest.raises(UnsupportedContent):
        ContentDecoder("br")
    assert decode_body(b"plain", "identity", 10) == b"plain"


# ---- side doors of JSON (numbers, keys, keep, depth) and the audit's field names ------------------
CHAT = {"fields": {"conversation_id": "keep", "text": "scan", "survey.age": "age_band"}, "default_field": "drop"}


def redact_json(value: object, **dest: object) -> tuple[object, list[dict[str, object]]]:
    red = redaction(**(dest or CHAT))
    out, events = asyncio.run(run(red.plan_line(json.dumps(value).encode()), FakeDetect()))
    return json.loads(out), [e.as_dict() for e in events]


def test_json_numbers_are_scanned_and_stay_numbers_when_clean() -> None:
    out, _ = redact_json({"text": [4111111111111111, 42, 1.5, True, None]})
    assert out == {"text": [4111111111111111, 42, 1.5, True, None]}  # the fake finds spaced cards only
    FakeDetect_rx = re.compile(r"4111111111111111")
    red = redaction(**CHAT)

    async def detect(texts: list[str]) -> list[list[Finding]]:
        return [
            [Finding(m.start(), m.end(), "CREDIT_CARD", 0.9, "f") for m in FakeDetect_rx.finditer(t)] for t in texts
        ]

    got, _ = asyncio.run(run(red.plan_line(b'{"text": 4111111111111111}'), detect))
    assert json.loads(got) == {"text": "<CREDIT_CARD>"}
    got, _ = asyncio.run(run(red.plan_line(b"4111111111111111"), detect))  # a top-level number
    assert json.loads(got) == "<CREDIT_CARD>"


def test_keys_under_scan_are_scanned_and_never_audited_raw() -> None:
    out, events = redact_json({"text": {"maria.garcia@example.com": "x", "Maria Garcia": "y", "ok": "z"}})
    assert out == {"text": {"<PII>": "x", "<PII>#2": "y", "ok": "z"}}
    assert all("maria" not in str(e).lower() for e in events)


def test_known_keys_stay_and_clean_keys_are_scanned_once() -> None:
    red = redaction(fields={"user_agent": "keep"}, default_field="scan")
    detect = FakeDetect()
    for _ in range(3):
        asyncio.run(run(red.plan_line(b'{"user_agent": "x", "level": "info"}'), detect))
    assert detect.calls[0] == ["info", "level"]  # user_agent is the config's (and kept): never scanned
    assert detect.calls[1] == ["info"]  # "level" had no finding: remembered, not scanned again


def test_keep_takes_scalars_a_kept_structure_is_scanned() -> None:
    out, events = redact_json(
        {"conversation_id": {"email": "maria.garcia@example.com", "n": "Maria Garcia"}, "text": "hi"}
    )
    assert out == {"conversation_id": {"email": "<PII>", "n": "<PII>"}, "text": "hi"}
    assert {"field": "conversation_id", "operator": "scan", "reason": "keep takes scalars"} in events
    out, _ = redact_json({"conversation_id": "c-42", "text": "hi"})
    assert out == {"conversation_id": "c-42", "text": "hi"}


def test_deep_json_is_a_payload_error_not_a_crash() -> None:
    deep = b'{"text": ' + b"[" * 900 + b"]" * 900 + b"}"
    with pytest.raises(PayloadError, match="nested deeper than 64"):
        redaction(**CHAT).plan_line(deep)
    very = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(PayloadError):
        redaction(**CHAT).plan_line(very)
    ok = b'{"text": ' + b"[" * 60 + b'"x"' + b"]" * 60 + b"}"
    redaction(**CHAT).plan_line(ok)


def test_query_and_form_keys_are_scanned() -> None:
    red = redaction(**CHAT)
    plan = red.plan_request(
        query=[("maria.garcia@example.com", "1")], headers=[], ctype="application/x-www-form-urlencoded",
        charset=None, body=b"text=hi&Maria+Garcia=1",
    )  # fmt: skip
    parts, events = asyncio.run(run(plan, FakeDetect()))
    assert parts.query == [("<PII>", "1")]
    assert parts.body == b"text=hi"  # the unnamed form key is dropped by default deny ...
    assert all("maria" not in str(e.as_dict()).lower() for e in events)  # ... and audited as "*"


def test_path_segments_after_the_prefix_are_scanned() -> None:
    red = redaction(**CHAT)
    detect = FakeDetect()
    plan = red.plan_request(
        path="/users/maria.garcia@example.com/m", query=[], headers=[], ctype="", charset=None, body=None
    )
    parts, events = asyncio.run(run(plan, detect))
    assert parts.path == "/users/<PII>/m"
    assert [e.path for e in events] == ["path"]
    asyncio.run(
        run(red.plan_request(path="/users/x/m", query=[], headers=[], ctype="", charset=None, body=None), detect)
    )
    assert detect.calls[-1] == ["x"]  # "users" and "m" were clean: remembered
    assert (
        redaction(directions=("response",))
        .plan_request(path="/a/Maria Garcia", query=[], headers=[], ctype="", charset=None, body=None)
        .texts
        == []
    )
