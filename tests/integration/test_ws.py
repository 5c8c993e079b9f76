"""WebSocket relay for real: the `websockets` client -> proxy -> aiohttp WebSocket upstream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import websockets
from aiohttp import WSMsgType, web
from websockets.exceptions import ConnectionClosed

from tests.helpers import ProxyProcess, free_port, serve_app, start_proxy


class WsUpstream:
    def __init__(self) -> None:
        self.received: list[str | bytes] = []
        self.url = ""
        self.close_with: int | None = None

    async def handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=8 * 1024 * 1024)
        await ws.prepare(request)
        if request.path.endswith("/push"):
            await ws.send_str(json.dumps({"conversation_id": "c", "text": "agent Maria Garcia says hi"}))
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                self.received.append(msg.data)
                if msg.data == "close-please":
                    await ws.close(code=4001, message=b"bye")
                    break
                if msg.data == "big-reply":
                    await ws.send_str("x" * (2 * 1024 * 1024))
                    continue
                await ws.send_str(msg.data)
            elif msg.type == WSMsgType.BINARY:
                self.received.append(msg.data)
        return ws


@pytest.fixture(scope="module")
async def ws_upstream() -> AsyncIterator[WsUpstream]:
    up = WsUpstream()
    app = web.Application()
    app.router.add_get("/{tail:.*}", up.handler)
    async with serve_app(app) as up.url:
        yield up


@pytest.fixture(scope="module")
def ws_proxy(ws_upstream: WsUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    p = start_proxy(tmp_path_factory.mktemp("ws"), env={"CHAT_PARTNER_URL": ws_upstream.url})
    yield p
    p.stop()


def ws_url(p: ProxyProcess, tail: str = "echo") -> str:
    return f"ws://127.0.0.1:{p.port}/chat/ws/{tail}"


async def test_messages_redacted_towards_partner(ws_proxy: ProxyProcess, ws_upstream: WsUpstream) -> None:
    ws_upstream.received.clear()
    async with websockets.connect(ws_url(ws_proxy)) as ws:
        await ws.send(
            json.dumps({"conversation_id": "c-1", "text": "I am Maria Garcia", "survey": {"age": 34}, "x": 1})
        )
        echoed = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert echoed == {"conversation_id": "c-1", "text": "I am <PERSON>", "survey": {"age": "30-39"}}
        await ws.send("plain text from maria.garcia@example.com")
        assert await asyncio.wait_for(ws.recv(), 10) == "plain text from <EMAIL_ADDRESS>"
        # a fragmented message is reassembled before redaction
        await ws.send(["my name is ", "Maria Ga", "rcia, mail maria.garcia@exa", "mple.com"])
        assert await asyncio.wait_for(ws.recv(), 10) == "my name is <PERSON>, mail <EMAIL_ADDRESS>"
        # binary messages are dropped by the shipped policy; the next text still flows
        await ws.send(b"\x00raw maria.garcia@example.com")
        await ws.send("after binary")
        assert await asyncio.wait_for(ws.recv(), 10) == "after binary"
        # a ping is answered by the proxy (control frames are hop-by-hop: no payload crosses)
        pong = await ws.ping()
        await asyncio.wait_for(pong, 10)
    assert all("maria" not in str(m).lower() for m in ws_upstream.received)
    assert not any(isinstance(m, bytes) for m in ws_upstream.received)


async def test_messages_from_partner_pass_through(ws_proxy: ProxyProcess) -> None:
    async with websockets.connect(ws_url(ws_proxy, "push")) as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert first["text"] == "agent Maria Garcia says hi"  # responses are not redacted by the shipped policy


async def test_close_code_relayed(ws_proxy: ProxyProcess) -> None:
    async with websockets.connect(ws_url(ws_proxy)) as ws:
        await ws.send("close-please")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == 4001


async def test_oversized_message_closes_1009_and_is_not_forwarded(
    ws_proxy: ProxyProcess, ws_upstream: WsUpstream
) -> None:
    ws_upstream.received.clear()
    async with websockets.connect(ws_url(ws_proxy), max_size=None) as ws:
        await ws.send("maria.garcia@example.com " + "y" * (1024 * 1024 + 10))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == 1009
    assert ws_upstream.received == []


async def test_upstream_unreachable_before_upgrade(tmp_path: Path) -> None:
    p = start_proxy(tmp_path, env={"CHAT_PARTNER_URL": f"http://127.0.0.1:{free_port()}"})
    try:
        with pytest.raises(websockets.exceptions.InvalidStatus) as info:
            async with websockets.connect(ws_url(p)):
                pass
        assert info.value.response.status_code == 502
    finally:
        p.stop()


async def test_both_directions_redacted_when_the_policy_says_so(ws_upstream: WsUpstream, tmp_path: Path) -> None:
    from tests.integration.conftest import make_config

    def edit(d: dict[str, object]) -> None:
        d["destinations"]["chat_partner"]["directions"] = ["request", "response"]  # type: ignore[index]

    cfg = make_config(tmp_path / "cfg", edit)
    p = start_proxy(tmp_path, config=cfg, env={"CHAT_PARTNER_URL": ws_upstream.url})
    try:
        async with websockets.connect(ws_url(p, "push")) as ws:
            pushed = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert pushed == {"conversation_id": "c", "text": "agent <PERSON> says hi"}
        records = p.audit()
        assert {r["direction"] for r in records} == {"request", "response"}
        # towards the partner only the handshake's headers were decided on (default deny)
        assert {(r["field"], r["operator"]) for r in records if r["direction"] == "request"} == {("header", "drop")}
    finally:
        p.stop()
