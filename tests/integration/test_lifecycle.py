"""serve's process model for real: drain on SIGTERM, reload on SIGHUP, restart of a dead worker."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from tests.helpers import ProxyProcess, start_proxy, upstream_server
from tests.integration.conftest import make_config


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


async def readyz(p: ProxyProcess) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s:
        r = await s.get(p.admin + "/readyz")
        data: dict[str, Any] = await r.json()
        data["status"] = r.status
        return data


async def wait_for(cond: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await cond():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached in time")


async def test_sigterm_drains_in_flight_then_exits_0(tmp_path: Path) -> None:
    async def slow(request: web.Request, body: bytes) -> web.Response:
        await asyncio.sleep(1.5)
        return web.Response(text="done")

    async with upstream_server(slow) as up:
        p = start_proxy(tmp_path, env={"CHAT_PARTNER_URL": up.url}, workers=2)
        try:
            async with aiohttp.ClientSession() as s:
                pending = asyncio.ensure_future(s.post(p.url + "/chat/m", json={"conversation_id": "c"}))
                await wait_for(lambda: asyncio.sleep(0, len(up.received) == 1), 10)
                p.proc.send_signal(signal.SIGTERM)
                resp = await pending
                assert resp.status == 200
                assert await resp.text() == "done"
            code = await asyncio.get_running_loop().run_in_executor(None, p.proc.wait, 40)
            assert code == 0
        finally:
            p.stop()


async def test_sighup_reload_valid_and_invalid(tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "cfg", lambda d: None)
    async with upstream_server() as up:
        p = start_proxy(tmp_path, config=cfg, env={"CHAT_PARTNER_URL": up.url}, workers=2)
        try:
            msg = {"conversation_id": "c", "text": "mail maria.garcia@example.com"}
            async with aiohttp.ClientSession() as s:
                r = await s.post(p.url + "/chat/m", json=msg)
                assert (await r.json())["text"] == "mail <EMAIL_ADDRESS>"

                # an invalid config is refused and the old one keeps serving
                good = cfg.read_text()
                cfg.write_text(good.replace("default_field: drop", "default_field: dorp"))
                p.proc.send_signal(signal.SIGHUP)
                await wait_for(lambda: asyncio.sleep(0, "new config refused" in p.log()), 30)
                r = await s.post(p.url + "/chat/m", json=msg)
                assert r.status == 200
                assert (await r.json())["text"] == "mail <EMAIL_ADDRESS>"
                assert (await readyz(p))["generation"] == 0

                # a valid one replaces the workers one by one
                data = yaml.safe_load(good)
                data["destinations"]["chat_partner"]["entities"]["EMAIL_ADDRESS"] = "mask"
                cfg.write_text(yaml.safe_dump(data, sort_keys=False))
                before = set(children(p.proc.pid))
                p.proc.send_signal(signal.SIGHUP)

                async def reloaded() -> bool:
                    state = await readyz(p)
                    return bool(state["generation"] == 1 and state["status"] == 200)

                await wait_for(reloaded, 120)
                r = await s.post(p.url + "/chat/m", json=msg)
                text = (await r.json())["text"]
                assert text.startswith("mail ****") and text.endswith(".com")
                assert not before & set(children(p.proc.pid))
        finally:
            assert p.stop() == 0
    assert "maria" not in p.log()


async def test_dead_worker_is_restarted(tmp_path: Path) -> None:
    p = start_proxy(tmp_path, workers=2)
    try:
        victims = children(p.proc.pid)
        assert len(victims) == 2
        os.kill(victims[0], signal.SIGKILL)

        async def back() -> bool:
            state = await readyz(p)
            return bool(state["restarts"] == 1 and state["status"] == 200)

        await wait_for(back, 120)
        async with aiohttp.ClientSession() as s:
            for _ in range(6):
                r = await s.post(p.url + "/chat/m", json={"conversation_id": "c", "text": "hi"})
                await r.read()
                assert r.status == 200
    finally:
        assert p.stop() == 0
