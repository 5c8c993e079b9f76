"""Headless Chromium driven over the DevTools protocol (CDP) with aiohttp's WebSocket client:
Debian's /usr/bin/chromium, a fresh profile, no background network (the machine is closed)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio", "--window-size=1200,1000",
)  # fmt: skip


class Page:
    """One page target: ``call`` a CDP method, ``evaluate`` JavaScript; console errors and
    uncaught exceptions are collected in ``errors`` (their text only)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            if "id" in data:
                fut = self._waiting.pop(data["id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(data)
            elif data.get("method") == "Runtime.exceptionThrown":
                d = data["params"]["exceptionDetails"]
                self.errors.append(d.get("exception", {}).get("description") or d.get("text", "exception"))
            elif data.get("method") == "Runtime.consoleAPICalled":
                kind = data["params"]["type"]
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in data["params"]["args"])
                if kind == "error":
                    self.errors.append(text)
                elif kind == "warning":
                    self.warnings.append(text)

    async def call(self, method: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        i = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[i] = fut
        await self.ws.send_str(json.dumps({"id": i, "method": method, "params": params}))
        data = await asyncio.wait_for(fut, timeout)
        if "error" in data:
            raise RuntimeError(f"CDP {method} failed: {data['error'].get('message')}")
        return data.get("result", {})  # type: ignore[no-any-return]

    async def evaluate(self, expression: str, timeout: float = 30) -> Any:
        r = await self.call("Runtime.evaluate", timeout, expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError("page script failed: " + r["exceptionDetails"].get("text", ""))
        return r["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"page never satisfied: {expression}")
            await asyncio.sleep(0.1)

    async def type_text(self, selector: str, text: str) -> None:
        """Focus ``selector`` and type ``text`` key by key (keyDown with text, keyUp)."""
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        for ch in text:
            await self.call("Input.dispatchKeyEvent", type="keyDown", text=ch, unmodifiedText=ch, key=ch)
            await self.call("Input.dispatchKeyEvent", type="keyUp", key=ch)

    async def navigate(self, url: str, ready: str = "document.readyState === 'complete'") -> None:
        await self.call("Page.navigate", url=url)
        await self.wait_for(ready)

    async def screenshot(self, path: Path) -> Path:
        import base64

        r = await self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(r["data"]))
        return path


@contextlib.asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[Page]:
    """Start headless Chromium on a fresh profile, yield its first page."""
    profile.mkdir(parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError("chromium did not start")
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        async with aiohttp.ClientSession() as s:
            targets = []
            while not targets:
                async with s.get(f"http://127.0.0.1:{port}/json/list") as r:
                    targets = [t for t in await r.json() if t.get("type") == "page"]
                if not targets:
                    await asyncio.sleep(0.1)
            async with s.ws_connect(targets[0]["webSocketDebuggerUrl"], max_msg_size=64 * 1024 * 1024) as ws:
                page = Page(ws)
                await page.call("Page.enable")
                await page.call("Runtime.enable")
                try:
                    yield page
                finally:
                    page._reader.cancel()
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
