"""The detection process of a worker, for real: it crashes or runs away, the worker fails closed
(503, nothing forwarded), kills and restarts it, and serves again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from tests.helpers import ROOT, ProxyProcess, start_proxy, upstream_server
from tests.integration.conftest import make_config
from tests.integration.test_lifecycle import children

MESSAGE = {"conversation_id": "c-1", "text": "mail maria.garcia@example.com"}
REDACTED = "mail <EMAIL_ADDRESS>"


def detection_pids(p: ProxyProcess) -> list[int]:
    """The detection processes: children of the workers running ``proxy.detection_child``."""
    out = []
    for worker in children(p.proc.pid):
        for pid in children(worker):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"proxy.detection_child" in cmdline:
                out.append(pid)
    return out


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def post(s: aiohttp.ClientSession, p: ProxyProcess, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    r = await s.post(p.url + "/chat/messages", json=body)
    return r.status, await r.json()


async def wait_served(s: aiohttp.ClientSession, p: ProxyProcess, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = await post(s, p, MESSAGE)
        if status == 200:
            return body
        assert status == 503, status
        await asyncio.sleep(0.2)
    raise AssertionError("the worker did not serve again in time")


async def readyz_status(p: ProxyProcess) -> int:
    async with aiohttp.ClientSession() as s:
        return (await s.get(p.admin + "/readyz")).status


async def metric(p: ProxyProcess, name: str) -> float:
    async with aiohttp.ClientSession() as s:
        text = await (await s.get(p.admin + "/metrics")).text()
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_killed_detection_process_fails_closed_then_is_restarted(tmp_path: Path) -> None:
    async with upstream_server() as up:
        p = start_proxy(tmp_path, env={"CHAT_PARTNER_URL": up.url})
        try:
            (old,) = detection_pids(p)
            async with aiohttp.ClientSession() as s:
                assert (await post(s, p, MESSAGE))[1]["text"] == REDACTED
                up.received.clear()
                os.kill(old, signal.SIGKILL)
                status, body = await post(s, p, MESSAGE)
                assert status == 503, body
                assert (await readyz_status(p)) == 503  # not ready while detection restarts
                assert body["error"]["code"] in ("detection_failed", "detection_timeout")
                assert "maria" not in str(body)
                assert up.received == []  # nothing went out while detection was down
                assert (await wait_served(s, p))["text"] == REDACTED
            assert (await readyz_status(p)) == 200
            (new,) = detection_pids(p)
            assert new != old
            assert await metric(p, "proxy_detection_restarts_total") >= 1
            assert b"maria" not in up.received[-1].body
        finally:
            p.stop()


#: Catastrophic backtracking in Python's ``regex`` (as Presidio uses it) on a run of x's:
#: minutes for 44 of them.
RUNAWAY = {"conversation_id": "c-1", "text": "x" * 44}


def runaway_config(tmp_path: Path, deadline: float, kill: float) -> Path:
    """The shipped config plus an ops-written rule with catastrophic backtracking."""
    rules = yaml.safe_load((ROOT / "config" / "recognizers.yaml").read_text())
    rules["recognizers"].append(
        {
            "name": "Runaway rule",
            "type": "custom",
            "supported_language": "en",
            "supported_entity": "RUNAWAY",
            "patterns": [{"name": "backtracks", "regex": "(x|xx)+z", "score": 0.9}],
        }
    )
    rules_path = tmp_path / "recognizers.yaml"
    rules_path.write_text(yaml.safe_dump(rules, sort_keys=False))

    def edit(d: dict[str, Any]) -> None:
        d["detection"]["recognizers"] = str(rules_path)
        d["timeouts"]["detection_deadline"] = deadline
        d["timeouts"]["detection_kill"] = kill

    return make_config(tmp_path / "cfg", edit)


async def test_runaway_batch_is_killed_at_the_deadline(tmp_path: Path) -> None:
    """An ops-written rule with catastrophic backtracking: the batch overruns the deadline, the
    callers get 503, and the stuck process is killed and replaced instead of blocking forever."""
    config = runaway_config(tmp_path, deadline=1.0, kill=2.0)
    async with upstream_server() as up:
        p = start_proxy(tmp_path, config=config, env={"CHAT_PARTNER_URL": up.url})
        try:
            (old,) = detection_pids(p)
            async with aiohttp.ClientSession() as s:
                started = time.monotonic()
                status, body = await post(s, p, RUNAWAY)
                assert status == 503, body
                assert body["error"]["code"] == "detection_timeout"
                assert time.monotonic() - started < 10
                assert up.received == []
                for _ in range(100):  # the runaway process is killed, not left spinning
                    if not alive(old):
                        break
                    await asyncio.sleep(0.1)
                assert not alive(old)
                assert (await wait_served(s, p))["text"] == REDACTED
            assert await metric(p, "proxy_detection_failures_total") >= 1
        finally:
            p.stop()


async def test_thread_isolation_still_redacts(tmp_path: Path) -> None:
    """``detection.isolation: thread`` runs the detector inside the worker: no child process."""
    config = make_config(tmp_path / "cfg", lambda d: d["detection"].update(isolation="thread"))
    async with upstream_server() as up:
        p = start_proxy(tmp_path, config=config, env={"CHAT_PARTNER_URL": up.url})
        try:
            assert detection_pids(p) == []
            async with aiohttp.ClientSession() as s:
                status, body = await post(s, p, MESSAGE)
            assert (status, body["text"]) == (200, REDACTED)
            assert b"maria" not in up.received[-1].body
        finally:
            p.stop()


async def test_detection_process_dies_with_its_worker(tmp_path: Path) -> None:
    """A worker killed while its detector is stuck in a runaway batch takes the detector along:
    the kernel kills it (PR_SET_PDEATHSIG), so no orphan keeps burning a CPU."""
    config = runaway_config(tmp_path, deadline=60.0, kill=60.0)
    async with upstream_server() as up:
        p = start_proxy(tmp_path, config=config, env={"CHAT_PARTNER_URL": up.url})
        try:
            (old,) = detection_pids(p)
            (worker,) = children(p.proc.pid)
            async with aiohttp.ClientSession() as s:
                stuck = asyncio.ensure_future(s.post(p.url + "/chat/messages", json=RUNAWAY))
                await asyncio.sleep(1.0)  # the batch is running
                assert alive(old)
                os.kill(worker, signal.SIGKILL)
                for _ in range(100):
                    if not alive(old):
                        break
                    await asyncio.sleep(0.1)
                assert not alive(old)
                with contextlib.suppress(aiohttp.ClientError):  # its connection died with the worker
                    await asyncio.wait_for(stuck, 10)
            assert up.received == []
        finally:
            p.stop()


async def test_slow_batch_misses_the_deadline_but_is_not_killed(tmp_path: Path) -> None:
    """A batch that takes longer than the deadline but less than the kill limit: its caller gets
    503 at the deadline, the detection process is kept (no model reload) and serves on."""
    config = runaway_config(tmp_path, deadline=0.5, kill=60.0)
    async with upstream_server() as up:
        p = start_proxy(tmp_path, config=config, env={"CHAT_PARTNER_URL": up.url})
        try:
            (old,) = detection_pids(p)
            async with aiohttp.ClientSession() as s:
                # ~5 s of backtracking here: past the 0.5 s deadline, far from the kill limit
                status, body = await post(s, p, {"conversation_id": "c-1", "text": "x" * 35})
                assert (status, body["error"]["code"]) == (503, "detection_timeout")
                assert (await wait_served(s, p, timeout=60))["text"] == REDACTED
            assert detection_pids(p) == [old]
            assert await metric(p, "proxy_detection_restarts_total") == 0
            assert up.received and b"x" * 35 not in b"".join(r.body for r in up.received)
        finally:
            p.stop()
