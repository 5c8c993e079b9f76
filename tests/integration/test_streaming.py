"""Streamed responses for real: SSE, NDJSON and chunked text flow through event by event."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.helpers import ProxyProcess, serve_app, start_proxy
from tests.integration.conftest import make_config

GAP = 0.2


class Streamer:
    """An upstream that streams, noting when it sent each piece."""

    def __init__(self) -> None:
        self.sent_at: list[float] = []
        self.url = ""

    async def sse(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        self.sent_at.clear()
        events = [
            b": keepalive\n\n",
            b"retry: 1500\n\n",
            b'event: message\nid: 1\ndata: {"conversation_id": "c", "text": "agent Maria Garcia here"}\n\n',
            b"data: mail maria.garcia@example.com\n\n",
        ]
        for ev in events:
            self.sent_at.append(time.monotonic())
            await resp.write(ev)
            await asyncio.sleep(GAP)
        return resp

    async def ndjson(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await resp.prepare(request)
        await resp.write(b'{"conversation_id": "c", "text": "hi Maria')
        await asyncio.sleep(0.05)
        await resp.write(b' Garcia"}\n{"text": "ok"}\n')
        if request.query.get("bad"):
            await resp.write(b'{"text": "maria.garcia@example.com"\n')
        return resp

    async def text(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        body = ("filler words here. " * 300 + "Then Maria Garcia wrote from maria.garcia@example.com. ") * 3
        data = body.encode()
        for i in range(0, len(data), 997):  # chunks that split names and emails
            await resp.write(data[i : i + 997])
        return resp


@pytest.fixture(scope="module")
async def streamer() -> Any:
    s = Streamer()
    app = web.Application()
    app.router.add_get("/sse", s.sse)
    app.router.add_get("/ndjson", s.ndjson)
    app.router.add_get("/text", s.text)
    async with serve_app(app) as s.url:
        yield s


@pytest.fixture(scope="module")
def both_ways(streamer: Streamer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    tmp = tmp_path_factory.mktemp("both")

    def edit(d: dict[str, Any]) -> None:
        d["destinations"]["chat_partner"]["directions"] = ["request", "response"]

    p = start_proxy(tmp, config=make_config(tmp / "cfg", edit), env={"CHAT_PARTNER_URL": streamer.url})
    yield p
    p.stop()


async def read_events(resp: aiohttp.ClientResponse) -> list[tuple[float, bytes]]:
    got: list[tuple[float, bytes]] = []
    buf = b""
    async for chunk in resp.content.iter_any():
        buf += chunk
        while b"\n\n" in buf:
            ev, buf = buf.split(b"\n\n", 1)
            got.append((time.monotonic(), ev))
    return got


async def test_sse_redacted_event_by_event(both_ways: ProxyProcess, streamer: Streamer) -> None:
    async with aiohttp.ClientSession() as s:
        resp = await s.get(both_ways.url + "/chat/sse")
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        events = await read_events(resp)
    bodies = [e for _, e in events]
    assert bodies == [
        b":",  # a comment keeps its meaning (keep-alive), never its text
        b"retry: 1500",
        b'event: message\nid: 1\ndata: {"conversation_id":"c","text":"agent <PERSON> here"}',
        b"data: mail <EMAIL_ADDRESS>",
    ]
    # the first redacted data event reached us before the upstream sent the next one
    assert events[2][0] < streamer.sent_at[3]


async def test_sse_passthrough_streams_too(proxy: ProxyProcess, streamer: Streamer) -> None:
    # the shipped policy does not redact answers: they are relayed as they come
    p = start_proxy(proxy.workdir / "pt", env={"CHAT_PARTNER_URL": streamer.url})
    try:
        async with aiohttp.ClientSession() as s:
            resp = await s.get(p.url + "/chat/sse")
            events = await read_events(resp)
        assert len(events) == 4
        assert events[2][0] < streamer.sent_at[3]
    finally:
        p.stop()


async def test_ndjson_response_redacted_line_by_line(both_ways: ProxyProcess) -> None:
    async with aiohttp.ClientSession() as s:
        resp = await s.get(both_ways.url + "/chat/ndjson")
        body = await resp.read()
    lines = body.decode().splitlines()
    assert [json.loads(x) for x in lines] == [{"conversation_id": "c", "text": "hi <PERSON>"}, {"text": "ok"}]


async def test_ndjson_response_cut_at_bad_line(both_ways: ProxyProcess) -> None:
    async with aiohttp.ClientSession() as s:
        resp = await s.get(both_ways.url + "/chat/ndjson?bad=1")
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
        resp.close()


async def test_chunked_text_response_boundary_safe(both_ways: ProxyProcess) -> None:
    async with aiohttp.ClientSession() as s:
        resp = await s.get(both_ways.url + "/chat/text")
        body = (await resp.read()).decode()
    assert "Maria" not in body
    assert "maria.garcia" not in body
    assert body.count("<PERSON>") == 3
    assert body.count("<EMAIL_ADDRESS>") == 3
    assert body.count("filler words here.") == 900


def test_logs_mention_nothing_raw(both_ways: ProxyProcess, tmp_path: Path) -> None:
    assert "Maria" not in both_ways.log()
