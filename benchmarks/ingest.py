"""Log ingest benchmark: records per second accepted (``202``, durably spooled) and delivered
(received by an HTTP sink), with the ``log_sink`` redaction, then the same records with
redaction turned off (a copy of the shipped config whose ``log_sink`` keeps every field and scans
nothing), in one run.

Loopback only: the proxy is started as a real process on 127.0.0.1 and the sink is an aiohttp
server in this process. Bounded: ``--records`` per mode and ``--timeout`` seconds per mode.

    .venv/bin/python -m benchmarks.ingest [--records 3000] [--batch 50] [--concurrency 4]
                                          [--workers N] [--timeout 120]

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


def write_config(workdir: Path, redact: bool) -> Path:
    data = yaml.safe_load((ROOT / "config" / "proxy.yaml").read_text())
    data["detection"]["recognizers"] = str(ROOT / "config" / "recognizers.yaml")
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
def proxy(workdir: Path, config: Path, sink_url: str, workers: int, timeout: float) -> Iterator[Proxy]:
    port, admin = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOG_SINK_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(
        {
            "PSEUDONYM_KEY": env.get("PSEUDONYM_KEY") or "benchmark-only-key",
            "VAULT_KEY": env.get("VAULT_KEY") or "be" * 32,
            "SPOOL_DIR": str(workdir / "spool"),
            "AUDIT_FILE": str(workdir / "audit.jsonl"),
            "LOG_SINK_URL": sink_url,
            "PYTHONPATH": str(ROOT),
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


async def run_mode(
    mode: str, records: list[dict[str, Any]], *, batch: int, concurrency: int, workers: int, timeout: float
) -> Result:
    work = Path(tempfile.mkdtemp(prefix=f"bench-ingest-{mode.split()[0]}-"))
    try:
        config = write_config(work, redact=mode.startswith("redaction on"))
        sink = Sink(len(records))
        await sink.start()
        try:
            with proxy(work, config, sink.url, workers, timeout=180) as p:
                started = time.perf_counter()
                deadline = started + timeout
                accepted, refused, lat, last = await _send(p.url, records, batch, concurrency, deadline)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(sink.done.wait(), max(0.1, deadline - time.perf_counter()))
                finished = sink.finished_at if sink.done.is_set() else time.perf_counter()
                return Result(
                    mode, len(records), accepted, len(sink.seen), last - started, finished - started, lat, refused
                )
        finally:
            await sink.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def table(results: list[Result], batch: int, concurrency: int, workers: int) -> str:
    rows = [
        "| mode | records | accepted rec/s | delivered rec/s | all delivered after s | p50 ms | p99 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lat = sorted(r.request_ms) or [0.0]
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        note = "" if r.accepted == r.delivered == r.records else f" ({r.accepted} accepted, {r.delivered} delivered)"
        rows.append(
            f"| {r.mode} | {r.records}{note} | {r.accepted_per_s:,.0f} | {r.delivered_per_s:,.0f} "
            f"| {r.deliver_seconds:.2f} | {statistics.median(lat):.1f} | {p99:.1f} |"
        )
    rows.append("")
    rows.append(
        f"{batch} records per request, {concurrency} concurrent clients, {workers} worker(s), HTTP sink on "
        f"loopback; accepted = 202 after the fsync'd spool commit, delivered = received by the sink."
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ingest", description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=3000, help="records per mode (default 3000)")
    ap.add_argument("--batch", type=int, default=50, help="records per POST /logs/ (default 50)")
    ap.add_argument("--concurrency", type=int, default=4, help="concurrent clients (default 4)")
    ap.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)), help="proxy workers")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per mode at most (default 120)")
    args = ap.parse_args(argv)
    if args.records < 1 or args.batch < 1 or args.concurrency < 1 or args.workers < 1:
        ap.error("--records, --batch, --concurrency and --workers must be positive")
    records = make_records(min(args.records, 1_000_000))

    async def both() -> list[Result]:
        out = []
        for mode in ("redaction on (log_sink policy)", "redaction off (same records)"):
            out.append(
                await run_mode(
                    mode,
                    records,
                    batch=args.batch,
                    concurrency=args.concurrency,
                    workers=args.workers,
                    timeout=args.timeout,
                )
            )
        return out

    results = asyncio.run(both())
    body = table(results, args.batch, args.concurrency, args.workers)
    print(body)
    from benchmarks._common import write_section

    command = "`.venv/bin/python -m benchmarks.ingest" + (" " + " ".join(argv) if argv else "") + "`"
    write_section(
        "ingest",
        "## Ingest: log records accepted and delivered, with and without redaction\n\n"
        f"Command: {command}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n\n{body}",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
