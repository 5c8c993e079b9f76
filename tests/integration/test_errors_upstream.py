"""Error-table rows that need their own proxy: upstream unreachable / timed out, detection deadline,
responses redacted in both directions, and the serve refusals."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.helpers import ROOT, free_port, running_proxy, upstream_server
from tests.integration.conftest import make_config

MSG = {"conversation_id": "c-1", "text": "I am Maria Garcia, maria.garcia@example.com"}


async def test_upstream_unreachable_is_502(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with running_proxy(tmp_path, env={"CHAT_PARTNER_URL": dead}) as p:
        async with aiohttp.ClientSession() as s:
            r = await s.post(p.url + "/chat/m", json=MSG)
            await r.read()
            assert r.status == 502
            assert (await r.json())["error"]["code"] == "bad_gateway"


async def test_upstream_timeout_is_504(tmp_path: Path) -> None:
    async def slow(request: web.Request, body: bytes) -> web.Response:
        await asyncio.sleep(3)
        return web.Response(text="late")

    def edit(d: dict[str, Any]) -> None:
        d["timeouts"]["upstream_total"] = 1

    cfg = make_config(tmp_path / "cfg", edit)
    async with upstream_server(slow) as up:
        with running_proxy(tmp_path, config=cfg, env={"CHAT_PARTNER_URL": up.url}) as p:
            async with aiohttp.ClientSession() as s:
                r = await s.post(p.url + "/chat/m", json=MSG)
                await r.read()
                assert r.status == 504


async def test_detection_deadline_is_503_and_forwards_nothing(tmp_path: Path) -> None:
    def edit(d: dict[str, Any]) -> None:
        d["timeouts"]["detection_deadline"] = 0.000001

    cfg = make_config(tmp_path / "cfg", edit)
    async with upstream_server() as up:
        with running_proxy(tmp_path, config=cfg, env={"CHAT_PARTNER_URL": up.url}) as p:
            async with aiohttp.ClientSession() as s:
                r = await s.post(p.url + "/chat/m", json=MSG)
                assert r.status == 503
                body = await r.text()
                assert "maria" not in body.lower()
                r = await s.post(p.url + "/chat/m", data=b"Maria Garcia", headers={"Content-Type": "text/plain"})
                assert r.status == 503
                # a path segment is scanned too (fails closed) ...
                r = await s.get(p.url + "/chat/ping")
                assert r.status == 503
                # ... and a request with nothing to scan needs no detection and is forwarded
                r = await s.get(p.url + "/chat/")
                assert r.status == 200
            assert [x.path for x in up.received] == ["/"]


async def test_both_directions(tmp_path: Path) -> None:
    def edit(d: dict[str, Any]) -> None:
        d["destinations"]["chat_partner"]["directions"] = ["request", "response"]

    answers = {
        "/j": (b'{"conversation_id": "c", "text": "agent Maria Garcia here", "internal": 1}', "application/json"),
        "/t": (b"mail maria.garcia@example.com", "text/plain"),
        "/f": (b"text=Maria+Garcia&x=1", "application/x-www-form-urlencoded"),
        "/b": (b"\x89PNG", "image/png"),
    }

    def handler(request: web.Request, body: bytes) -> web.Response:
        data, ctype = answers[request.path]
        return web.Response(body=data, headers={"Content-Type": ctype})

    cfg = make_config(tmp_path / "cfg", edit)
    async with upstream_server(handler) as up:
        with running_proxy(tmp_path, config=cfg, env={"CHAT_PARTNER_URL": up.url}) as p:
            async with aiohttp.ClientSession() as s:
                r = await s.get(p.url + "/chat/j")
                assert await r.json() == {"conversation_id": "c", "text": "agent <PERSON> here"}
                r = await s.get(p.url + "/chat/t")
                assert await r.text() == "mail <EMAIL_ADDRESS>"
                r = await s.get(p.url + "/chat/f")
                assert await r.text() == "text=%3CPERSON%3E"
                r = await s.get(p.url + "/chat/b")
                await r.read()
                assert r.status == 502  # cannot redact an image: fail closed
            records = p.audit()
            assert {rec["direction"] for rec in records} == {"request", "response"}
            # towards the partner only the client's headers were decided on (default deny)
            assert {(r["field"], r["operator"]) for r in records if r["direction"] == "request"} == {("header", "drop")}


def test_serve_refuses_without_pseudonym_key(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "AUDIT_FILE": str(tmp_path / "a.jsonl")}
    r = subprocess.run(
        [sys.executable, "-m", "proxy", "serve", "--port", str(free_port()), "--admin-port", str(free_port())],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert r.returncode == 2
    assert "PSEUDONYM_KEY is not set" in r.stderr
    assert "chat_partner" in r.stderr


def test_serve_refuses_invalid_config(tmp_path: Path) -> None:
    bad = tmp_path / "proxy.yaml"
    bad.write_text((ROOT / "config" / "proxy.yaml").read_text().replace("kind: http", "kind: htp"))
    r = subprocess.run(
        [sys.executable, "-m", "proxy", "serve", "--config", str(bad), "--port", str(free_port())],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert r.returncode == 2
    assert f"{bad}:" in r.stderr
    assert "refusing to start" in r.stderr
    assert json.dumps({}) == "{}"


async def test_streams_may_outlive_the_total_timeout(tmp_path: Path) -> None:
    """`upstream_total` bounds a buffered exchange; a streamed upload or answer only has to keep
    moving (each silence shorter than the limit)."""

    async def sse(request: web.Request, body: bytes) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for i in range(5):
            await resp.write(f"data: event {i}\n\n".encode())
            await asyncio.sleep(0.5)
        return resp

    def handler(request: web.Request, body: bytes) -> Any:
        if request.path == "/events":
            return sse(request, body)
        lines = body.count(b"\n")
        return web.Response(text=f"got {lines} lines")

    def edit(d: dict[str, Any]) -> None:
        d["timeouts"]["upstream_total"] = 1

    async def slow_lines() -> Any:
        for i in range(5):
            yield json.dumps({"conversation_id": f"c-{i}", "text": "hello"}).encode() + b"\n"
            await asyncio.sleep(0.5)

    cfg = make_config(tmp_path / "cfg", edit)
    async with upstream_server(handler) as up:
        with running_proxy(tmp_path, config=cfg, env={"CHAT_PARTNER_URL": up.url}) as p:
            async with aiohttp.ClientSession() as s:
                async with s.post(
                    p.url + "/chat/upload", data=slow_lines(), headers={"Content-Type": "application/x-ndjson"}
                ) as r:
                    assert r.status == 200
                    assert await r.text() == "got 5 lines"
                async with s.get(p.url + "/chat/events") as r:
                    assert r.status == 200
                    assert (await r.read()).count(b"data: event") == 5
