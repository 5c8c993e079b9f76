"""Pseudonyms end to end, with real servers: the proxy (``/assist/``, the shipped config), a
recording aiohttp partner (JSON, SSE split mid-token, WebSocket), the SQLite vault and a real
redis-server shared by two proxies. Canary values are asserted on, never printed."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets
from aiohttp import WSMsgType, web

from tests.helpers import ROOT, TEST_KEY, TEST_VAULT_KEY, ProxyProcess, free_port, serve_app, start_proxy
from tests.redis_server import RedisServer, redis_server

ADMIN = "admin-token-for-tests"
NAME, EMAIL = "Maria Garcia", "maria.garcia@example.com"
CANARIES = (NAME, EMAIL, NAME.lower(), EMAIL.upper())
TOKEN = re.compile(r"<(PERSON|EMAIL_ADDRESS)_[0-9a-f]{16}>")


class Partner:
    """The chat partner: records what it got, answers quoting it (JSON), streams it back as SSE
    cut in the middle of a token, echoes WebSocket messages, and replays a canned answer."""

    def __init__(self) -> None:
        self.url = ""
        self.received: list[dict[str, Any]] = []
        self.ws_received: list[str] = []
        self.canned = b"{}"

    async def http(self, request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/sse"):
            return await self.sse(request)
        if request.path.endswith("/canned"):
            return web.Response(body=self.canned, content_type="application/json")
        if request.path.endswith("/empty"):
            return web.Response(status=204, headers={"Content-Type": "application/json"})
        if request.path.endswith("/gzip"):
            import gzip

            return web.Response(body=gzip.compress(self.canned), headers={"Content-Type": "application/json",
                                                                           "Content-Encoding": "gzip"})  # fmt: skip
        body = json.loads(await request.read())
        self.received.append(body)
        return web.json_response({"reply": f"Thanks, noted: {body.get('text', '')}"})

    async def sse(self, request: web.Request) -> web.StreamResponse:
        text = self.received[-1]["text"]
        event = f"data: {json.dumps({'reply': text})}\n\n".encode()
        cut = event.index(b"<PERSON_") + 9  # inside the token
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(event[:cut])
        await asyncio.sleep(0.1)
        await resp.write(event[cut:])
        await resp.write_eof()
        return resp

    async def ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                self.ws_received.append(msg.data)
                await ws.send_str(msg.data)
        return ws


@pytest.fixture(scope="module")
async def partner() -> AsyncIterator[Partner]:
    p = Partner()
    app = web.Application()
    app.router.add_get("/ws/{tail:.*}", p.ws)
    app.router.add_route("*", "/{tail:.*}", p.http)
    async with serve_app(app) as p.url:
        yield p


@pytest.fixture(scope="module")
def proxy(partner: Partner, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    p = start_proxy(tmp_path_factory.mktemp("assist"), env={"CHAT_PARTNER_URL": partner.url, "ADMIN_TOKEN": ADMIN})
    yield p
    p.stop()


def vault_files(p: ProxyProcess) -> bytes:
    return b"".join(f.read_bytes() for f in sorted((p.workdir / "spool").glob("vault.db*")))


def no_canary(data: bytes) -> bool:
    return not any(c.encode() in data for c in CANARIES)


async def send(session: aiohttp.ClientSession, p: ProxyProcess, conv: str, text: str) -> dict[str, Any]:
    async with session.post(p.url + "/assist/messages", json={"conversation_id": conv, "text": text}) as r:
        assert r.status == 200
        return await r.json()  # type: ignore[no-any-return]


async def admin(session: aiohttp.ClientSession, p: ProxyProcess, op: str, body: Any, token: str | None = ADMIN) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with session.post(f"{p.admin}/subjects/{op}", json=body, headers=headers) as r:
        return r.status, await r.json()


async def test_tokens_out_values_back_then_erased(proxy: ProxyProcess, partner: Partner) -> None:
    partner.received.clear()
    text = f"Hello, I am {NAME} and my email is {EMAIL}"
    async with aiohttp.ClientSession() as s:
        answer = await send(s, proxy, "c-1", text)
        # the partner got tokens, never the values
        sent = partner.received[-1]["text"]
        assert no_canary(sent.encode())
        tokens = {m.group(1): m.group(0) for m in TOKEN.finditer(sent)}
        assert set(tokens) == {"PERSON", "EMAIL_ADDRESS"}
        # its JSON answer quoting the tokens reached us with the values restored
        assert answer == {"reply": f"Thanks, noted: {text}"}
        # the same person in the same conversation: the same token; in another one: another
        await send(s, proxy, "c-1", f"{NAME} again")
        assert TOKEN.search(partner.received[-1]["text"]).group(0) == tokens["PERSON"]  # type: ignore[union-attr]
        await send(s, proxy, "c-2", f"{NAME} elsewhere")
        other = TOKEN.search(partner.received[-1]["text"]).group(0)  # type: ignore[union-attr]
        assert other != tokens["PERSON"]
        # the X-Conversation-Id header names the conversation when the body does not
        async with s.post(proxy.url + "/assist/x", json={"text": f"{NAME} here"}, headers={"X-Conversation-Id": "c-1"}):
            pass
        assert TOKEN.search(partner.received[-1]["text"]).group(0) == tokens["PERSON"]  # type: ignore[union-attr]

        # SSE, the token cut between two chunks
        await send(s, proxy, "c-1", text)
        async with s.get(proxy.url + "/assist/sse") as r:
            assert r.headers["Content-Type"].startswith("text/event-stream")
            raw = await r.read()
        assert json.loads(raw.decode().removeprefix("data: ").strip()) == {"reply": text}

        # /chat/ keeps its tags exactly as today
        async with s.post(proxy.url + "/chat/m", json={"conversation_id": "c-1", "text": text}) as r:
            assert r.status == 200
        assert partner.received[-1]["text"] == "Hello, I am <PERSON> and my email is <EMAIL_ADDRESS>"

        # the vault at rest: no value, ever
        assert vault_files(proxy) and no_canary(vault_files(proxy))

        # access: every token of the person, across conversations
        status, found = await admin(s, proxy, "lookup", {"entity": "PERSON", "value": NAME})
        assert status == 200 and tokens["PERSON"] in found["tokens"] and other in found["tokens"]

        # a wrong token: 401, nothing erased
        for bad in ("wrong", "", None):
            status, body = await admin(s, proxy, "erase", {"entity": "PERSON", "value": NAME}, token=bad)
            assert status == 401 and "erased" not in body
        assert (await admin(s, proxy, "lookup", {"entity": "PERSON", "value": NAME}))[1]["tokens"]
        status, body = await admin(s, proxy, "erase", {"entity": "PERSON", "value": "x" * 5000})
        assert status == 400 and "x" * 50 not in json.dumps(body)

        # erase: every token of that person is gone
        partner.canned = json.dumps({"reply": f"About {tokens['PERSON']} ({tokens['EMAIL_ADDRESS']})"}).encode()
        status, body = await admin(s, proxy, "erase", {"entity": "PERSON", "value": NAME.upper()})
        assert status == 200 and body == {"erased": 2}  # c-1 (body and header) and c-2
        async with s.get(proxy.url + "/assist/canned") as r:
            after = await r.json()
        async with s.get(proxy.url + "/assist/gzip") as r:  # decoded, un-masked, sent as identity
            assert "Content-Encoding" not in r.headers
            assert await r.json() == after
        async with s.get(proxy.url + "/assist/empty") as r:
            assert r.status == 204 and await r.read() == b""
        async with s.head(proxy.url + "/assist/canned") as r:
            assert r.status == 200
        # the same answer keeps the erased person's token; the e-mail (not erased) is restored
        assert after == {"reply": f"About {tokens['PERSON']} ({EMAIL})"}
        await send(s, proxy, "c-1", f"{NAME} is back")
        new = TOKEN.search(partner.received[-1]["text"]).group(0)  # type: ignore[union-attr]
        assert new != tokens["PERSON"]
        files = vault_files(proxy)
        assert tokens["PERSON"].encode() not in files and other.encode() not in files and no_canary(files)

    # audited, without the value
    records = [r for r in proxy.audit() if r.get("destination") == "vault"]
    assert [(r["operator"], r["entity"]) for r in records] == [("lookup", "PERSON"), ("lookup", "PERSON"),
                                                               ("erase", "PERSON")]  # fmt: skip
    assert no_canary(json.dumps(records).encode())
    assert no_canary((proxy.workdir / "audit.jsonl").read_bytes())
    assert no_canary(proxy.log().encode())
    # metrics
    async with aiohttp.ClientSession() as s, s.get(proxy.admin + "/metrics") as r:
        metrics = await r.text()
    assert re.search(r'^proxy_vault_unmask_total\{outcome="hit"\} [1-9]', metrics, re.M)
    assert re.search(r'^proxy_vault_unmask_total\{outcome="miss"\} [1-9]', metrics, re.M)
    assert re.search(r"^proxy_vault_tokens_issued_total [1-9]", metrics, re.M)
    assert re.search(r"^proxy_vault_erasures_total 1\.0", metrics, re.M)  # counted by the supervisor
    assert 'proxy_vault_operations_total{op="issue",outcome="ok",store="sqlite"}' in metrics


async def test_websocket_tokens_out_values_back(proxy: ProxyProcess, partner: Partner) -> None:
    partner.ws_received.clear()
    async with websockets.connect(f"ws://127.0.0.1:{proxy.port}/assist/ws/echo") as ws:
        await ws.send(json.dumps({"conversation_id": "w-1", "text": f"I am {NAME}, {EMAIL}"}))
        echoed = json.loads(await asyncio.wait_for(ws.recv(), 15))
        await ws.send(f"plain text from {EMAIL}")
        plain = await asyncio.wait_for(ws.recv(), 15)
    assert echoed == {"conversation_id": "w-1", "text": f"I am {NAME}, {EMAIL}"}
    assert plain == f"plain text from {EMAIL}"
    assert all(no_canary(m.encode()) for m in partner.ws_received)
    assert len(partner.ws_received) == 2 and all(TOKEN.search(m) for m in partner.ws_received)


async def test_subjects_need_the_admin_token(partner: Partner, tmp_path: Path) -> None:
    p = start_proxy(tmp_path / "p", env={"CHAT_PARTNER_URL": partner.url})  # no ADMIN_TOKEN
    try:
        async with aiohttp.ClientSession() as s:
            for op in ("erase", "lookup"):
                status, _ = await admin(s, p, op, {"entity": "PERSON", "value": NAME})
                assert status == 404
    finally:
        p.stop()


def cli(args: list[str], stdin: bytes, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    full = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **env}
    return subprocess.run([sys.executable, "-m", "proxy", *args], input=stdin, capture_output=True, cwd=ROOT,
                          env=full, timeout=120)  # fmt: skip


async def test_cli_lookup_and_erase_read_the_value_on_stdin(proxy: ProxyProcess, partner: Partner) -> None:
    async with aiohttp.ClientSession() as s:
        await send(s, proxy, "cli-1", f"mail {EMAIL}")
    env = {"PSEUDONYM_KEY": TEST_KEY, "VAULT_KEY": TEST_VAULT_KEY, "SPOOL_DIR": str(proxy.workdir / "spool"),
           "AUDIT_FILE": str(proxy.workdir / "cli-audit.jsonl")}  # fmt: skip
    r = cli(["lookup", "--entity", "EMAIL_ADDRESS"], EMAIL.encode() + b"\n", env)
    assert r.returncode == 0, r.stderr[-500:]
    tokens = json.loads(r.stdout)["tokens"]
    assert tokens and all(t.startswith("<EMAIL_ADDRESS_") for t in tokens)
    r = cli(["erase", "--entity", "EMAIL_ADDRESS"], EMAIL.encode(), env)
    assert json.loads(r.stdout) == {"erased": len(tokens)}
    assert json.loads(cli(["lookup", "--entity", "EMAIL_ADDRESS"], EMAIL.encode(), env).stdout) == {"tokens": []}
    audit = (proxy.workdir / "cli-audit.jsonl").read_bytes()
    assert b'"operator":"erase"' in audit and no_canary(audit)
    # the value is never taken from argv
    r = cli(["erase", "--entity", "EMAIL_ADDRESS", EMAIL], b"", env)
    assert r.returncode != 0 and no_canary(r.stderr + r.stdout)


def test_serve_refuses_without_a_valid_vault_key(tmp_path: Path) -> None:
    for value, expect in (("", "VAULT_KEY is not set"), ("ab" * 31 + "zz", "64 hex characters")):
        env = {"PSEUDONYM_KEY": TEST_KEY, "AUDIT_FILE": str(tmp_path / "a.jsonl"), "SPOOL_DIR": str(tmp_path)}
        if value:
            env["VAULT_KEY"] = value
        r = cli(["serve", "--port", str(free_port()), "--admin-port", str(free_port())], b"", env)
        assert r.returncode == 2
        assert expect.encode() in r.stderr and b"assist" in r.stderr
        if value:
            assert value.encode() not in r.stderr
    r = cli(["check-config"], b"", {"PSEUDONYM_KEY": TEST_KEY, "VAULT_KEY": "12" * 40})
    assert r.returncode == 2 and b"64 hex characters" in r.stdout and b"12" * 40 not in r.stdout


# ---- two proxies sharing one Redis vault -----------------------------------------------------------
@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    with redis_server() as r:
        yield r


@pytest.fixture(scope="module")
def replicas(
    partner: Partner, redis: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ProxyProcess, ProxyProcess]]:
    env = {"CHAT_PARTNER_URL": partner.url, "REDIS_URL": redis.url, "ADMIN_TOKEN": ADMIN}
    a = start_proxy(tmp_path_factory.mktemp("replica-a"), env=env)
    try:
        b = start_proxy(tmp_path_factory.mktemp("replica-b"), env=env)
        try:
            yield a, b
        finally:
            b.stop()
    finally:
        a.stop()


async def test_two_replicas_share_the_redis_vault(
    replicas: tuple[ProxyProcess, ProxyProcess], partner: Partner, redis: RedisServer
) -> None:
    a, b = replicas
    partner.received.clear()
    text = f"I am {NAME}, {EMAIL}"
    async with aiohttp.ClientSession() as s:
        first = await send(s, a, "r-1", text)
        tok_a = sorted(m.group(0) for m in TOKEN.finditer(partner.received[-1]["text"]))
        second = await send(s, b, "r-1", text)
        tok_b = sorted(m.group(0) for m in TOKEN.finditer(partner.received[-1]["text"]))
        assert tok_a == tok_b and len(tok_a) == 2  # the same person, the same tokens, whichever replica
        assert first == second == {"reply": f"Thanks, noted: {text}"}  # each un-masks the other's tokens
        # nothing raw in Redis, nor on the replicas' disks
        dump = redis.dump_all()
        assert dump and no_canary(dump)
        assert not list((a.workdir / "spool").glob("vault.db*"))
        # erased through one replica: gone for both
        partner.canned = json.dumps({"reply": " ".join(tok_a)}).encode()
        status, body = await admin(s, a, "erase", {"entity": "EMAIL_ADDRESS", "value": EMAIL})
        assert (status, body) == (200, {"erased": 1})
        async with s.get(b.url + "/assist/canned") as r:
            reply = (await r.json())["reply"]
        email_token = next(t for t in tok_a if t.startswith("<EMAIL"))
        assert email_token in reply and NAME in reply and EMAIL not in reply
        assert email_token.encode() not in redis.dump_all()
        status, found = await admin(s, b, "lookup", {"entity": "EMAIL_ADDRESS", "value": EMAIL})
        assert (status, found) == (200, {"tokens": []})
    metrics = await _metrics(a)
    assert 'proxy_vault_operations_total{op="issue",outcome="ok",store="redis"}' in metrics


async def _metrics(p: ProxyProcess) -> str:
    async with aiohttp.ClientSession() as s, s.get(p.admin + "/metrics") as r:
        return await r.text()


def test_cli_redact_pseudonymises_through_the_vault(tmp_path: Path) -> None:
    env = {"PSEUDONYM_KEY": TEST_KEY, "VAULT_KEY": TEST_VAULT_KEY, "SPOOL_DIR": str(tmp_path)}
    lines = f"My name is {NAME}\n\nmail {EMAIL}, signed {NAME}\n".encode()
    r = cli(["redact", "--destination", "assist"], lines, env)
    assert r.returncode == 0, r.stderr[-500:]
    out = r.stdout.decode().split("\n")
    assert len(out) == 4 and out[1] == "" and no_canary(r.stdout + r.stderr)
    first, third = TOKEN.findall(out[0]), [m.group(0) for m in TOKEN.finditer(out[2])]
    assert len(third) == 2 and third[1] == TOKEN.search(out[0]).group(0)  # type: ignore[union-attr]
    assert first == ["PERSON"]
    assert no_canary(b"".join(p.read_bytes() for p in tmp_path.glob("vault.db*")))
    r = cli(["redact", "--destination", "assist"], lines, {"PSEUDONYM_KEY": TEST_KEY, "SPOOL_DIR": str(tmp_path)})
    assert r.returncode == 2 and b"VAULT_KEY is not set" in r.stderr


async def test_vault_down_fails_closed(partner: Partner, tmp_path: Path) -> None:
    """Redis unreachable: a message to pseudonymise gets 503 and nothing reaches the partner;
    /chat/ (no vault) keeps working; a WebSocket message closes the socket (1011)."""
    env = {"CHAT_PARTNER_URL": partner.url, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    p = start_proxy(tmp_path / "down", env=env)
    try:
        partner.received.clear()
        async with aiohttp.ClientSession() as s:
            async with s.post(p.url + "/assist/m", json={"conversation_id": "d-1", "text": f"I am {NAME}"}) as r:
                assert r.status == 503
                body = await r.json()
            assert body["error"]["code"] == "vault_unavailable" and no_canary(json.dumps(body).encode())
            assert partner.received == []
            async with s.post(p.url + "/chat/m", json={"conversation_id": "d-1", "text": f"I am {NAME}"}) as r:
                assert r.status == 200
            # an answer quoting a token cannot be un-masked: a clean 503, not a half-restored body
            partner.canned = json.dumps({"reply": "about <PERSON_0123456789abcdef>"}).encode()
            async with s.get(p.url + "/assist/canned") as r:
                assert r.status == 503
                assert (await r.json())["error"]["code"] == "vault_unavailable"
            partner.canned = json.dumps({"reply": "no token here"}).encode()
            async with s.get(p.url + "/assist/canned") as r:  # nothing to reveal: no vault call
                assert r.status == 200 and await r.json() == {"reply": "no token here"}
        async with websockets.connect(f"ws://127.0.0.1:{p.port}/assist/ws/echo") as ws:
            await ws.send(f"I am {NAME}")
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 20)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
        assert no_canary(p.log().encode())
    finally:
        p.stop()
