"""Shared test helpers: free ports, a real proxy process, a real aiohttp upstream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from proxy.redaction import StreamRedactor

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TEST_KEY = "test-pseudonym-key"
#: The vault's AES-256-GCM key in the tests (64 hex characters).
TEST_VAULT_KEY = "5f" * 32


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ProxyProcess:
    proc: subprocess.Popen[bytes]
    port: int
    admin_port: int
    workdir: Path
    log_path: Path
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def audit(self) -> list[dict[str, Any]]:
        path = self.workdir / "audit.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def wait_ready(admin_url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"proxy exited with {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(admin_url + "/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError("proxy not ready in time")


def start_proxy(
    workdir: Path,
    *,
    config: str | Path = ROOT / "config" / "proxy.yaml",
    env: dict[str, str] | None = None,
    workers: int = 1,
    extra_args: list[str] | None = None,
    wait: bool = True,
) -> ProxyProcess:
    """Start ``python -m proxy serve`` for real, with its files under ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    port, admin_port = free_port(), free_port()
    full_env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CHAT_PARTNER_URL", "LOG_SINK_URL", "LOG_SINK_FILE", "PROMETHEUS_MULTIPROC_DIR")
    }
    full_env.update(
        {
            "PSEUDONYM_KEY": TEST_KEY,
            "VAULT_KEY": TEST_VAULT_KEY,
            "AUDIT_FILE": str(workdir / "audit.jsonl"),
            "SPOOL_DIR": str(workdir / "spool"),
            "LOG_SINK_FILE": str(workdir / "log-sink.ndjson"),
            "PYTHONPATH": str(ROOT),
        }
    )
    full_env.update(env or {})
    log_path = workdir / f"proxy-{port}.log"
    cmd = [
        PYTHON, "-m", "proxy", "serve", "--config", str(config), "--port", str(port),
        "--admin-port", str(admin_port), "--workers", str(workers), *(extra_args or []),
    ]  # fmt: skip
    with open(log_path, "wb") as logf:
        proc = subprocess.Popen(cmd, cwd=workdir, env=full_env, stdout=logf, stderr=subprocess.STDOUT)
    p = ProxyProcess(proc, port, admin_port, workdir, log_path, full_env)
    if wait:
        try:
            wait_ready(p.admin, proc)
        except Exception:
            p.stop(signal.SIGKILL)
            raise RuntimeError("proxy did not start:\n" + p.log()[-3000:]) from None
    return p


@contextlib.contextmanager
def running_proxy(workdir: Path, **kw: Any) -> Iterator[ProxyProcess]:
    p = start_proxy(workdir, **kw)
    try:
        yield p
    finally:
        p.stop()


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: CIMultiDict[str]
    body: bytes


@dataclass
class Upstream:
    """A real aiohttp upstream on 127.0.0.1 that records what it received."""

    url: str = ""
    received: list[Recorded] = field(default_factory=list)
    handler: Callable[[web.Request, bytes], Any] | None = None


@contextlib.asynccontextmanager
async def upstream_server(handler: Callable[[web.Request, bytes], Any] | None = None) -> AsyncIterator[Upstream]:
    up = Upstream(handler=handler)

    async def record(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        up.received.append(
            Recorded(request.method, request.path, request.query_string, CIMultiDict(request.headers), body)
        )
        if up.handler is not None:
            result = up.handler(request, body)
            if asyncio.iscoroutine(result):
                result = await result
            if result is not None:
                return result  # type: ignore[no-any-return]
        return web.Response(body=body, content_type=request.content_type or "application/octet-stream")

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", record)
    async with serve_app(app) as up.url:
        yield up


@contextlib.asynccontextmanager
async def serve_app(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` for real on a free 127.0.0.1 port; yields its base URL, cleans up after."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def drive(red: StreamRedactor, chunks: list[bytes]) -> bytes:
    """A stream redactor fed ``chunks`` then flushed, in-process: what it let out."""

    async def go() -> bytes:
        out = b""
        for c in chunks:
            out += await red.feed(c)
        return out + await red.flush()

    return asyncio.run(go())
