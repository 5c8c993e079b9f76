"""Load benchmark: our proxy against a direct connection, forwarding only, and naive Presidio.

    .venv/bin/python -m benchmarks.load [--duration S] [--soak MINUTES] [--no-write]

In one run, on 127.0.0.1, against one mock upstream (``benchmarks.mock_upstream``), the chat
corpus of ``benchmarks.corpus`` is posted in the INTERFACE.md chat shape to:

1. the upstream directly;
2. our proxy with redaction disabled (``chat_partner.directions: []``): pure forwarding cost;
   (2b) next to it, the bare aiohttp relay (``benchmarks.naive --relay``: an aiohttp handler that
   posts the body to the upstream with a pooled session, nothing else): the floor of any hop
   built on aiohttp, so that (2) can be read against what the framework itself costs;
3. the naive baseline (``benchmarks.naive``): Presidio inline in an aiohttp handler;
4. our proxy as shipped (``config/proxy.yaml``);

and, on the same servers, long messages (issue 13: ``LONG_MIN``-``LONG_MAX`` characters of
letters, paragraphs, address blocks, signatures, pasted transcripts and forms; see
``benchmarks._common.long_texts``) in the same chat shape to:

3L. the naive baseline;
4L. our proxy.

(2), (2b), (3) and (4) run as many worker processes as there are usable CPUs. Each case gets a
closed-loop run, in interleaved rounds (1 2 2b 3 4 3L 4L, 1 2 ...): C connections, each sending
its next message as soon as the previous answer is in (the maximum rate). Then (1), (2) and (4)
get an open-loop run of short chat at half of (4)'s maximum (a fixed arrival rate; each latency
is counted from the *scheduled* send time, so a stalled server cannot hide its queue: no
coordinated omission; outstanding requests are capped and the ones over the cap counted as
dropped). RSS of every worker (with its detection process) is read from ``/proc/<pid>/status``
when it is ready and after its run; ``--soak N`` then keeps (4) under a moderate open-loop rate
of never-repeated messages for N minutes and samples RSS every 30 s.

The load generator is this one process: uvloop and a minimal HTTP/1.1 keep-alive client on raw
asyncio protocols (much cheaper per request than a full client, so it takes less of the two
cores away from the servers it measures). Its own CPU use is reported next to the numbers.
Writes its section of ``benchmarks/RESULTS.md`` between ``<!-- load:start -->`` and
``<!-- load:end -->``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path
from typing import Any

from benchmarks._common import (
    LONG_MAX,
    LONG_MIN,
    ROOT,
    DetectionStats,
    Server,
    aio,
    chat_bodies,
    cpus,
    hwm_mb,
    long_bodies,
    machine_busy_seconds,
    machine_line,
    ms,
    no_redaction_config,
    percentile,
    rss_mb,
    scrape_metrics,
    shipped_config,
    start_naive,
    start_proxy,
    start_upstream,
    stop_on_signals,
    total_cpu,
    verdict,
    write_section,
)

HOST = "127.0.0.1"
#: Cases that post long messages to the server of another case.
SERVER_OF = {"naive_long": "naive", "proxy_long": "proxy"}
CASES = ("direct", "forward", "relay", "naive", "proxy", "naive_long", "proxy_long")


def server_of(key: str) -> str:
    return SERVER_OF.get(key, key)


# ---- a minimal HTTP/1.1 keep-alive client -------------------------------------------------
class HttpConn(asyncio.Protocol):
    """One keep-alive connection, one request at a time; answers parsed just enough to know
    the status and where the body ends (``Content-Length`` or chunked)."""

    def __init__(self) -> None:
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport subclasses
        self.buf = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is not None:
            self._parse()

    def eof_received(self) -> bool:
        self._fail()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail()

    def _fail(self) -> None:
        self.alive = False
        w, self.waiter = self.waiter, None
        if w is not None and not w.done():
            w.set_exception(ConnectionError("connection closed"))

    def _parse(self) -> None:
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(buf[:end]).lower()
        status = int(head[9:12])
        pos = end + 4
        i = head.find(b"\r\ncontent-length:")
        if i >= 0:
            j = head.find(b"\r\n", i + 2)
            total = pos + int(head[i + 17 : j if j >= 0 else len(head)])
            if len(buf) < total:
                return
        elif b"\r\ntransfer-encoding: chunked" in head:
            while True:
                le = buf.find(b"\r\n", pos)
                if le < 0:
                    return
                size = int(bytes(buf[pos:le]).split(b";")[0], 16)
                if size == 0:
                    total = le + 4  # no trailers
                    if len(buf) < total:
                        return
                    break
                pos = le + 2 + size + 2
                if len(buf) < pos:
                    return
        else:  # no framing: not something our servers send
            self.alive = False
            total = len(buf)
        del buf[:total]
        if b"\r\nconnection: close" in head and self.transport is not None:
            self.alive = False
            self.transport.close()
        w, self.waiter = self.waiter, None
        if w is not None and not w.done():
            w.set_result(status)

    async def request(self, data: bytes) -> int:
        if not self.alive or self.transport is None:
            raise ConnectionError("connection closed")
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.waiter = fut
        self.transport.write(data)
        if self.buf:
            self._parse()
        return await fut

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connect(port: int) -> HttpConn:
    _, proto = await asyncio.get_running_loop().create_connection(HttpConn, HOST, port)
    return proto


def build_requests(port: int, path: str, bodies: Sequence[bytes]) -> list[bytes]:
    head = f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
    return [(head + f"Content-Length: {len(b)}\r\n\r\n").encode() + b for b in bodies]


# ---- generators ---------------------------------------------------------------------------
@dataclass
class Run:
    name: str
    mode: str  # closed | open
    seconds: float
    completed: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    conn_errors: int = 0
    dropped: int = 0  # open loop: over the outstanding cap
    unfinished: int = 0  # still outstanding at the end (cancelled)
    latencies: list[float] = field(default_factory=list)
    send_lag: list[float] = field(default_factory=list)
    cpu: Cpu = field(default_factory=lambda: Cpu())  # CPU seconds spent in the measured window
    rate: float = 0.0  # open loop: the arrival rate asked for

    @property
    def ok(self) -> int:
        return sum(v for k, v in self.statuses.items() if 200 <= k < 300)

    @property
    def errors(self) -> int:
        return self.completed - self.ok + self.conn_errors + self.unfinished

    @property
    def throughput(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        return percentile(self.latencies, q)


def _self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


@dataclass
class Cpu:
    """CPU seconds: this generator, the server under test, the rest of the rig (the upstream),
    and the whole machine (so what other people's processes took is machine - the three)."""

    gen: float = 0.0
    server: float = 0.0
    rig: float = 0.0
    machine: float = 0.0

    @classmethod
    def now(cls, server_pids: Sequence[int], rig_pids: Sequence[int]) -> Cpu:
        return cls(_self_cpu(), total_cpu(server_pids), total_cpu(rig_pids), machine_busy_seconds())

    def __sub__(self, o: Cpu) -> Cpu:
        return Cpu(self.gen - o.gen, self.server - o.server, self.rig - o.rig, self.machine - o.machine)

    def __add__(self, o: Cpu) -> Cpu:
        return Cpu(self.gen + o.gen, self.server + o.server, self.rig + o.rig, self.machine + o.machine)

    @property
    def others(self) -> float:
        return max(self.machine - self.gen - self.server - self.rig, 0.0)


async def closed_loop(
    name: str, port: int, requests: Sequence[bytes], concurrency: int, duration: float, warmup: float,
    server_pids: Sequence[int], rig_pids: Sequence[int] = (),
) -> Run:  # fmt: skip
    """``concurrency`` connections, each sending the next request when the answer is in.
    Only answers completed inside the measured window (after ``warmup``) count."""
    run = Run(name, "closed", duration)
    lat = run.latencies
    n = len(requests)
    t_start = time.perf_counter()
    t_rec, t_end = t_start + warmup, t_start + warmup + duration
    marks: dict[str, Cpu] = {}

    async def worker(k: int) -> None:
        idx = (k * 7919) % n
        conn: HttpConn | None = None
        try:
            while True:
                if time.perf_counter() >= t_end:
                    return
                if conn is None or not conn.alive:
                    try:
                        conn = await connect(port)
                    except OSError:
                        run.conn_errors += time.perf_counter() >= t_rec
                        await asyncio.sleep(0.01)
                        continue
                req = requests[idx]
                idx = idx + 1 if idx + 1 < n else 0
                t0 = time.perf_counter()
                try:
                    status = await conn.request(req)
                except ConnectionError:
                    run.conn_errors += t0 >= t_rec
                    conn = None
                    await asyncio.sleep(0.01)  # no busy loop against a server that closes on us
                    continue
                t1 = time.perf_counter()
                if t_rec <= t1 <= t_end:
                    run.completed += 1
                    run.statuses[status] += 1
                    lat.append(t1 - t0)
        finally:
            if conn is not None:
                conn.close()

    async def mark() -> None:
        await asyncio.sleep(max(t_rec - time.perf_counter(), 0))
        marks["start"] = Cpu.now(server_pids, rig_pids)
        await asyncio.sleep(max(t_end - time.perf_counter(), 0))
        marks["end"] = Cpu.now(server_pids, rig_pids)

    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(worker(k)) for k in range(concurrency)]
    tasks.append(loop.create_task(mark()))
    _, pending = await asyncio.wait(tasks, timeout=warmup + duration + 30)
    for t in pending:
        t.cancel()
    run.unfinished = len(pending)
    await asyncio.gather(*tasks, return_exceptions=True)
    lat.sort()
    if "start" in marks and "end" in marks:
        run.cpu = marks["end"] - marks["start"]
    return run


async def open_loop(
    name: str, port: int, requests: Sequence[bytes], rate: float, duration: float, max_outstanding: int,
    server_pids: Sequence[int], rig_pids: Sequence[int] = (), sampler: Callable[[float], None] | None = None,
    sample_every: float = 30.0,
) -> Run:  # fmt: skip
    """Requests at a fixed arrival rate, latency from each one's scheduled send time. At most
    ``max_outstanding`` in flight: a request due while the cap is reached is dropped (counted)."""
    run = Run(name, "open", duration, rate=rate)
    loop = asyncio.get_running_loop()
    pool: deque[HttpConn] = deque(await asyncio.gather(*(connect(port) for _ in range(min(32, max_outstanding)))))
    tasks: set[asyncio.Task[None]] = set()
    outstanding = 0
    n = len(requests)
    total = int(rate * duration)

    async def one(sched: float, req: bytes) -> None:
        nonlocal outstanding
        conn = pool.pop() if pool else None
        try:
            if conn is None or not conn.alive:
                conn = await connect(port)
            run.send_lag.append(time.perf_counter() - sched)
            status = await conn.request(req)
            run.latencies.append(time.perf_counter() - sched)
            run.completed += 1
            run.statuses[status] += 1
            if conn.alive:
                pool.append(conn)
                conn = None
        except (ConnectionError, OSError):
            run.conn_errors += 1
        finally:
            outstanding -= 1
            if conn is not None:
                conn.close()

    cpu0 = Cpu.now(server_pids, rig_pids)
    t0 = time.perf_counter() + 0.05
    next_sample = t0
    for i in range(total):
        sched = t0 + i / rate
        delay = sched - time.perf_counter()
        if delay > 0:
            # uvloop's timers have 1 ms resolution: never ask for less (no busy spinning).
            await asyncio.sleep(max(delay, 0.001))
        if sampler is not None and sched >= next_sample:
            sampler(sched - t0)
            next_sample += sample_every
        if outstanding >= max_outstanding:
            run.dropped += 1
            continue
        outstanding += 1
        task = loop.create_task(one(sched, requests[i % n]))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        _, pending = await asyncio.wait(set(tasks), timeout=30)
        for t in pending:
            t.cancel()
        run.unfinished = len(pending)
        await asyncio.gather(*pending, return_exceptions=True)
    if sampler is not None:
        sampler(time.perf_counter() - t0)
    run.cpu = Cpu.now(server_pids, rig_pids) - cpu0
    while pool:
        pool.pop().close()
    run.latencies.sort()
    run.send_lag.sort()
    return run


# ---- the cases ----------------------------------------------------------------------------
@dataclass
class Case:
    key: str
    label: str
    workers: int
    closed: Run | None = None
    open: Run | None = None
    open_rounds: list[Run] = field(default_factory=list)
    rss_start: list[float] = field(default_factory=list)
    rss_after: list[float] = field(default_factory=list)
    hwm_after: list[float] = field(default_factory=list)
    #: (phase, seconds of wall time the phase lasted, detection stats) for our proxy
    detection: list[tuple[str, float, DetectionStats]] = field(default_factory=list)


def rss_of(pids: Sequence[int]) -> list[float]:
    """RSS of each worker, its detection process included."""
    return [rss_mb(p) for p in pids]


def hwm_of(pids: Sequence[int]) -> list[float]:
    return [hwm_mb(p) for p in pids]


def log(msg: str) -> None:
    print(f"[load {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def describe(run: Run) -> str:
    return (
        f"{run.name} {run.mode}: {run.throughput:.0f} msg/s ok={run.ok} errors={run.errors} "
        f"p50={ms(run.pct(50))} p95={ms(run.pct(95))} p99={ms(run.pct(99))} ms"
    )


@dataclass
class Soak:
    minutes: float
    rate: float
    messages: int
    samples: list[tuple[float, list[float]]] = field(default_factory=list)
    run: Run | None = None


def merge(runs: Sequence[Run]) -> Run:
    """One case's rounds as one run: counts and CPU summed, latencies pooled."""
    out = Run(runs[0].name, runs[0].mode, sum(r.seconds for r in runs), rate=runs[0].rate)
    for r in runs:
        out.completed += r.completed
        out.statuses.update(r.statuses)
        out.conn_errors += r.conn_errors
        out.dropped += r.dropped
        out.unfinished += r.unfinished
        out.latencies += r.latencies
        out.send_lag += r.send_lag
        out.cpu = out.cpu + r.cpu
    out.latencies.sort()
    out.send_lag.sort()
    return out


def run_all(args: argparse.Namespace) -> tuple[list[Case], Soak | None, dict[str, Any]]:
    """All servers up at once; the cases measured in interleaved rounds (1 2 3 4, 1 2 3 4, ...)
    so that the noise of a shared machine falls on every case alike."""
    workers = args.workers or cpus()
    tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
    bodies = chat_bodies(args.messages, args.seed)
    info: dict[str, Any] = {
        "workers": workers,
        "messages": len(bodies),
        "avg_body": sum(map(len, bodies)) / len(bodies),
    }
    long: list[bytes] = []
    if any(k in SERVER_OF for k in args.cases):
        long = long_bodies(args.long_messages, args.seed)
        chars = [len(json.loads(b)["text"]) for b in long]
        info.update(long_messages=len(long), long_avg_body=sum(map(len, long)) / len(long),
                    long_chars=(min(chars), sum(chars) / len(chars), max(chars)))  # fmt: skip
    cases = {
        "direct": Case("direct", "(1) direct to upstream", 1),
        "forward": Case("forward", "(2) our proxy, redaction disabled", workers),
        "relay": Case("relay", "(2b) bare aiohttp relay (the hop's floor)", workers),
        "naive": Case("naive", "(3) naive Presidio baseline", workers),
        "proxy": Case("proxy", "(4) our proxy", workers),
        "naive_long": Case("naive_long", "(3L) naive Presidio baseline, long messages", workers),
        "proxy_long": Case("proxy_long", "(4L) our proxy, long messages", workers),
    }
    wanted = [k for k in cases if k in args.cases]
    serve = {server_of(k) for k in wanted}
    soak: Soak | None = None
    servers: dict[str, Server] = {}
    try:
        servers["direct"] = start_upstream(tmp / "upstream")
        up_url = servers["direct"].url
        log(f"starting servers ({workers} workers each): {', '.join(k for k in cases if k in serve - {'direct'})}")
        if "forward" in serve:
            servers["forward"] = start_proxy(tmp / "forward", no_redaction_config(tmp / "forward"), up_url, workers,
                                             name="forward", wait=False)  # fmt: skip
        if "relay" in serve:
            servers["relay"] = start_naive(tmp / "relay", up_url, workers, wait=False, relay=True)
        if "naive" in serve:
            servers["naive"] = start_naive(tmp / "naive", up_url, workers, wait=False)
        if "proxy" in serve:
            servers["proxy"] = start_proxy(tmp / "proxy", shipped_config(tmp / "proxy"), up_url, workers,
                                           name="proxy", wait=False)  # fmt: skip
        for srv in servers.values():
            srv.wait_ready()
        pids = {k: servers[server_of(k)].worker_pids() for k in {*wanted, "direct"}}
        reqs = {k: build_requests(servers[server_of(k)].port, "/messages" if k == "direct" else "/chat/messages",
                                  long if k in SERVER_OF else bodies)
                for k in wanted}  # fmt: skip
        for k in wanted:
            cases[k].rss_start = rss_of(pids[k])
        rounds = max(args.rounds, 1)
        per_round = args.duration / rounds
        closed: dict[str, list[Run]] = {k: [] for k in wanted}
        admin = servers["proxy"].admin_port if "proxy" in servers else None
        #: our proxy's detection, per case: (seconds the run lasted, warm-up included; stats)
        inside: dict[str, list[tuple[float, DetectionStats]]] = {}
        for r in range(rounds):
            for k in wanted:
                warm = args.warmup if r == 0 else min(args.warmup, 1.0)
                c = cases[k]
                rig = pids["direct"] if k != "direct" else []
                watch = admin if server_of(k) == "proxy" else None
                before = scrape_metrics(watch) if watch else {}
                conc = args.long_concurrency if k in SERVER_OF else args.concurrency
                run = aio(closed_loop(c.label, servers[server_of(k)].port, reqs[k], conc, per_round, warm,
                                      pids[k], rig))  # fmt: skip
                if watch:
                    stats = DetectionStats.between(before, scrape_metrics(watch))
                    inside.setdefault(k, []).append((per_round + warm, stats))
                closed[k].append(run)
                log(f"round {r + 1}/{rounds} " + describe(run))
        for k in wanted:
            cases[k].closed = merge(closed[k])
            log("all rounds: " + describe(cases[k].closed))  # type: ignore[arg-type]
        p = cases["proxy"]
        phases = {"proxy": "short chat", "proxy_long": "long messages"}
        for k, phase in phases.items():
            if inside.get(k):
                total = reduce(lambda a, b: a + b, (st for _, st in inside[k]))
                p.detection.append((f"closed loop (max rate), {phase}", sum(secs for secs, _ in inside[k]), total))
        before = scrape_metrics(admin) if admin else {}
        if "proxy" in wanted and p.closed is not None:
            rate = args.open_rate or max(p.closed.throughput / 2, 1.0)
            info["open_rate"] = rate
            open_cases = [k for k in ("direct", "forward", "proxy") if k in wanted]
            log(f"open loop at {rate:.0f} msg/s, {args.open_duration:.0f}s each in {rounds} rounds: {open_cases}")
            per_open = args.open_duration / rounds
            opened: dict[str, list[Run]] = {k: [] for k in open_cases}
            for r in range(rounds):
                for k in open_cases:
                    c = cases[k]
                    rig = pids["direct"] if k != "direct" else []
                    run = aio(open_loop(c.label, servers[k].port, reqs[k], rate, per_open,
                                        args.max_outstanding, pids[k], rig))  # fmt: skip
                    opened[k].append(run)
                    log(f"round {r + 1}/{rounds} " + describe(run))
            for k in open_cases:
                cases[k].open, cases[k].open_rounds = merge(opened[k]), opened[k]
            if admin and p.open is not None:
                stats = DetectionStats.between(before, scrape_metrics(admin))
                p.detection.append((f"open loop at {rate:.0f} msg/s", p.open.seconds, stats))
        for k in wanted:
            cases[k].rss_after, cases[k].hwm_after = rss_of(pids[k]), hwm_of(pids[k])
        for k in [k for k in servers if k not in ("direct", "proxy")]:
            servers.pop(k).stop()  # the soak runs alone
        if args.soak > 0 and "proxy" in wanted and p.closed is not None:
            soak = run_soak(args, servers["proxy"], pids["proxy"], pids["direct"], p.closed.throughput)
    finally:
        for srv in servers.values():
            srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return [cases[k] for k in wanted], soak, info


def run_soak(
    args: argparse.Namespace, srv: Server, pids: Sequence[int], rig_pids: Sequence[int], max_rate: float
) -> Soak:
    rate = args.soak_rate or max(round(max_rate * 0.25), 1)
    seconds = args.soak * 60
    # Never-repeated messages: a cache that grows with every new token would show here.
    n = min(int(rate * seconds) + 1, 200_000)
    log(f"soak: generating {n} fresh messages")
    bodies = chat_bodies(n, args.seed + 1)
    reqs = build_requests(srv.port, "/chat/messages", bodies)
    soak = Soak(args.soak, rate, n)

    def sample(at: float) -> None:
        soak.samples.append((at, rss_of(pids)))
        log(f"soak t={at:.0f}s RSS MB per worker: {', '.join(f'{r:.0f}' for r in soak.samples[-1][1])}")

    log(f"soak: {args.soak:g} min at {rate:.0f} msg/s, RSS every 30 s")
    soak.run = aio(open_loop("soak", srv.port, reqs, rate, seconds, args.max_outstanding, pids, rig_pids, sample))
    log(describe(soak.run))
    return soak


# ---- the report ---------------------------------------------------------------------------
def cores(r: Run) -> str:
    """Average cores busy during the run: server, generator, upstream, and everyone else's processes."""
    c, t = r.cpu, r.seconds or 1.0
    rig = f"{c.rig / t:.2f}" if c.rig else "-"
    return f"{c.server / t:.2f} / {c.gen / t:.2f} / {rig} / **{c.others / t:.2f}**"


def _mb(values: Sequence[float]) -> str:
    return " / ".join(f"{v:.0f}" for v in values) if values else "n/a"


def render(args: argparse.Namespace, cases: list[Case], soak: Soak | None, info: dict[str, Any], cmd: str) -> str:
    by = {c.key: c for c in cases}
    lines = [
        "## Load: messages per second and latency (`benchmarks/load.py`)",
        "",
        f"Command: `{cmd}`. {machine_line()}.",
        f"Corpus: {info['messages']} chat messages from `benchmarks.corpus` (seed {args.seed}, "
        f"{info['avg_body']:.0f} bytes of JSON on average), cycled; (2)-(4) run {info['workers']} worker "
        "process(es); one mock upstream process. The load generator (one uvloop process, raw HTTP/1.1 "
        "keep-alive) shares the CPUs with the servers: its CPU use is shown.",
    ]
    if "long_messages" in info:
        lo, avg, hi = info["long_chars"]
        lines[-1] += (
            f" Long messages ((3L), (4L), issue 13): {info['long_messages']} messages of {LONG_MIN}-{LONG_MAX} "
            f"characters of text (here {lo}-{hi}, {avg:.0f} on average; {info['long_avg_body']:.0f} bytes of JSON), "
            "letters with address blocks and signatures, paragraphs with pasted forms, pasted transcripts and log "
            "lines, built by `benchmarks._common.long_texts` from the dev side of `benchmarks.heldout_styles` "
            "(never its test split) and `benchmarks.corpus`, same seed, cycled; same servers as (3) and (4)."
        )
    lines += [
        "",
        f"Closed loop: {args.concurrency} connections ({args.long_concurrency} for long messages: enough to keep "
        "every worker busy, few enough that no message queues past (4)'s `timeouts.detection_deadline`, which "
        f"answers 503 by design), {args.duration:g} s measured per case, in {args.rounds} "
        f"interleaved rounds ((1) (2) (2b) (3) (4) (3L) (4L), (1) (2) ...: the noise of a shared machine falls "
        f"on every case alike), each after a warm-up ({args.warmup:g} s, then 1 s). "
        "*server CPU ms/msg* = CPU time of the server's worker processes and their detection processes "
        "(user+system, all threads) / "
        "messages answered: the cost of one message, the least noisy number here. *CPU cores* = average cores "
        "busy during the measured window: the server under test, this generator, the mock upstream, and "
        "**others** = every other process on the machine (other people's jobs): what the servers could not have.",
        "",
        "| case | msgs/s | p50 ms | p95 ms | p99 ms | non-2xx / errors | server CPU ms/msg | CPU cores: server / "
        "generator / upstream / **others** | RSS/worker at start MB | after run MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in cases:
        r = c.closed
        if r is None:
            continue
        cpu_msg = r.cpu.server * 1000 / r.ok if r.ok else float("nan")
        lines.append(
            f"| {c.label} | **{r.throughput:.0f}** | {ms(r.pct(50))} | {ms(r.pct(95))} | {ms(r.pct(99))} | "
            f"{r.errors} | {cpu_msg:.2f} | {cores(r)} | {_mb(c.rss_start)} | "
            f"{_mb(c.rss_after)} |"
        )
    d, p = by.get("direct"), by.get("proxy")
    added: tuple[float, float, float] | None = None
    if d is not None and p is not None and d.open is not None and p.open is not None:
        rate = info["open_rate"]
        rows = [c for c in cases if c.open is not None]
        lines += [
            "",
            f"Open loop at **{rate:.0f} msg/s** (half of (4)'s closed-loop maximum), {args.open_duration:g} s each, "
            f"at most {args.max_outstanding} outstanding; latency from each message's *scheduled* send time. "
            "*send lag* = how late the generator itself sent (p99): it is in every row alike.",
            "",
            "| case | sent | 2xx | non-2xx / errors | dropped (cap) | p50 ms | p95 ms | p99 ms | max ms | "
            "send lag p99 ms |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for c in rows:
            r = c.open
            assert r is not None
            lines.append(
                f"| {c.label} | {r.completed + r.conn_errors + r.unfinished} | {r.ok} | {r.errors} | {r.dropped} | "
                f"{ms(r.pct(50))} | {ms(r.pct(95))} | {ms(r.pct(99))} | {ms(r.pct(100))} | "
                f"{ms(percentile(r.send_lag, 99))} |"
            )
        base = d.open
        for c in rows:
            r = c.open
            if c is d or r is None:
                continue
            diff = (r.pct(50) - base.pct(50), r.pct(95) - base.pct(95), r.pct(99) - base.pct(99))
            if c is p:
                added = diff
            lines.append(
                f"| **added by {c.label.split()[0]}** (difference of percentiles) | | | | | **{ms(diff[0])}** | "
                f"{ms(diff[1])} | **{ms(diff[2])}** | | |"
            )
        if len(p.open_rounds) > 1 and len(d.open_rounds) == len(p.open_rounds):
            each = ", ".join(
                f"{ms(a.pct(50) - b.pct(50))} / {ms(a.pct(99) - b.pct(99))}"
                for a, b in zip(p.open_rounds, d.open_rounds, strict=True)
            )
            lines += ["", f"Added by (4), p50 / p99 ms, round by round (how much the machine moved): {each}."]
    if p is not None and p.detection:
        lines += ["", "Inside (4), from its `/metrics` (all workers):", ""]
        lines += [f"- {phase}: {st.describe(secs, p.workers)}." for phase, secs, st in p.detection]
    if soak is not None:
        lines += ["", *render_soak(soak)]
    lines += [
        "",
        "Targets (issue 7; issue 13: short and long messages), ratios within this run:",
        "",
        "| target | measured | verdict |",
        "| --- | --- | --- |",
    ]
    n, f, dd = by.get("naive"), by.get("forward"), by.get("direct")
    if p is not None and n is not None and p.closed and n.closed and n.closed.throughput:
        ratio = p.closed.throughput / n.closed.throughput
        lines.append(f"| (4) >= 3x (3) msgs/s | {ratio:.2f}x | {verdict(ratio >= 3)} |")
    if added is not None:
        lines.append(
            f"| added latency p50 <= 5 ms at half of (4)'s max | {ms(added[0])} ms | {verdict(added[0] <= 0.005)} |"
        )
        lines.append(f"| added latency p99 <= 25 ms | {ms(added[2])} ms | {verdict(added[2] <= 0.025)} |")
    if p is not None and n is not None and p.closed and n.closed and p.closed.ok and n.closed.ok:
        per_p, per_n = p.closed.cpu.server / p.closed.ok, n.closed.cpu.server / n.closed.ok
        if per_p:
            lines.append(
                f"| (same, as CPU per message: noise-robust) (3) / (4) server CPU ms per message | "
                f"{1000 * per_n:.2f} / {1000 * per_p:.2f} = {per_n / per_p:.2f}x | {verdict(per_n / per_p >= 3)} |"
            )
    lines += speed_rows(by)
    if f is not None and dd is not None and f.closed and dd.closed and dd.closed.throughput:
        share = f.closed.throughput / dd.closed.throughput
        lines.append(f"| (2) >= 80% of (1) msgs/s | {100 * share:.0f}% | {verdict(share >= 0.8)} |")
        b = by.get("relay")
        if b is not None and b.closed and b.closed.ok and f.closed.ok:
            floor = b.closed.throughput / dd.closed.throughput
            ours = f.closed.throughput / b.closed.throughput if b.closed.throughput else float("nan")
            cpu_f, cpu_b = 1000 * f.closed.cpu.server / f.closed.ok, 1000 * b.closed.cpu.server / b.closed.ok
            lines.append(
                f"| (context) (2b) bare aiohttp relay / (1) msgs/s: the most any aiohttp hop reaches on this rig "
                f"| {100 * floor:.0f}% | n/a |"
            )
            lines.append(
                f"| (context) (2) / (2b) msgs/s; server CPU ms per message (2) vs (2b) | {100 * ours:.0f}%; "
                f"{cpu_f:.3f} vs {cpu_b:.3f} | n/a |"
            )
    if p is not None and (p.rss_after or p.rss_start):
        peak = max([*p.rss_start, *p.rss_after])
        lines.append(f"| RSS <= 500 MB per worker (4) | max {peak:.0f} MB | {verdict(peak <= 500)} |")
    if soak is not None and soak.samples:
        growth = soak_growth(soak)
        ok = growth <= 0.10 and soak.minutes >= 10
        note = "" if soak.minutes >= 10 else f" (soak of {soak.minutes:g} min: the target asks for >= 10)"
        lines.append(f"| RSS growth <= 10% across the soak | {100 * growth:+.1f}%{note} | {verdict(ok)} |")
    else:
        lines.append("| RSS growth <= 10% across a >= 10 min soak | not run here (`--soak 10`) | n/a |")
    return "\n".join(lines) + "\n"


#: Issue 13: (4) / (3) msgs/s, short chat at least what it was (4.2x), long messages at least 4x.
SHORT_RATIO, LONG_RATIO = 4.2, 4.0


def speed_rows(by: dict[str, Case]) -> list[str]:
    """The targets rows of issue 13: (4) / (3) throughput on short chat and on long messages."""
    out = []
    pairs = (("proxy", "naive", "short", SHORT_RATIO), ("proxy_long", "naive_long", "long", LONG_RATIO))
    for ours, naive, what, need in pairs:
        p, n = by.get(ours), by.get(naive)
        if p is None or n is None or not p.closed or not n.closed or not n.closed.throughput:
            continue
        ratio = p.closed.throughput / n.closed.throughput
        tag = f"{p.label.split()[0]} / {n.label.split()[0]}"
        out.append(f"| (4) {what} >= {need:g}x (3) {what} msgs/s | {tag}: {ratio:.2f}x | {verdict(ratio >= need)} |")
        if p.closed.ok and n.closed.ok and p.closed.cpu.server:
            per_p, per_n = p.closed.cpu.server / p.closed.ok, n.closed.cpu.server / n.closed.ok
            out.append(
                f"| (same, as CPU per message) {tag} server CPU ms per message, {what} | "
                f"{1000 * per_n:.2f} / {1000 * per_p:.2f} = {per_n / per_p:.2f}x | {verdict(per_n / per_p >= need)} |"
            )
    return out


def soak_growth(soak: Soak) -> float:
    first, last = soak.samples[0][1], soak.samples[-1][1]
    return max((b - a) / a for a, b in zip(first, last, strict=False) if a) if first else 0.0


def render_soak(soak: Soak) -> list[str]:
    r = soak.run
    head = (
        f"Soak of (4): {soak.minutes:g} min open loop at {soak.rate:.0f} msg/s of {soak.messages} never-repeated "
        f"messages; RSS per worker (MB) every 30 s."
    )
    if r is not None:
        head += (
            f" {r.ok} answered 2xx, {r.errors} non-2xx / errors, {r.dropped} dropped; latency p50 {ms(r.pct(50))} ms, "
            f"p99 {ms(r.pct(99))} ms."
        )
    out = [head, "", "| t (s) | RSS per worker MB |", "| ---: | --- |"]
    out += [f"| {at:.0f} | {_mb(rss)} |" for at, rss in soak.samples]
    out.append(f"\nLargest growth of one worker from the first to the last sample: {100 * soak_growth(soak):+.1f}%.")
    return out


#: Per-request latencies of the run, as their distribution (1001 quantiles per case and loop:
#: enough to draw a CDF, small enough to keep next to RESULTS.md), read by ``benchmarks.plots``.
LATENCIES = ROOT / "benchmarks" / "load-latencies.json"


def latency_data(cases: Sequence[Case], cmd: str) -> dict[str, Any]:
    def quantiles(run: Run | None) -> list[float] | None:
        if run is None or not run.latencies:
            return None
        return [round(percentile(run.latencies, q / 10) * 1000, 3) for q in range(1001)]

    return {
        "command": cmd,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "unit": "ms",
        "quantiles": "index i = the (i / 10)th percentile, nearest rank",
        "cases": {
            c.key: {
                "label": c.label,
                "closed": {
                    "throughput": round(c.closed.throughput, 1),
                    "count": len(c.closed.latencies),
                    "ms": quantiles(c.closed),
                }
                if c.closed
                else None,
                "open": {"rate": round(c.open.rate, 1), "count": len(c.open.latencies), "ms": quantiles(c.open)}
                if c.open
                else None,
            }
            for c in cases
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=15.0, help="measured seconds per closed-loop case")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds the duration is split into")
    ap.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each closed-loop case")
    ap.add_argument(
        "--open-duration", type=float, default=None, help="seconds per open-loop case (default: --duration)"
    )
    ap.add_argument("--open-rate", type=float, default=0.0, help="open-loop rate (default: half of (4)'s max)")
    ap.add_argument("--concurrency", type=int, default=64, help="closed-loop connections")
    ap.add_argument("--long-concurrency", type=int, default=16, help="closed-loop connections, long messages")
    ap.add_argument("--max-outstanding", type=int, default=512, help="open-loop cap on requests in flight")
    ap.add_argument("--workers", type=int, default=0, help="server worker processes (default: CPU count)")
    ap.add_argument("--messages", type=int, default=2400, help="corpus size (messages are cycled)")
    ap.add_argument("--long-messages", type=int, default=400, help="long corpus size, (3L) and (4L) (cycled)")
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    ap.add_argument("--soak", type=float, default=0.0, metavar="MINUTES", help="then soak (4) for this long")
    ap.add_argument("--soak-rate", type=float, default=0.0, help="soak rate (default: a quarter of (4)'s max)")
    ap.add_argument("--no-write", action="store_true", help="print only; do not update RESULTS.md")
    args = ap.parse_args(argv)
    stop_on_signals()
    args.open_duration = args.open_duration or args.duration
    if not 0 < args.duration <= 600 or not 0 < args.open_duration <= 600 or not 0 <= args.soak <= 120:
        ap.error("durations are bounded: --duration/--open-duration in (0, 600] s, --soak in [0, 120] min")
    if "proxy" in args.cases and "direct" not in args.cases:
        args.cases.append("direct")  # the open loop compares (4) with (1)
    cmd = ".venv/bin/python -m benchmarks.load " + " ".join(argv if argv is not None else sys.argv[1:])
    cases, soak, info = run_all(args)
    section = render(args, cases, soak, info, cmd.strip())
    print(section)
    if not args.no_write:
        write_section("load", section)
        log("wrote benchmarks/RESULTS.md (load section)")
        LATENCIES.write_text(json.dumps(latency_data(cases, cmd.strip()), indent=1) + "\n")
        log(f"wrote {LATENCIES.relative_to(ROOT)} (latency distributions, for benchmarks/plots.py)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
