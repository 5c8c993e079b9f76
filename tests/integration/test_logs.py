"""``POST /logs/`` end to end: the real proxy process, real sinks on 127.0.0.1 (an aiohttp
server, a file, a real rsyslogd), outages, a full spool and a SIGKILL.

Assertions on PII are counts ("how many raw values leaked"), so a failure never prints one.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from tests.helpers import ROOT, ProxyProcess, free_port, start_proxy

NDJSON = "application/x-ndjson"
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
NAMES = ["John Smith", "Maria Garcia", "Robert Johnson", "Emily Davis"]


# ---- helpers ------------------------------------------------------------------------------------
def write_config(workdir: Path, **spool: Any) -> Path:
    """The shipped config with a few spool settings changed (fast retries, a small bound ...)."""
    data = yaml.safe_load((ROOT / "config" / "proxy.yaml").read_text())
    data["detection"]["recognizers"] = str(ROOT / "config" / "recognizers.yaml")
    data["spool"].update(spool)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "proxy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def pii_record(n: int, **extra: Any) -> dict[str, Any]:
    name = NAMES[n % len(NAMES)]
    user = name.lower().replace(" ", ".")
    return {
        "n": n,
        "level": "error",
        "message": f"Customer {name} ({user}{n}@example.com) failed login from 198.51.100.{n % 200 + 20}",
        "client_ip": f"203.0.113.{n % 200 + 21}",
        "user_agent": UA,
        **extra,
    }


def raw_values(records: list[dict[str, Any]]) -> set[str]:
    """Every raw PII value the records carry: names, emails, full IPv4 addresses."""
    out: set[str] = set()
    for r in records:
        n = r["n"]
        name = NAMES[n % len(NAMES)]
        out |= {name, f"{name.lower().replace(' ', '.')}{n}@example.com"}
        out |= {f"198.51.100.{n % 200 + 20}", f"203.0.113.{n % 200 + 21}"}
    return out


def ndjson(records: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


async def post(
    session: aiohttp.ClientSession, proxy: ProxyProcess, body: bytes, ctype: str = NDJSON
) -> tuple[int, dict[str, Any], dict[str, str]]:
    data = io.BytesIO(body)  # bytes over 1 MiB make aiohttp warn (and warnings are errors here)
    async with session.post(proxy.url + "/logs/", data=data, headers={"Content-Type": ctype}) as r:
        payload = await r.json(content_type=None)
        return r.status, payload, dict(r.headers)


def fresh_session() -> aiohttp.ClientSession:
    """A new connection per request, so that the kernel spreads requests over the workers."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True), timeout=aiohttp.ClientTimeout(total=30)
    )


async def until(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def metric(proxy: ProxyProcess, name: str) -> float:
    """The value of ``name{sink="log_sink"}`` on the admin port (0 when absent)."""
    import urllib.request

    with urllib.request.urlopen(proxy.admin + "/metrics", timeout=5) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and 'sink="log_sink"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


async def until_metric(proxy: ProxyProcess, name: str, pred: Callable[[float], bool], timeout: float = 10) -> float:
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(metric, proxy, name)
        if pred(value):
            return value
        assert time.monotonic() < deadline, f"timed out waiting for metric {name} (last value {value})"
        await asyncio.sleep(0.1)


def sigkill_all(proxy: ProxyProcess) -> None:
    """SIGKILL the supervisor and its workers at once: a crash of the whole proxy."""
    pid = proxy.proc.pid
    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        children = []
    for p in [pid, *children]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    proxy.proc.wait(10)
    for p in children:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{p}").exists() and time.monotonic() < deadline:
            try:
                if Path(f"/proc/{p}/stat").read_text().split(") ", 1)[1].startswith("Z"):
                    break  # a zombie: dead, waiting for its (dead) parent's reaper
            except OSError:
                break
            time.sleep(0.02)


@dataclass
class Sink:
    """A real HTTP log sink on a fixed loopback port, started and stopped at will."""

    port: int = field(default_factory=free_port)
    batches: list[list[dict[str, Any]]] = field(default_factory=list)
    gate: asyncio.Event | None = None  # when set to an unset Event, batches are held (not answered)
    held: int = 0
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ingest"

    @property
    def records(self) -> list[dict[str, Any]]:
        return [r for b in self.batches for r in b]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.batches.append([json.loads(line) for line in body.splitlines() if line.strip()])
        if self.gate is not None and not self.gate.is_set():
            self.held += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.gate.wait(), 30)
        return web.Response(status=200)

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/ingest", self._handle)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@contextlib.asynccontextmanager
async def sink_server(sink: Sink | None = None, start: bool = True) -> AsyncIterator[Sink]:
    s = sink or Sink()
    if start:
        await s.start()
    try:
        yield s
    finally:
        if s.gate is not None:
            s.gate.set()
        await s.stop()


@contextlib.contextmanager
def proxy_running(workdir: Path, **kw: Any) -> Iterator[ProxyProcess]:
    p = start_proxy(workdir, **kw)
    try:
        yield p
    except BaseException:
        print("proxy log (value-free by design):\n" + p.log()[-4000:])
        raise
    finally:
        p.stop()


def assert_in_order_once_per_id(records: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any]) -> list[Any]:
    """Records may repeat (at least once) but only with their ``_record_id``; first deliveries
    must come in the order accepted. Returns the keys in first-delivery order."""
    first: dict[Any, str] = {}
    order: list[Any] = []
    for r in records:
        rid = r.get("_record_id")
        assert isinstance(rid, str) and rid, "every delivered record has a string _record_id"
        k = key(r)
        if k in first:
            assert first[k] == rid, "a redelivered record must keep its _record_id"
        else:
            first[k] = rid
            order.append(k)
    assert len(set(first.values())) == len(first), "_record_id must be unique per record"
    assert order == sorted(order), "records must arrive in the order they were accepted"
    return order


# ---- the log_sink policy, end to end ------------------------------------------------------------
async def test_logs_are_redacted_by_the_log_sink_rules(tmp_path: Path) -> None:
    record = {
        "message": "Customer Maria Garcia (maria.garcia@example.com) failed login from 198.51.100.23",
        "client_ip": "203.0.113.57",
        "ip": "2001:db8:85a3:8d3::7348",
        "remote_addr": "192.0.2.77",
        "user_agent": UA,
        "status": 500,
        "ok": False,
        "extra": None,
        "ratio": 0.25,
        "nested": {"note": "reach me at jane.doe@example.org", "tags": ["checkout", "bob@example.net"]},
        "_record_id": "client-chosen",
        "n": 1,
    }
    raws = ["Maria Garcia", "maria.garcia@example.com", "198.51.100.23", "203.0.113.57", "2001:db8:85a3:8d3::7348",
            "192.0.2.77", "jane.doe@example.org", "bob@example.net", "203.0.113.9", "Emily Davis"]  # fmt: skip
    sink_file = tmp_path / "log-sink.ndjson"
    with proxy_running(tmp_path) as proxy:
        async with aiohttp.ClientSession() as s:
            status, body, _ = await post(s, proxy, json.dumps(record).encode() + b"\n")
            assert status == 202 and body["accepted"] == 1
            text = b"Password reset for Emily Davis failed from 203.0.113.9\r\n\r\n"
            status, body, _ = await post(s, proxy, text, "text/plain; charset=utf-8")
            assert status == 202 and body["accepted"] == 1

            # a malformed line: 400 naming it, and nothing of that request is spooled
            bad = ndjson([{"n": 100, "message": "first"}]) + b'{"n": 101, "message": \n' + ndjson([{"n": 102}])
            status, body, _ = await post(s, proxy, bad)
            assert status == 400 and "line 2" in body["error"]["message"]
            # wrong content type, wrong method, a line over the 1 MiB limit
            status, _, _ = await post(s, proxy, b"{}", "application/json")
            assert status == 415
            async with s.get(proxy.url + "/logs/") as r:
                assert r.status == 405
            status, body, _ = await post(s, proxy, b"x" * (1024 * 1024 + 1), "text/plain")
            assert status == 413 and "line 1" in body["error"]["message"]

            status, body, _ = await post(s, proxy, ndjson([{"n": 3, "message": "after"}]))
            assert status == 202
        await until(lambda: sink_file.exists() and len(sink_file.read_text().splitlines()) >= 3, 15, "the sink file")
        assert await until_metric(proxy, "proxy_log_records_delivered_total", lambda v: v >= 3) == 3
        assert metric(proxy, "proxy_log_records_accepted_total") == 3
        await until_metric(proxy, "proxy_log_spool_depth_records", lambda v: v == 0)

    out = [json.loads(line) for line in sink_file.read_text().splitlines()]
    assert [r.get("n") for r in out] == [1, None, 3], "only the accepted requests, in order"
    got = out[0]
    assert set(got) == set(record), "every field is kept under its own key"
    assert got["client_ip"] == "203.0.113.0"
    assert got["ip"] == "2001:db8:85a3::"
    assert got["remote_addr"] == "192.0.2.0"
    assert got["user_agent"] == UA
    assert (got["status"], got["ok"], got["extra"], got["ratio"], got["n"]) == (500, False, None, 0.25, 1)
    assert got["message"].count("<PERSON>") == 1 and got["message"].count("<EMAIL_ADDRESS>") == 1
    assert got["message"].endswith("from 198.51.100.0")
    assert got["nested"]["note"] == "reach me at <EMAIL_ADDRESS>"
    assert got["nested"]["tags"] == ["checkout", "<EMAIL_ADDRESS>"]
    assert isinstance(got["_record_id"], str) and got["_record_id"] != "client-chosen"
    plain = out[1]
    assert set(plain) == {"message", "_record_id"}
    assert plain["message"] == "Password reset for <PERSON> failed from 203.0.113.0"
    assert len({r["_record_id"] for r in out}) == 3

    everything = "\n".join(
        p.read_text(errors="replace") for p in [sink_file, tmp_path / "audit.jsonl", *tmp_path.glob("proxy-*.log")]
    )
    spool_bytes = b"".join(p.read_bytes() for p in (tmp_path / "spool").iterdir() if p.is_file())
    leaks = sum(raw in everything for raw in raws) + sum(raw.encode() in spool_bytes for raw in raws)
    assert leaks == 0, "raw values reached the sink, the audit file, the proxy's log or the spool"
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert sum(1 for a in audit if a.get("destination") == "log_sink") >= 5


# ---- outages, a full spool ----------------------------------------------------------------------
async def test_sink_down_then_up_gets_every_record_in_order(tmp_path: Path) -> None:
    sink = Sink()
    config = write_config(tmp_path, retry_initial=0.05, retry_max=0.3)
    with proxy_running(tmp_path, config=config, workers=2, env={"LOG_SINK_URL": sink.url}) as proxy:
        sent = []
        async with fresh_session() as s:
            for k in range(12):
                batch = [pii_record(k * 5 + j) for j in range(5)]
                status, body, _ = await post(s, proxy, ndjson(batch))
                assert status == 202 and body["accepted"] == 5
                sent.extend(batch)
        await until_metric(proxy, "proxy_log_spool_depth_records", lambda v: v == 60)
        await until_metric(proxy, "proxy_log_spool_oldest_age_seconds", lambda v: v > 0)
        await until_metric(proxy, "proxy_log_records_retried_total", lambda v: v > 0)
        assert metric(proxy, "proxy_log_sink_up") == 0
        assert metric(proxy, "proxy_log_forwarder_leader") == 1, "exactly one worker delivers"

        async with sink_server(sink):
            await until(lambda: len({r["n"] for r in sink.records}) == 60, 20, "every record at the sink")
            await until_metric(proxy, "proxy_log_spool_depth_records", lambda v: v == 0)
            assert metric(proxy, "proxy_log_records_delivered_total") >= 60
            assert metric(proxy, "proxy_log_sink_up") == 1
    order = assert_in_order_once_per_id(sink.records, lambda r: r["n"])
    assert order == [r["n"] for r in sent]
    leaks = sum(raw in json.dumps(sink.records) for raw in raw_values(sent))
    assert leaks == 0, "raw values reached the sink"


async def test_full_spool_answers_507_and_recovers_when_the_sink_drains(tmp_path: Path) -> None:
    sink = Sink()
    config = write_config(tmp_path, max_bytes=4000, retry_after=2, retry_initial=0.05, retry_max=0.3)
    with proxy_running(tmp_path, config=config, env={"LOG_SINK_URL": sink.url}) as proxy:
        accepted: list[dict[str, Any]] = []
        refused = None
        async with aiohttp.ClientSession() as s:
            for k in range(60):
                batch = [pii_record(k * 4 + j) for j in range(4)]
                status, body, headers = await post(s, proxy, ndjson(batch))
                if status == 507:
                    refused = (body, headers)
                    break
                assert status == 202
                accepted.extend(batch)
            assert refused is not None, "the spool never filled up"
            body, headers = refused
            assert body["error"]["code"] == "spool_full" and headers.get("Retry-After") == "2"
            assert accepted, "some records fit before the spool was full"
            assert await until_metric(proxy, "proxy_log_records_refused_total", lambda v: v > 0) == 4

            async with sink_server(sink):
                await until(lambda: len({r["n"] for r in sink.records}) == len(accepted), 20, "the spool to drain")
                more = [pii_record(1000 + j) for j in range(4)]
                status, _, _ = await post(s, proxy, ndjson(more))
                assert status == 202, "accepted again once the sink drained the spool"
                accepted.extend(more)
                await until(lambda: len({r["n"] for r in sink.records}) == len(accepted), 20, "the last records")
    order = assert_in_order_once_per_id(sink.records, lambda r: r["n"])
    assert order == [r["n"] for r in accepted]


# ---- crash -----------------------------------------------------------------------------------------
async def test_sigkill_right_after_202_loses_nothing(tmp_path: Path) -> None:
    sink = Sink(gate=asyncio.Event())  # the sink receives the first batch but does not answer it
    config = write_config(tmp_path, retry_initial=0.05, retry_max=0.3)
    env = {"LOG_SINK_URL": sink.url}
    async with sink_server(sink):
        metrics_dir = tmp_path / "metrics-killed"  # ours, so nothing is left in /tmp after the kill
        metrics_dir.mkdir()
        proxy = start_proxy(
            tmp_path, config=config, workers=2, env={**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
        )
        accepted: list[tuple[int, int]] = []  # (sender, request number) of every 202
        unknown: list[tuple[int, int]] = []  # requests cut by the kill: accepted or not, unknown
        killed = asyncio.Event()

        async def sender(sid: int) -> None:
            async with fresh_session() as s:
                for k in range(200):
                    if killed.is_set():
                        return
                    body = ndjson([{"sender": sid, "k": k, "j": j, "message": f"event {j} of request {k}"}
                                   for j in range(4)])  # fmt: skip
                    try:
                        status, _, _ = await post(s, proxy, body)
                    except (aiohttp.ClientError, TimeoutError):
                        unknown.append((sid, k))
                        return
                    assert status == 202
                    accepted.append((sid, k))
                    if not killed.is_set() and sink.held and len(accepted) >= 12:
                        sigkill_all(proxy)  # right after this 202
                        killed.set()
                        return

        try:
            await asyncio.wait_for(asyncio.gather(sender(0), sender(1)), 60)
        finally:
            if not killed.is_set():
                proxy.stop(signal.SIGKILL)
        assert killed.is_set(), "the proxy was not killed"
        delivered_before = {(r["sender"], r["k"], r["j"]) for r in sink.records}
        sink.gate.set()  # type: ignore[union-attr]
        sink.gate = None

        with proxy_running(tmp_path, config=config, env=env):  # the same SPOOL_DIR
            want = {(sid, k, j) for sid, k in accepted for j in range(4)}
            await until(lambda: want <= {(r["sender"], r["k"], r["j"]) for r in sink.records}, 30, "redelivery")
            await asyncio.sleep(0.3)

    got = sink.records
    for sid in (0, 1):
        mine = [r for r in got if r["sender"] == sid]
        assert_in_order_once_per_id(mine, lambda r: (r["k"], r["j"]))
    keys = [(r["sender"], r["k"], r["j"]) for r in got]
    assert sum(keys.count(x) > 1 for x in delivered_before) > 0, "the unanswered batch was delivered again"
    per_request: dict[tuple[int, int], int] = {}
    for sid, k, _ in set(keys):
        per_request[(sid, k)] = per_request.get((sid, k), 0) + 1
    assert all(v == 4 for v in per_request.values()), "a request is spooled whole or not at all"
    assert set(per_request) <= set(accepted) | set(unknown), "nothing that was never sent"


# ---- rsyslog --------------------------------------------------------------------------------------
RSYSLOG_CONF = """\
global(workDirectory="{work}" maxMessageSize="64k")
module(load="imtcp")
template(name="msgonly" type="string" string="%msg%\\n")
ruleset(name="proxy") {{
  action(type="omfile" file="{out}" template="msgonly")
}}
input(type="imtcp" port="{port}" address="127.0.0.1" ruleset="proxy")
"""


@contextlib.contextmanager
def rsyslogd(workdir: Path) -> Iterator[tuple[int, Path]]:
    exe = shutil.which("rsyslogd") or ("/usr/sbin/rsyslogd" if Path("/usr/sbin/rsyslogd").exists() else None)
    if exe is None:
        pytest.fail("rsyslogd is not installed: `make test` installs it (make system-deps)")
    workdir.mkdir(parents=True, exist_ok=True)
    port, out = free_port(), workdir / "received.log"
    conf = workdir / "rsyslog.conf"
    conf.write_text(RSYSLOG_CONF.format(work=workdir, out=out, port=port))
    log = open(workdir / "rsyslogd.out", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [exe, "-n", "-f", str(conf), "-i", str(workdir / "rsyslogd.pid")], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            assert proc.poll() is None, "rsyslogd exited at start"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "rsyslogd did not listen in time"
                time.sleep(0.05)
        yield port, out
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


async def test_rsyslog_receives_redacted_records_over_tcp(tmp_path: Path) -> None:
    with rsyslogd(tmp_path / "rsyslog") as (port, out):
        env = {"LOG_SINK_SYSLOG_HOST": "127.0.0.1", "LOG_SINK_SYSLOG_PORT": str(port)}
        records = [pii_record(n) for n in range(12)]
        with proxy_running(tmp_path / "proxy", env=env) as proxy:
            async with aiohttp.ClientSession() as s:
                for k in range(3):
                    status, _, _ = await post(s, proxy, ndjson(records[k * 4 : k * 4 + 4]))
                    assert status == 202
                line = "Login of Robert Johnson from 203.0.113.250 failed, mail robert.johnson99@example.com"
                status, _, _ = await post(s, proxy, line.encode() + b"\n", "text/plain")
                assert status == 202

            def lines() -> list[str]:
                return out.read_text().splitlines() if out.exists() else []

            await until(lambda: len(lines()) >= 13, 20, "rsyslog to write the records")
            await until_metric(proxy, "proxy_log_records_delivered_total", lambda v: v == 13)
        text = out.read_text()
    got = [json.loads(x) for x in text.splitlines()]
    assert len(got) == 13
    assert [r.get("n") for r in got[:12]] == list(range(12))
    assert len({r["_record_id"] for r in got}) == 13
    assert all(r["client_ip"].endswith(".0") and r["user_agent"] == UA for r in got[:12])
    assert all("<EMAIL_ADDRESS>" in r["message"] for r in got), "every message had an email, now a tag"
    raws = raw_values(records) | {"Robert Johnson", "203.0.113.250", "robert.johnson99@example.com"}
    leaks = sum(raw in text for raw in raws)
    assert leaks == 0, "raw emails, names or full IPs reached rsyslog's file"
