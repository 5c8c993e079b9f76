"""Log ingest benchmark: records per second accepted (``202``, durably spooled) and delivered
(received by an HTTP sink), with the ``log_sink`` redaction, then the same records with
redaction turned off (a copy of the shipped config whose ``log_sink`` keeps every field and scans
nothing), in one run. Then, with redaction off so that the sink is what limits delivery, the
file sink next to the NATS JetStream sink (a real ``nats-server -js`` on loopback, stream created
by the proxy): ``--sink-records`` each; and the NATS sink with redaction on.

Loopback only: the proxy is started as a real process on 127.0.0.1 and the sink is an aiohttp
server in this process (a file, a nats-server child). Bounded: ``--records`` /
``--sink-records`` per mode and ``--timeout`` seconds per mode.

    .venv/bin/python -m benchmarks.ingest [--records 3000] [--sink-records 20000] [--batch 50]
                                          [--concurrency 4] [--workers N] [--timeout 120]
                                          [--modes http nats file]

Prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
NDJSON = "application/x-ndjson"

FIRST = ["John", "Maria", "Robert", "Emily", "Michael", "Sarah", "David", "Laura"]
LAST = ["Smith", "Garcia", "Johnson", "Davis", "Brown", "Miller", "Wilson", "Moore"]
PATHS = ["/api/orders", "/api/cart", "/login", "/api/profile", "/checkout"]
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
]


def make_records(n: int, seed: int = 6) -> list[dict[str, Any]]:
    """Synthetic diagnostic records: an access/error line with a name, an email and IPs."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        status = rng.choice([200, 200, 200, 404, 500])
        out.append(
            {
                "seq": i,
                "level": "error" if status == 500 else "info",
                "path": rng.choice(PATHS),
                "status": status,
                "latency_ms": round(rng.uniform(1, 900), 1),
                "client_ip": f"203.0.113.{rng.randint(1, 254)}",
                "user_agent": rng.choice(AGENTS),
                "message": (
                    f"request by {first} {last} <{first.lower()}.{last.lower()}{i}@example.com> "
                    f"from 198.51.100.{rng.randint(1, 254)} answered {status}"
                ),
            }
        )
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(workdir: Path, redact: bool, fast_retry: bool = False) -> Path:
    data = yaml.safe_load((ROOT / "config" / "proxy.yaml").read_text())
    data["detection"]["recognizers"] = str(ROOT / "config" / "recognizers.yaml")
    if fast_retry:  # the backlog phase: the sink is back within 0.2 s of coming back
        data["spool"].update(retry_initial=0.05, retry_max=0.2)
    if not redact:
        data["destinations"]["log_sink"] = {"default_field": "keep", "fields": {}}
    path = workdir / ("proxy-redact.yaml" if redact else "proxy-plain.yaml")
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@dataclass
class Proxy:
    proc: subprocess.Popen[bytes]
    url: str
    admin: str


@contextlib.contextmanager
def proxy(workdir: Path, config: Path, sink_env: dict[str, str], workers: int, timeout: float) -> Iterator[Proxy]:
    port, admin = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOG_SINK_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(
        {
            "PSEUDONYM_KEY": env.get("PSEUDONYM_KEY") or "benchmark-only-key",
            "VAULT_KEY": env.get("VAULT_KEY") or "be" * 32,
            "SPOOL_DIR": str(workdir / "spool"),
            "AUDIT_FILE": str(workdir / "audit.jsonl"),
            "PYTHONPATH": str(ROOT),
            **sink_env,
        }
    )
    cmd = [sys.executable, "-m", "proxy", "serve", "--config", str(config), "--port", str(port),
           "--admin-port", str(admin), "--workers", str(workers)]  # fmt: skip
    with open(workdir / "proxy.log", "wb") as log:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    p = Proxy(proc, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin}")
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the proxy exited with {proc.returncode}; see {workdir / 'proxy.log'}")
            try:
                with urllib.request.urlopen(p.admin + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("the proxy did not get ready in time")
            time.sleep(0.1)
        yield p
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Sink:
    """Counts the distinct records it receives and when the last one came."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.seen: set[str] = set()
        self.done = asyncio.Event()
        self.finished_at = 0.0
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        for line in body.splitlines():
            if line.strip():
                self.seen.add(json.loads(line)["_record_id"])
        if len(self.seen) >= self.expected and not self.done.is_set():
            self.finished_at = time.perf_counter()
            self.done.set()
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_post("/ingest", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}/ingest"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@dataclass
class Result:
    mode: str
    records: int
    accepted: int
    delivered: int
    accept_seconds: float
    deliver_seconds: float
    request_ms: list[float]
    refused: int
    #: Backlog phase (file / NATS modes): records accepted with the sink down, then the time from
    #: the first to the last of them at the sink once it is back.
    drain_records: int = 0
    drain_seconds: float = 0.0

    @property
    def drain_per_s(self) -> float:
        return self.drain_records / self.drain_seconds if self.drain_seconds else 0.0

    @property
    def accepted_per_s(self) -> float:
        return self.accepted / self.accept_seconds if self.accept_seconds else 0.0

    @property
    def delivered_per_s(self) -> float:
        return self.delivered / self.deliver_seconds if self.deliver_seconds else 0.0


async def _send(
    url: str, records: list[dict[str, Any]], batch: int, concurrency: int, deadline: float
) -> tuple[int, int, list[float], float]:
    bodies = [
        b"".join(json.dumps(r).encode() + b"\n" for r in records[i : i + batch]) for i in range(0, len(records), batch)
    ]
    queue = list(reversed(bodies))
    accepted = refused = 0
    lat: list[float] = []
    last = time.perf_counter()

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal accepted, refused, last
        while queue and time.perf_counter() < deadline:
            body = queue.pop()
            n = body.count(b"\n")
            t0 = time.perf_counter()
            async with session.post(url + "/logs/", data=body, headers={"Content-Type": NDJSON}) as r:
                await r.read()
                status = r.status
            lat.append((time.perf_counter() - t0) * 1000)
            if status == 202:
                accepted += n
                last = time.perf_counter()
            else:
                refused += n

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    return accepted, refused, lat, last


class FileWatch:
    """Counts the records the file sink wrote (whole lines) and when the last one came."""

    def __init__(self, path: Path, expected: int) -> None:
        self.path, self.expected = path, expected
        self.count = 0
        self.first_at = 0.0
        self.finished_at = 0.0
        self.done = asyncio.Event()
        self._offset = 0

    def env(self) -> dict[str, str]:
        return {"LOG_SINK_FILE": str(self.path)}

    def _read(self) -> int:
        if not self.path.exists():
            return 0
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            chunk = f.read()
        whole = chunk.rfind(b"\n") + 1
        self._offset += whole
        return chunk[:whole].count(b"\n")

    async def watch(self) -> None:
        while not self.done.is_set():
            self.count += await asyncio.to_thread(self._read)
            if self.count and not self.first_at:
                self.first_at = time.perf_counter()
            if self.count >= self.expected:
                self.finished_at = time.perf_counter()
                self.done.set()
                return
            await asyncio.sleep(0.01)


class NatsWatch:
    """A real ``nats-server -js`` on loopback; counts the messages of the stream the proxy
    creates (the shipped defaults: subject ``logs.redacted``, stream ``REDACTED_LOGS``)."""

    def __init__(self, workdir: Path, expected: int) -> None:
        self.expected = expected
        self.base = 0  # messages already in the stream before this phase
        self.port = free_port()
        self.store = workdir / "jetstream"
        self.count = 0
        self.first_at = 0.0
        self.finished_at = 0.0
        self.done = asyncio.Event()
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_server()

    def start_server(self) -> None:
        exe = shutil.which("nats-server") or "/usr/sbin/nats-server"
        self.proc = subprocess.Popen(
            [exe, "-js", "-sd", str(self.store), "-a", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.5):
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("nats-server did not start")
            time.sleep(0.05)

    def phase(self, expected: int) -> None:
        """A new phase: count ``expected`` more messages from what the stream holds now."""
        self.base, self.expected, self.first_at, self.finished_at = self.count, expected, 0.0, 0.0
        self.done = asyncio.Event()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {"LOG_SINK_NATS_URL": self.url}

    async def watch(self) -> None:
        import nats
        import nats.js.errors

        while not self.done.is_set():
            try:
                nc = await nats.connect(self.url, allow_reconnect=False, connect_timeout=1)
            except Exception:
                await asyncio.sleep(0.05)  # the server is down (backlog phase)
                continue
            try:
                js = nc.jetstream(timeout=5)
                while not self.done.is_set() and nc.is_connected:
                    try:
                        self.count = (await js.stream_info("REDACTED_LOGS")).state.messages
                    except nats.js.errors.NotFoundError:
                        self.count = 0
                    got = self.count - self.base
                    if got > 0 and not self.first_at:
                        self.first_at = time.perf_counter()
                    if got >= self.expected:
                        self.finished_at = time.perf_counter()
                        self.done.set()
                    await asyncio.sleep(0.02)
            except Exception:
                await asyncio.sleep(0.05)
            finally:
                with contextlib.suppress(Exception):
                    await nc.close()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _backlog(
    p: Proxy,
    watch: FileWatch | NatsWatch,
    watcher: asyncio.Task[None],
    work: Path,
    records: list[dict[str, Any]],
    batch: int,
    concurrency: int,
    timeout: float,
) -> tuple[int, float]:
    """The sink goes down, ``records`` are accepted into the spool, the sink comes back: the
    rate at which the forwarder drains that backlog is the sink's own delivery rate."""
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher
    if isinstance(watch, NatsWatch):
        watch.stop()
        watch.phase(len(records))
    else:
        live = watch.path.parent
        live.rename(work / "sink-live")
        live.write_bytes(b"")  # a file where the sink's directory was: every write fails (ENOTDIR)
        watch = FileWatch(watch.path, len(records))
    deadline = time.perf_counter() + timeout
    accepted, _, _, _ = await _send(p.url, records, batch, concurrency, deadline)
    await asyncio.sleep(1.0)  # the forwarder is failing and backing off (retry_max 0.2 s here)
    if isinstance(watch, NatsWatch):
        watch.start_server()
    else:
        watch.path.parent.unlink()  # the forwarder makes the directory again
    task = asyncio.get_running_loop().create_task(watch.watch())
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watch.done.wait(), max(0.1, deadline - time.perf_counter()))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    if not watch.done.is_set():
        return 0, 0.0
    return accepted, watch.finished_at - watch.first_at


async def run_mode(
    mode: str,
    records: list[dict[str, Any]],
    *,
    batch: int,
    concurrency: int,
    workers: int,
    timeout: float,
    sink: str = "http",
    backlog: list[dict[str, Any]] | None = None,
) -> Result:
    work = Path(tempfile.mkdtemp(prefix=f"bench-ingest-{sink}-"))
    watch: Sink | FileWatch | NatsWatch | None = None
    watcher: asyncio.Task[None] | None = None
    try:
        config = write_config(work, redact=mode.startswith("redaction on"), fast_retry=backlog is not None)
        if sink == "http":
            watch = Sink(len(records))
            await watch.start()
            sink_env = {"LOG_SINK_URL": watch.url}
        elif sink == "file":
            watch = FileWatch(work / "sink" / "sink.ndjson", len(records))
            sink_env = watch.env()
        else:
            watch = NatsWatch(work, len(records))
            sink_env = watch.env()
        with proxy(work, config, sink_env, workers, timeout=180) as p:
            started = time.perf_counter()
            deadline = started + timeout
            if not isinstance(watch, Sink):
                watcher = asyncio.get_running_loop().create_task(watch.watch())
            accepted, refused, lat, last = await _send(p.url, records, batch, concurrency, deadline)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watch.done.wait(), max(0.1, deadline - time.perf_counter()))
            finished = watch.finished_at if watch.done.is_set() else time.perf_counter()
            delivered = len(watch.seen) if isinstance(watch, Sink) else watch.count
            result = Result(mode, len(records), accepted, delivered, last - started, finished - started, lat, refused)
            if backlog is not None and not isinstance(watch, Sink) and watcher is not None:
                result.drain_records, result.drain_seconds = await _backlog(p, watch, watcher, work, backlog,
                                                                            batch, concurrency, timeout)  # fmt: skip
            return result
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher
        if isinstance(watch, Sink):
            await watch.stop()
        elif isinstance(watch, NatsWatch):
            watch.stop()
        shutil.rmtree(work, ignore_errors=True)


def table(results: list[Result], batch: int, concurrency: int, workers: int) -> str:
    rows = [
        "| mode | records | accepted rec/s | delivered rec/s | all delivered after s | p50 ms | p99 ms "
        "| backlog drained rec/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lat = sorted(r.request_ms) or [0.0]
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        note = "" if r.accepted == r.delivered == r.records else f" ({r.accepted} accepted, {r.delivered} delivered)"
        rows.append(
            f"| {r.mode} | {r.records}{note} | {r.accepted_per_s:,.0f} | {r.delivered_per_s:,.0f} "
            f"| {r.deliver_seconds:.2f} | {statistics.median(lat):.1f} | {p99:.1f} "
            f"| {f'**{r.drain_per_s:,.0f}** ({r.drain_records})' if r.drain_seconds else '-'} |"
        )
    rows.append("")
    rows.append(
        f"{batch} records per request, {concurrency} concurrent clients, {workers} worker(s), sinks on "
        f"loopback; accepted = 202 after the fsync'd spool commit, delivered = received by the sink (HTTP: "
        f"answered 2xx; file: written and fsync'd; NATS: in the JetStream stream, every publish acknowledged). "
        f"Delivered rec/s counts from the first request to the last record at the sink, so it is capped by "
        f"what is accepted. Backlog drained: then, in the same proxy, the sink goes down (nats-server stopped; a "
        f"file where the sink's directory was), as many records again are accepted into the spool, the sink "
        f"comes back, and the forwarder's rate from the first to the last of them at the sink is the sink's "
        f"own delivery rate."
    )
    return "\n".join(rows)


def ratio_note(results: list[Result]) -> str:
    by = {r.mode: r for r in results}
    f, n = by.get("redaction off, file sink"), by.get("redaction off, NATS JetStream sink")
    if f is None or n is None or not f.drain_per_s:
        return ""
    return (
        f"\n\n**NATS JetStream vs file sink, backlog drained records/s: {n.drain_per_s / f.drain_per_s:.2f}x** "
        f"({n.drain_per_s:,.0f} vs {f.drain_per_s:,.0f}); live, delivered {n.delivered_per_s:,.0f} vs "
        f"{f.delivered_per_s:,.0f} rec/s (accepted {n.accepted_per_s:,.0f} vs {f.accepted_per_s:,.0f}), same run."
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ingest", description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=3000, help="records per mode (default 3000)")
    ap.add_argument("--batch", type=int, default=50, help="records per POST /logs/ (default 50)")
    ap.add_argument("--concurrency", type=int, default=4, help="concurrent clients (default 4)")
    ap.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)), help="proxy workers")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per mode at most (default 120)")
    ap.add_argument("--sink-records", type=int, default=20000, help="records per file / NATS sink mode (default 20000)")
    ap.add_argument("--modes", nargs="+", choices=["http", "file", "nats"], default=["http", "file", "nats"])
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "ingest.json"), help="results as JSON here")
    args = ap.parse_args(argv)
    if args.records < 1 or args.batch < 1 or args.concurrency < 1 or args.workers < 1 or args.sink_records < 1:
        ap.error("--records, --sink-records, --batch, --concurrency and --workers must be positive")
    records = make_records(min(args.records, 1_000_000))
    sink_records = make_records(min(args.sink_records, 1_000_000))
    plan: list[tuple[str, list[dict[str, Any]], str, bool]] = []
    if "http" in args.modes:
        plan += [
            ("redaction on (log_sink policy)", records, "http", False),
            ("redaction off (same records)", records, "http", False),
        ]
    if "file" in args.modes:
        plan.append(("redaction off, file sink", sink_records, "file", True))
    if "nats" in args.modes:
        plan.append(("redaction off, NATS JetStream sink", sink_records, "nats", True))
        plan.append(("redaction on, NATS JetStream sink", records, "nats", False))

    async def both() -> list[Result]:
        out = []
        for mode, recs, sink, drain in plan:
            out.append(
                await run_mode(
                    mode,
                    recs,
                    batch=args.batch,
                    concurrency=args.concurrency,
                    workers=args.workers,
                    timeout=args.timeout,
                    sink=sink,
                    backlog=recs if drain else None,
                )
            )
        return out

    results = asyncio.run(both())
    body = table(results, args.batch, args.concurrency, args.workers)
    body += ratio_note(results)
    print(body)
    Path(args.json).write_text(
        json.dumps(
            {
                "batch": args.batch,
                "concurrency": args.concurrency,
                "workers": args.workers,
                "modes": [
                    {
                        "mode": r.mode,
                        "records": r.records,
                        "accepted": r.accepted,
                        "delivered": r.delivered,
                        "accepted_per_s": round(r.accepted_per_s, 1),
                        "delivered_per_s": round(r.delivered_per_s, 1),
                        "drained_per_s": round(r.drain_per_s, 1),
                    }
                    for r in results
                ],
            },
            indent=2,
        )
        + "\n"
    )
    from benchmarks._common import write_section

    command = "`.venv/bin/python -m benchmarks.ingest" + (" " + " ".join(argv) if argv else "") + "`"
    write_section(
        "ingest",
        "## Ingest: log records accepted and delivered, with and without redaction, file vs NATS sink\n\n"
        f"Command: {command}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n\n{body}",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
