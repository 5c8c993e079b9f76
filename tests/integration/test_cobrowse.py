"""Co-browse routes for real: a real client -> the proxy (real detector) -> a recording aiohttp
upstream that speaks HTTP and WebSocket. Canary PII never reaches the upstream; the redacted
events keep their ids, shape and order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets
from aiohttp import WSMsgType, web
from websockets.exceptions import ConnectionClosed

from tests.helpers import ProxyProcess, serve_app, start_proxy
from tests.integration.conftest import make_config

EMAIL = "maria.garcia@example.com"
CARD = "4111 1111 1111 1111"
PHONE = "+1 202-555-0143"
CANARIES = (EMAIL, CARD, PHONE, "maria.garcia%40example.com", "4111111111111111", "Garcia")


class CobrowseUpstream:
    def __init__(self) -> None:
        self.url = ""
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        self.messages: list[str] = []

    async def ws(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return await self.http(request)
        ws = web.WebSocketResponse(max_msg_size=8 * 1024 * 1024)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                self.messages.append(msg.data)
                await ws.send_str("ack")
        return ws

    async def http(self, request: web.Request) -> web.Response:
        self.posts.append((request.path, dict(request.headers), await request.read()))
        return web.json_response({"ok": True})


@pytest.fixture(scope="module")
async def upstream() -> AsyncIterator[CobrowseUpstream]:
    up = CobrowseUpstream()
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", up.ws)
    async with serve_app(app) as up.url:
        yield up


@pytest.fixture(scope="module")
def proxy(upstream: CobrowseUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    p = start_proxy(tmp_path_factory.mktemp("cobrowse"), env={"CHAT_PARTNER_URL": upstream.url})
    yield p
    p.stop()


def el(nid: int, tag: str, attrs: dict[str, Any] | None = None, *kids: dict[str, Any]) -> dict[str, Any]:
    return {"type": 2, "tagName": tag, "attributes": attrs or {}, "childNodes": list(kids), "id": nid}


def txt(nid: int, text: str) -> dict[str, Any]:
    return {"type": 3, "textContent": text, "id": nid}


def snapshot() -> list[dict[str, Any]]:
    body = el(
        7, "body", {},
        el(10, "p", {}, txt(11, f"Signed in as {EMAIL}, card {CARD}")),
        el(12, "input", {"type": "email", "name": "email", "value": ""}),
        el(13, "input", {"type": "text", "name": "notes", "value": ""}),
        el(14, "a", {"href": f"https://shop.example/profile?email={EMAIL.replace('@', '%40')}&tab=2"}, txt(15, "me")),
        el(16, "span", {"class": "account-number"}, txt(17, "ACCT-99-1234")),
        el(20, "div", {"class": "note rr-mask"}, txt(21, "plain words here")),
        el(18, "a", {"href": f"tel:{PHONE}"}, txt(19, "call us")),
    )  # fmt: skip
    doc = {"type": 0, "id": 1, "childNodes": [el(3, "html", {}, el(4, "head", {}), body)]}
    return [
        {"type": 4, "data": {"href": "https://shop.example/account", "width": 1200, "height": 800}, "timestamp": 1},
        {"type": 2, "data": {"node": doc, "initialOffset": {"left": 0, "top": 0}}, "timestamp": 2},
    ]


def typing(nid: int, text: str, ts: int = 3) -> dict[str, Any]:
    return {"type": 3, "data": {"source": 5, "id": nid, "text": text, "isChecked": False}, "timestamp": ts}


MOVE = {"type": 3, "data": {"source": 1, "positions": [{"x": 10, "y": 20, "id": 7, "timeOffset": 0}]}, "timestamp": 4}


def leaks(data: str | bytes) -> list[str]:
    text = data.decode() if isinstance(data, bytes) else data
    return [c for c in CANARIES if c in text]  # which canaries, never the data itself


def ids(node: dict[str, Any]) -> list[int]:
    return [node["id"], *(i for c in node.get("childNodes", []) for i in ids(c))]


async def test_post_batches_of_one_session_share_a_node_map(proxy: ProxyProcess, upstream: CobrowseUpstream) -> None:
    upstream.posts.clear()
    h = {"X-Cobrowse-Session": "s-1"}
    async with aiohttp.ClientSession() as s:
        r = await s.post(proxy.url + "/cobrowse/events", json=snapshot(), headers=h)
        assert r.status == 200, await r.text()
        r = await s.post(
            proxy.url + "/cobrowse/events",
            json=[typing(12, "bob@example.org"), typing(13, f"mail {EMAIL}"), MOVE],
            headers=h,
        )
        assert r.status == 200
    assert [p[0] for p in upstream.posts] == ["/cobrowse/events", "/cobrowse/events"]  # path unchanged
    assert all(not leaks(p[2]) for p in upstream.posts)
    assert upstream.posts[0][1]["X-Cobrowse-Session"] == "s-1"
    first, second = (json.loads(p[2]) for p in upstream.posts)
    assert [e["type"] for e in first] == [4, 2]
    assert ids(first[1]["data"]["node"]) == ids(snapshot()[1]["data"]["node"])  # ids and shape unchanged
    node = {n["id"]: n for n in _walk(first[1]["data"]["node"])}
    assert node[11]["textContent"].startswith("Signed in as ") and "*" in node[11]["textContent"]
    assert node[14]["attributes"]["href"].startswith("https://shop.example/profile?email=")
    assert node[18]["attributes"]["href"] == "tel:" + "*" * len(PHONE)
    assert node[17]["textContent"] == "*" * len("ACCT-99-1234")  # the shipped rules: .account-number
    assert node[21]["textContent"] == "*" * len("plain words here")  # ... and rrweb's .rr-mask
    # the second batch knew the inputs from the first: email masked whole, notes scanned
    assert second[0]["data"]["text"] == "*" * len("bob@example.org")
    assert second[1]["data"]["text"].startswith("mail ") and second[1]["data"]["text"] != f"mail {EMAIL}"
    assert second[2] == MOVE


def _walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for c in node.get("childNodes", []):
        yield from _walk(c)


async def test_post_object_form_and_unknown_session(proxy: ProxyProcess, upstream: CobrowseUpstream) -> None:
    upstream.posts.clear()
    async with aiohttp.ClientSession() as s:
        body = {"session_id": "s-2", "events": [typing(13, "plain words")], "visitor_email": EMAIL}
        r = await s.post(proxy.url + "/cobrowse/events", json=body)
        assert r.status == 200
    sent = json.loads(upstream.posts[0][2])
    assert set(sent) == {"session_id", "events"}  # default deny: the unknown key is dropped
    assert sent["events"][0]["data"]["text"] == "*" * len("plain words")  # node unknown to s-2: masked whole
    assert not leaks(upstream.posts[0][2])


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"[{not json", {}),
        (json.dumps([{"type": 3, "data": {"source": 5, "id": "x", "text": EMAIL}}]).encode(), {}),
        (json.dumps({"events": "nope"}).encode(), {}),
        (json.dumps([MOVE]).encode(), {"X-Cobrowse-Session": EMAIL}),  # not an opaque token
    ],
)
async def test_post_malformed_is_400_and_forwards_nothing(
    proxy: ProxyProcess, upstream: CobrowseUpstream, body: bytes, headers: dict[str, str]
) -> None:
    upstream.posts.clear()
    async with aiohttp.ClientSession() as s:
        r = await s.post(
            proxy.url + "/cobrowse/events", data=body, headers={"Content-Type": "application/json", **headers}
        )
        text = await r.text()
    assert r.status == 400 and json.loads(text)["error"]["code"] == "bad_request"
    assert not leaks(text) and "maria" not in text
    assert upstream.posts == []


async def test_post_wrong_type_and_method(proxy: ProxyProcess, upstream: CobrowseUpstream) -> None:
    async with aiohttp.ClientSession() as s:
        r = await s.post(proxy.url + "/cobrowse/events", data=b"x", headers={"Content-Type": "text/plain"})
        assert r.status == 415
        r = await s.get(proxy.url + "/cobrowse/events")
        assert r.status == 405


async def test_websocket_session(proxy: ProxyProcess, upstream: CobrowseUpstream) -> None:
    upstream.messages.clear()
    url = f"ws://127.0.0.1:{proxy.port}/cobrowse/ws/visitor-1"
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps(snapshot()))  # an array per message
        assert await asyncio.wait_for(ws.recv(), 20) == "ack"
        await ws.send(json.dumps(typing(12, "bob@example.org")))  # one event per message
        assert await asyncio.wait_for(ws.recv(), 20) == "ack"
        await ws.send(json.dumps(typing(13, f"my card {CARD}")))
        assert await asyncio.wait_for(ws.recv(), 20) == "ack"
        await ws.send(json.dumps({"type": 8, "data": {"text": EMAIL}}))  # unknown kind: dropped, nothing sent
        await ws.send(json.dumps(MOVE))
        assert await asyncio.wait_for(ws.recv(), 20) == "ack"
        await ws.send("{broken")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 20)
        assert ws.close_code == 1007
    assert len(upstream.messages) == 4
    assert all(not leaks(m) for m in upstream.messages)
    assert json.loads(upstream.messages[1])["data"]["text"] == "*" * len("bob@example.org")
    assert json.loads(upstream.messages[2])["data"]["text"].startswith("my card ")
    assert json.loads(upstream.messages[3]) == MOVE
    # a new socket is a new session: the same id is unknown there, masked whole
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps(typing(13, "plain words")))
        assert await asyncio.wait_for(ws.recv(), 20) == "ack"
    assert json.loads(upstream.messages[4])["data"]["text"] == "*" * len("plain words")
    async with aiohttp.ClientSession() as s:
        metrics = await (await s.get(proxy.admin + "/metrics")).text()
    assert 'proxy_cobrowse_events_total{action="masked",kind="input"}' in metrics
    assert 'proxy_cobrowse_events_total{action="dropped",kind="event type 8"}' in metrics
    audit = json.dumps(proxy.audit())
    assert not leaks(audit) and '"reason": "unknown node"' in audit


async def test_detection_failure_closes_1011_and_503(upstream: CobrowseUpstream, tmp_path: Path) -> None:
    def edit(d: dict[str, Any]) -> None:
        d["timeouts"]["detection_deadline"] = 0.05  # a short path passes; a large page cannot

    cfg = make_config(tmp_path / "cfg", edit)
    p = start_proxy(tmp_path, config=cfg, env={"CHAT_PARTNER_URL": upstream.url})
    big = snapshot()
    big[1]["data"]["node"]["childNodes"][0]["childNodes"][1]["childNodes"].extend(
        el(1000 + i, "p", {}, txt(5000 + i, f"Row {i}: {EMAIL} paid with {CARD} from Springfield")) for i in range(3000)
    )
    try:
        upstream.messages.clear()
        upstream.posts.clear()
        ws = None
        for _ in range(20):  # the handshake's path is scanned once, then known clean
            try:
                ws = await websockets.connect(f"ws://127.0.0.1:{p.port}/cobrowse/ws/s", max_size=None)
                break
            except websockets.exceptions.InvalidStatus:
                await asyncio.sleep(0.2)
        assert ws is not None
        await ws.send(json.dumps(big))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 30)
        assert ws.close_code == 1011
        async with aiohttp.ClientSession() as s:
            r = await s.post(p.url + "/cobrowse/events", json=big)
            assert r.status == 503
            assert (await r.json())["error"]["code"] in ("detection_timeout", "detection_failed")
        assert upstream.messages == [] and upstream.posts == []
    finally:
        p.stop()
