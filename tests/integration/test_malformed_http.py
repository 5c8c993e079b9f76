"""Malformed HTTP and slow clients against the real proxy, over raw sockets.

A request aiohttp's parser refuses must get our own short JSON 400 (never the parser's message,
which quotes the request), one WARNING naming the error class, and nothing upstream. A connection
that never completes its request head is closed after the header timeout; one over the connection
cap is closed at once. Every exchange is bounded in time, and a failure never shows the canary:
assertions about it compare booleans, messages are scrubbed, helpers that hold raw bytes hide their
frames and raise scrubbed errors, and the upstream is seen through a repr that hides its records
(only ``--showlocals`` would print raw bytes).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from proxy.http.server import HEADER_TIMEOUT, KEEPALIVE_TIMEOUT, MAX_CONNECTIONS, TransportLimits, limits_from_env
from tests.helpers import ProxyProcess, Recorded, Upstream, start_proxy

# The canary: a made-up visitor. Each part is searched for on its own.
NAME, SURNAME, PHONE, EMAIL = "Quillon", "Zebrowski", "415-555-0142", "quillon.z@example.org"
CANARIES = (NAME, SURNAME, PHONE, EMAIL)
BODY = json.dumps({"conversation_id": "c-1", "text": f"I am {NAME} {SURNAME}, call {PHONE} or {EMAIL}"}).encode()
QUERY = f"name={NAME}&phone={PHONE}".encode()

HEADER_TIMEOUT_TEST = 2.0  # the tight proxy's header timeout (s)
MAX_CONNECTIONS_TEST = 40  # the tight proxy's connection cap


def leaks(blob: bytes | str) -> bool:
    data = blob.encode("utf-8", "replace") if isinstance(blob, str) else blob
    low = data.lower()
    return any(c.lower().encode() in low for c in CANARIES)


def scrub(blob: bytes | str, limit: int = 2000) -> str:
    """Printable in an assertion message: every canary part replaced."""
    text = blob.decode("latin-1") if isinstance(blob, bytes) else blob
    for c in CANARIES:
        text = re.sub(re.escape(c), "<CANARY>", text, flags=re.IGNORECASE)
    return text[-limit:]


def head(first: bytes, *headers: bytes, eol: bytes = b"\r\n") -> bytes:
    return eol.join([first, *headers]) + eol + eol


def good_post(path: bytes, body: bytes, *, close: bool = True) -> bytes:
    """A well-formed JSON POST (with ``Connection: close`` unless ``close`` is false)."""
    extra = [b"Connection: close"] if close else []
    return (
        head(b"POST " + path + b" HTTP/1.1", b"Host: x", JSON_CT, *extra, f"Content-Length: {len(body)}".encode())
        + body
    )


def chunked(*lines: bytes) -> bytes:
    return b"\r\n".join(lines) + b"\r\n"


CL = f"Content-Length: {len(BODY)}".encode()
JSON_CT = b"Content-Type: application/json"
VISITOR = f"X-Visitor: {NAME} {SURNAME} {PHONE}".encode()
URL = b"/chat/messages?" + QUERY

# name -> raw bytes; the canary is in the URL, a header and the body of each.
MALFORMED: dict[str, bytes] = {
    "bare_lf_line_endings": head(b"POST " + URL + b" HTTP/1.1", b"Host: x", JSON_CT, VISITOR, CL, eol=b"\n") + BODY,
    "http10_post_without_content_length": head(b"POST " + URL + b" HTTP/1.0", JSON_CT, VISITOR) + BODY,
    "space_in_url": head(f"POST /chat/messages?name={NAME} {SURNAME} HTTP/1.1".encode(), b"Host: x", VISITOR, CL)
    + BODY,
    "non_ascii_byte_in_url": head(
        f"POST /chat/{NAME}-{SURNAME}\xe9-{PHONE} HTTP/1.1".encode("latin-1"), b"Host: x", VISITOR, CL
    )
    + BODY,
    "utf8_in_url": head(f"POST /chat/{NAME}-{SURNAME}\u00e9?{PHONE} HTTP/1.1".encode(), b"Host: x", VISITOR, CL) + BODY,
    "space_in_header_name": head(b"POST " + URL + b" HTTP/1.1", b"Host: x", f"X {NAME}: {PHONE}".encode(), CL) + BODY,
    "control_byte_in_header_name": head(
        b"POST " + URL + b" HTTP/1.1", b"Host: x", f"X-{NAME}\x01: {PHONE}".encode(), CL
    )
    + BODY,
    "bad_chunk_size": head(b"POST " + URL + b" HTTP/1.1", b"Host: x", JSON_CT, VISITOR, b"Transfer-Encoding: chunked")
    + chunked(f"zz {NAME} {SURNAME} {PHONE}".encode(), BODY, b"0", b""),
    "bad_content_length": head(
        b"POST " + URL + b" HTTP/1.1", b"Host: x", JSON_CT, VISITOR, f"Content-Length: 12 {PHONE}".encode()
    )
    + BODY,
    "header_line_too_long": head(b"POST " + URL + b" HTTP/1.1", b"Host: x", VISITOR + b" " + b"x" * 9000, JSON_CT, CL)
    + BODY,
    "bad_method": head(b"PO{ST " + URL + b" HTTP/1.1", b"Host: x", VISITOR, CL) + BODY,
}


class Seen:
    """The recording upstream, with a repr that never shows what it received (pytest prints the
    test's arguments when it fails)."""

    def __init__(self, up: Upstream) -> None:
        self._up = up

    @property
    def received(self) -> list[Recorded]:
        return self._up.received

    def __repr__(self) -> str:
        return f"<upstream: {len(self._up.received)} request(s) received>"


@pytest.fixture
def seen(clean: Upstream) -> Seen:
    return Seen(clean)


@dataclass
class Answer:
    raw: bytes
    status: int
    headers: dict[str, str]
    body: bytes


def parse(raw: bytes) -> Answer:
    top, _, body = raw.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3}) ", lines[0] + " ")
    assert m, f"not an HTTP answer: {scrub(raw[:300])!r}"
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return Answer(raw, int(m.group(1)), headers, body)


async def exchange(port: int, parts: list[bytes], *, pause: float = 0.0, timeout: float = 10.0) -> bytes:
    """Send ``parts`` (``pause`` s apart), then read until the proxy closes the connection."""
    __tracebackhide__ = True
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
        try:
            for i, part in enumerate(parts):
                if i and pause:
                    await asyncio.sleep(pause)
                writer.write(part)
                await writer.drain()
            return await asyncio.wait_for(reader.read(), timeout)
        finally:
            writer.close()
    except (OSError, TimeoutError) as exc:
        raise AssertionError(f"exchange failed: {exc.__class__.__name__}") from None


def log_bytes(p: ProxyProcess) -> bytes:
    return p.log_path.read_bytes()


def check_no_leak(p: ProxyProcess, up: Seen, answer: bytes) -> None:
    __tracebackhide__ = True
    in_answer = leaks(answer)
    assert not in_answer, "the canary is in the answer"
    in_log = leaks(log_bytes(p))
    assert not in_log, "the canary is in the proxy's output"
    in_audit = leaks(json.dumps(p.audit()))
    assert not in_audit, "the canary is in the audit log"
    forwarded = len(up.received)
    assert forwarded == 0, "something reached the upstream"


def check_error_shape(a: Answer, message: str | None = None) -> str:
    """Our JSON error (proxy.http.errors shape); returns its request id."""
    assert a.headers.get("content-type", "").startswith("application/json"), scrub(repr(a.headers))
    doc = json.loads(a.body)
    assert set(doc) == {"error"}, scrub(a.body)
    err = doc["error"]
    assert set(err) == {"status", "code", "message", "request_id"}, scrub(a.body)
    assert err["status"] == a.status
    assert message is None or err["message"] == message, scrub(a.body)
    assert a.headers.get("x-request-id") == err["request_id"]
    return str(err["request_id"])


# ---- malformed requests ------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(MALFORMED), ids=list(MALFORMED))
async def test_malformed_request_gets_our_400_and_nothing_leaks(name: str, proxy: ProxyProcess, seen: Seen) -> None:
    before = len(log_bytes(proxy))
    raw = await exchange(proxy.port, [MALFORMED[name]])
    check_no_leak(proxy, seen, raw)
    a = parse(raw)
    assert 400 <= a.status < 500 and a.status in (400, 413, 431), scrub(raw[:300])
    assert a.headers.get("connection", "").lower() == "close"
    rid = check_error_shape(a, "malformed HTTP request")
    assert a.body and len(a.body) < 300
    # one WARNING naming the error class, at the level WARNING, and no traceback
    await asyncio.sleep(0.1)
    new = log_bytes(proxy)[before:].decode("utf-8", "replace")
    lines = [line for line in new.splitlines() if f"rid={rid}" in line]
    assert len(lines) == 1, scrub(new)
    assert re.search(r" WARNING proxy\.http\.server\[\d+\]: malformed HTTP request rid=\S+: [A-Za-z]+$", lines[0])
    assert "Traceback" not in new and " ERROR " not in new, scrub(new)


async def test_bad_chunk_after_the_head_was_handed_out(proxy: ProxyProcess, seen: Seen) -> None:
    """The head is complete (and handed to the handler) before the broken chunk arrives: the
    handler gets an error instead of waiting forever, and nothing is forwarded."""
    first = head(b"POST " + URL + b" HTTP/1.1", b"Host: x", JSON_CT, VISITOR, b"Transfer-Encoding: chunked")
    rest = chunked(f"zz {NAME} {SURNAME} {PHONE}".encode(), BODY, b"0", b"")
    t0 = time.monotonic()
    raw = await exchange(proxy.port, [first, rest], pause=0.5)
    took = time.monotonic() - t0
    check_no_leak(proxy, seen, raw)
    a = parse(raw)
    assert a.status >= 400, scrub(raw[:300])
    check_error_shape(a)
    assert took < 5


async def test_well_formed_request_still_served(proxy: ProxyProcess, seen: Seen) -> None:
    body = json.dumps({"conversation_id": "c-9"}).encode()
    raw = await exchange(proxy.port, [good_post(b"/chat/ok", body)])
    assert parse(raw).status == 200
    assert [json.loads(r.body) for r in seen.received] == [json.loads(body)]


# ---- slow and too many connections ------------------------------------------------------------
@pytest.fixture(scope="module")
def tight(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    """A proxy with a short header timeout and a small connection cap."""
    workdir = tmp_path_factory.mktemp("tight")
    env = {
        "CHAT_PARTNER_URL": upstream.url,
        "PROXY_HEADER_TIMEOUT": str(HEADER_TIMEOUT_TEST),
        "PROXY_MAX_CONNECTIONS": str(MAX_CONNECTIONS_TEST),
    }
    p = start_proxy(workdir, env=env)
    try:
        yield p
    finally:
        p.stop()


async def trickle(port: int, data: bytes, every: float, limit: float) -> tuple[float, bytes]:
    """Send ``data`` one byte every ``every`` s; return (seconds until the proxy closed, what it sent)."""
    __tracebackhide__ = True
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
    t0 = time.monotonic()
    got = b""

    async def send() -> None:
        for b in data:
            writer.write(bytes([b]))
            await writer.drain()
            await asyncio.sleep(every)
        await asyncio.sleep(limit)

    sender = asyncio.ensure_future(send())
    try:
        got = await asyncio.wait_for(reader.read(), limit)
    except (ConnectionError, TimeoutError):
        pass
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        writer.close()
    return time.monotonic() - t0, got


async def test_slowloris_heads_are_closed_after_the_header_timeout(tight: ProxyProcess, seen: Seen) -> None:
    n = MAX_CONNECTIONS_TEST // 2
    slow_head = b"GET /chat/m?" + QUERY + b" HTTP/1.1\r\nHost: x\r\n" + VISITOR + b"\r\nX-Pad: " + b"a" * 200
    results = await asyncio.wait_for(
        asyncio.gather(*(trickle(tight.port, slow_head, 0.1, HEADER_TIMEOUT_TEST + 6) for _ in range(n))),
        HEADER_TIMEOUT_TEST + 10,
    )
    times = sorted(t for t, _ in results)
    assert times[0] >= HEADER_TIMEOUT_TEST - 0.3, times
    assert times[-1] <= HEADER_TIMEOUT_TEST + 3, times
    assert all(got == b"" for _, got in results), "a slow head got an answer"
    check_no_leak(tight, seen, b"")


async def test_idle_connection_is_closed_after_the_header_timeout(tight: ProxyProcess) -> None:
    took, got = await trickle(tight.port, b"", 0.1, HEADER_TIMEOUT_TEST + 6)
    assert HEADER_TIMEOUT_TEST - 0.3 <= took <= HEADER_TIMEOUT_TEST + 3
    assert got == b""


async def test_slow_body_after_a_complete_head_is_not_cut(tight: ProxyProcess, seen: Seen) -> None:
    body = json.dumps({"conversation_id": "c-slow"}).encode()
    first = good_post(b"/chat/slow", body)[: -len(body)]  # the head alone
    pause = (HEADER_TIMEOUT_TEST + 1) / len(body)  # the body takes longer than the header timeout
    raw = await exchange(tight.port, [first, *(bytes([b]) for b in body)], pause=pause, timeout=20)
    assert parse(raw).status == 200, scrub(raw[:300])
    assert [json.loads(r.body) for r in seen.received] == [json.loads(body)]


async def test_keepalive_idle_longer_than_the_header_timeout(tight: ProxyProcess, seen: Seen) -> None:
    body = json.dumps({"conversation_id": "c-ka"}).encode()
    req = good_post(b"/chat/ka", body, close=False)
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", tight.port), 5)
    try:
        for _ in range(2):
            writer.write(req)
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), 10)
            assert status.startswith(b"HTTP/1.1 200 "), scrub(status)
            hdrs = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            length = int(re.search(rb"(?i)content-length: *(\d+)", hdrs).group(1))  # type: ignore[union-attr]
            await asyncio.wait_for(reader.readexactly(length), 10)
            await asyncio.sleep(HEADER_TIMEOUT_TEST + 0.5)  # idle, kept alive: not a slow head
    finally:
        writer.close()
    assert len(seen.received) == 2


async def test_connections_over_the_cap_are_closed_at_once(tight: ProxyProcess, seen: Seen) -> None:
    await asyncio.sleep(HEADER_TIMEOUT_TEST + 0.5)  # earlier tests' connections are gone
    opened = [
        await asyncio.wait_for(asyncio.open_connection("127.0.0.1", tight.port), 5) for _ in range(MAX_CONNECTIONS_TEST)
    ]
    try:
        await asyncio.sleep(0.3)  # accepted by the worker
        t0 = time.monotonic()
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", tight.port), 5)
        got: bytes | None
        try:
            got = await asyncio.wait_for(reader.read(), HEADER_TIMEOUT_TEST)
        except ConnectionError:
            got = b""
        except TimeoutError:
            got = None
        finally:
            writer.close()
        assert got == b"", "the connection over the cap was not closed"
        assert time.monotonic() - t0 < HEADER_TIMEOUT_TEST - 0.5  # at once, not by the header timeout
    finally:
        for _, w in opened:
            w.close()
    # the cap is per open connection: once they are gone, a new one is served
    await asyncio.sleep(0.5)
    body = json.dumps({"conversation_id": "c-cap"}).encode()
    raw = await exchange(tight.port, [good_post(b"/chat/cap", body)])
    assert parse(raw).status == 200
    assert "closed at once: more than" in tight.log()


# ---- limits from the environment ------------------------------------------------------------
def test_limits_defaults_and_environment() -> None:
    assert limits_from_env({}) == TransportLimits(HEADER_TIMEOUT, KEEPALIVE_TIMEOUT, MAX_CONNECTIONS)
    got = limits_from_env({"PROXY_HEADER_TIMEOUT": "1.5", "PROXY_KEEPALIVE_TIMEOUT": "0", "PROXY_MAX_CONNECTIONS": "7"})
    assert got == TransportLimits(1.5, 0.0, 7)
    with pytest.raises(ValueError, match="PROXY_HEADER_TIMEOUT must be a number"):
        limits_from_env({"PROXY_HEADER_TIMEOUT": "ten"})
    with pytest.raises(ValueError):
        limits_from_env({"PROXY_MAX_CONNECTIONS": "0"})
