"""Children's data through the real proxy (shipped config: ``minors`` on ``chat_partner``): a
child's survey is withheld with 451 (HTTP) or dropped alone (WebSocket), audited without the
value and counted in /metrics; a 13-year-old passes banded."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from aiohttp import WSMsgType, web

from tests.helpers import ProxyProcess, serve_app, start_proxy


class Partner:
    """A recording chat partner: HTTP bodies and WebSocket messages."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.messages: list[str] = []
        self.url = ""

    async def http(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self.messages.append(msg.data)
                    await ws.send_str("ack")
            return ws
        self.bodies.append(await request.read())
        return web.json_response({"ok": True})


@pytest.fixture(scope="module")
async def partner() -> AsyncIterator[Partner]:
    p = Partner()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", p.http)
    async with serve_app(app) as p.url:
        yield p


@pytest.fixture(scope="module")
def proxy(partner: Partner, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    p = start_proxy(tmp_path_factory.mktemp("minors"), env={"CHAT_PARTNER_URL": partner.url})
    try:
        yield p
    finally:
        p.stop()


def survey(age: object, name: str = "Quentin Okafor-Lindqvist") -> dict[str, object]:
    return {"conversation_id": "c-1", "text": f"hello, I am {name}", "survey": {"age": age, "zip": "94107"}}


def withheld_count(proxy: ProxyProcess) -> float:
    text = urllib.request.urlopen(proxy.admin + "/metrics", timeout=5).read().decode()
    m = re.search(r'^proxy_messages_withheld_total\{destination="chat_partner",reason="minor"\} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


async def test_a_childs_survey_gets_451_and_nothing_reaches_the_partner(proxy: ProxyProcess, partner: Partner) -> None:
    partner.bodies.clear()
    before = withheld_count(proxy)
    async with aiohttp.ClientSession() as s:
        r = await s.post(proxy.url + "/chat/messages", json=survey(11))
        answer = await r.read()
    assert r.status == 451
    assert r.content_type == "application/json"
    err = json.loads(answer)["error"]
    assert err["code"] == "withheld" and err["status"] == 451
    assert b"Okafor" not in answer and b"11" not in answer.replace(err["request_id"].encode(), b"")
    assert partner.bodies == []
    assert withheld_count(proxy) == before + 1
    withhold = [a for a in proxy.audit() if a.get("operator") == "withhold"]
    assert withhold and withhold[-1]["field"] == "survey.age" and withhold[-1]["reason"] == "minor"
    assert "Okafor" not in json.dumps(proxy.audit())


async def test_a_13_year_old_passes_banded(proxy: ProxyProcess, partner: Partner) -> None:
    partner.bodies.clear()
    async with aiohttp.ClientSession() as s:
        r = await s.post(proxy.url + "/chat/messages", json=survey(13))
        await r.read()
    assert r.status == 200
    sent = json.loads(partner.bodies[-1])
    assert sent["survey"]["age"] == "under 18"
    assert "Okafor" not in sent["text"]


async def test_an_age_in_free_text_is_banded_not_withheld(proxy: ProxyProcess, partner: Partner) -> None:
    partner.bodies.clear()
    async with aiohttp.ClientSession() as s:
        r = await s.post(proxy.url + "/chat/messages", json={"text": "my son is 9 years old and needs help"})
        await r.read()
    assert r.status == 200
    assert b"9 years" not in partner.bodies[-1]


async def test_websocket_drops_the_childs_message_alone_and_keeps_the_session(
    proxy: ProxyProcess, partner: Partner
) -> None:
    partner.messages.clear()
    before = withheld_count(proxy)
    async with aiohttp.ClientSession() as s, s.ws_connect(proxy.url.replace("http", "ws") + "/chat/ws/session") as ws:
        await ws.send_str(json.dumps(survey(10)))
        await ws.send_str(json.dumps(survey(40)))
        msg = await asyncio.wait_for(ws.receive(), 30)
        assert msg.type == WSMsgType.TEXT  # the session is still open: the adult's message was answered
    assert len(partner.messages) == 1
    assert json.loads(partner.messages[0])["survey"]["age"] == "40-49"
    assert withheld_count(proxy) == before + 1
