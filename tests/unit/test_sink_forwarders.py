"""Forwarders against real servers and files on this machine (no mocks)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from aiohttp import web

from proxy.config import FileSink, HttpSink, SyslogSink
from proxy.sinks import syslog
from proxy.sinks.forwarders import (
    FileForwarder,
    HttpForwarder,
    SyslogForwarder,
    classify_status,
    parse_retry_after,
)
from proxy.sinks.records import encode_record
from proxy.sinks.spool import Row
from tests.helpers import free_port


def rows(*ns: int, pad: int = 0) -> list[Row]:
    return [Row(n, 1_700_000_000.0 + n, encode_record({"n": n, "pad": "x" * pad}, f"id-{n}")) for n in ns]


@pytest.fixture
def executor() -> ThreadPoolExecutor:
    ex = ThreadPoolExecutor(1)
    yield ex  # type: ignore[misc]
    ex.shutdown(wait=True)


# ---- file -------------------------------------------------------------------------------------
def lines(path: Path) -> list[int]:
    return [json.loads(line)["n"] for line in path.read_text().splitlines()] if path.exists() else []


async def test_file_appends_in_order(tmp_path: Path, executor: ThreadPoolExecutor) -> None:
    fw = FileForwarder(FileSink(path=str(tmp_path / "sub" / "out.ndjson")), executor)
    assert (await fw.send(rows(1, 2))).kind == "delivered"
    assert (await fw.send(rows(3))).kind == "delivered"
    await fw.close()
    assert lines(tmp_path / "sub" / "out.ndjson") == [1, 2, 3]
    assert json.loads((tmp_path / "sub" / "out.ndjson").read_text().splitlines()[0])["_record_id"] == "id-1"


async def test_file_rotates_by_size_and_keeps_n(tmp_path: Path, executor: ThreadPoolExecutor) -> None:
    path = tmp_path / "out.ndjson"
    one = len(rows(1, pad=40)[0].body) + 1
    fw = FileForwarder(FileSink(path=str(path), rotate_bytes=2 * one, keep=2), executor)
    for n in range(1, 8):
        assert (await fw.send(rows(n, pad=40))).kind == "delivered"
    await fw.close()
    assert lines(path) == [7]
    assert lines(Path(f"{path}.1")) == [5, 6]
    assert lines(Path(f"{path}.2")) == [3, 4]
    assert not Path(f"{path}.3").exists()


async def test_file_rotation_with_keep_zero(tmp_path: Path, executor: ThreadPoolExecutor) -> None:
    path = tmp_path / "out.ndjson"
    fw = FileForwarder(FileSink(path=str(path), rotate_bytes=10, keep=0), executor)
    for n in range(1, 4):
        await fw.send(rows(n))
    await fw.close()
    assert lines(path) == [3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.ndjson"]


async def test_file_reopened_after_external_rotation(tmp_path: Path, executor: ThreadPoolExecutor) -> None:
    path = tmp_path / "out.ndjson"
    fw = FileForwarder(FileSink(path=str(path)), executor)
    await fw.send(rows(1))
    path.rename(tmp_path / "old.ndjson")  # logrotate
    await fw.send(rows(2))
    await fw.close()
    assert lines(tmp_path / "old.ndjson") == [1]
    assert lines(path) == [2]


async def test_file_repairs_a_line_cut_by_a_crash(tmp_path: Path, executor: ThreadPoolExecutor) -> None:
    path = tmp_path / "out.ndjson"
    path.write_bytes(rows(1)[0].body[:7])
    fw = FileForwarder(FileSink(path=str(path)), executor)
    await fw.send(rows(1, 2))
    await fw.close()
    r1, r2 = rows(1, 2)
    assert path.read_bytes() == r1.body[:7] + b"\n" + r1.body + b"\n" + r2.body + b"\n"


async def test_file_error_is_a_retry(tmp_path: Path, executor: ThreadPoolExecutor) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    fw = FileForwarder(FileSink(path=str(blocker / "out.ndjson")), executor)
    out = await fw.send(rows(1))
    await fw.close()
    assert out.kind == "retry" and out.reason.startswith("file ")


# ---- HTTP -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "kind"),
    [(200, "delivered"), (204, "delivered"), (408, "retry"), (429, "retry"), (500, "retry"), (503, "retry"),
     (302, "retry"), (400, "rejected"), (401, "rejected"), (404, "rejected"), (413, "rejected"), (422, "rejected")],
)  # fmt: skip
def test_http_status_classes(status: int, kind: str) -> None:
    assert classify_status(status) == kind


def test_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("-1") is None


@contextlib.asynccontextmanager
async def http_sink(
    answer: Callable[[bytes], web.StreamResponse | None], port: int = 0
) -> AsyncIterator[tuple[str, list[bytes]]]:
    got: list[bytes] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        got.append(body)
        assert request.content_type == "application/x-ndjson"
        resp = answer(body)
        if asyncio.iscoroutine(resp):
            resp = await resp
        return resp or web.Response(status=200)

    app = web.Application()
    app.router.add_post("/ingest", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = port or free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/ingest", got
    finally:
        await runner.cleanup()


async def test_http_posts_ndjson_batches() -> None:
    async with http_sink(lambda b: None) as (url, got):
        fw = HttpForwarder(HttpSink(url=url))
        assert (await fw.send(rows(1, 2, 3))).kind == "delivered"
        await fw.close()
    assert got == [b"".join(r.body + b"\n" for r in rows(1, 2, 3))]


async def test_http_outcomes() -> None:
    answers = iter(
        [
            web.Response(status=503, headers={"Retry-After": "2"}),
            web.Response(status=429),
            web.Response(status=400),
            web.Response(status=302, headers={"Location": "/elsewhere"}),
        ]
    )
    async with http_sink(lambda b: next(answers)) as (url, _):
        fw = HttpForwarder(HttpSink(url=url))
        first = await fw.send(rows(1))
        assert (first.kind, first.reason, first.retry_after) == ("retry", "http 503", 2.0)
        assert (await fw.send(rows(1))).kind == "retry"
        assert (await fw.send(rows(1))).kind == "rejected"
        assert (await fw.send(rows(1))).kind == "retry"
        await fw.close()


async def test_http_connection_refused_and_timeout_are_retries() -> None:
    fw = HttpForwarder(HttpSink(url=f"http://127.0.0.1:{free_port()}/x", timeout=1))
    out = await fw.send(rows(1))
    assert (out.kind, out.reason) == ("retry", "connection")
    await fw.close()

    async def slow(_: bytes) -> web.Response:
        await asyncio.sleep(1)
        return web.Response()

    async with http_sink(slow) as (url, _):  # type: ignore[arg-type]
        fw = HttpForwarder(HttpSink(url=url, timeout=0.2))
        out = await fw.send(rows(1))
        await fw.close()
    assert (out.kind, out.reason) == ("retry", "timeout")


# ---- syslog -------------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def tcp_collector(port: int) -> AsyncIterator[list[bytes]]:
    received: list[bytes] = []
    conns: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conns.append(writer)
        buf = b""
        while chunk := await reader.read(65536):
            msgs, buf = syslog.unframe(buf + chunk)
            received.extend(msgs)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    try:
        yield received
    finally:
        for w in conns:
            w.close()
        server.close()
        await server.wait_closed()


async def _until(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_syslog_sends_octet_counted_rfc5424_and_reconnects() -> None:
    port = free_port()
    fw = SyslogForwarder(SyslogSink(host="127.0.0.1", port=port, hostname="proxy-host", timeout=2))
    down = await fw.send(rows(1))
    assert (down.kind, down.reason) == ("retry", "connect")
    async with tcp_collector(port) as received:
        assert (await fw.send(rows(1, 2))).kind == "delivered"
        assert (await fw.send(rows(3))).kind == "delivered"
        await _until(lambda: len(received) == 3)
    first = received[0]
    assert first.startswith(b"<134>1 2023-11-14T22:13:21.000000Z proxy-host pii-proxy - - - {")
    assert [json.loads(m.split(b" - - - ", 1)[1])["n"] for m in received] == [1, 2, 3]
    await asyncio.sleep(0.05)  # the collector closed our connection: the next send reconnects
    async with tcp_collector(port) as received2:
        assert (await fw.send(rows(4))).kind == "delivered"
        await _until(lambda: len(received2) == 1)
    await fw.close()
