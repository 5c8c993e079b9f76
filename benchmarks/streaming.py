"""Streaming benchmark: SSE through the proxy against a direct connection, and a 20 MB NDJSON upload.

    .venv/bin/python -m benchmarks.streaming [--streams 5] [--events 20] [--interval-ms 50]
                                             [--burst 400] [--upload-mb 20] [--no-write]

One mock upstream (``benchmarks.mock_upstream``) and one proxy worker on 127.0.0.1, the proxy on
a copy of ``config/proxy.yaml`` whose ``chat_partner`` redacts both directions (so every SSE event
coming back is redacted), in the same run:

- **SSE, paced**: streams of ``--events`` events ``--interval-ms`` apart, alternately direct and
  through the proxy. *Time to first event* is counted from the request to the first complete
  event; *delivery latency* of each event from the upstream's send time (carried in its ``id:``
  line, ``CLOCK_MONOTONIC``, which the machine shares) to its arrival. The proxy's added latency is
  the difference between the two sides.
- **SSE, burst**: ``--burst`` events sent back to back; per-event time = stream time / events, so
  the difference between the sides is the proxy's cost of one event.
- **NDJSON upload** of ``--upload-mb`` MiB, streamed (chunked) through the proxy to the upstream's
  sink, with the proxy worker's RSS sampled from ``/proc/<pid>/status`` every 20 ms: the growth
  must follow the per-line limit (``limits.max_message_bytes``), not the body's size. Lines are chat
  records (a corpus message in ``text``, scanned) with an ``attachment`` of random base64 (kept as
  is in this config copy, so the bytes reach the upstream), a few of them close to the per-line
  limit. The config copy also raises ``timeouts.upstream_total`` (30 s shipped) so that a long
  upload on a busy machine is not cut.

Writes its section of ``benchmarks/RESULTS.md`` between ``<!-- streaming:start -->`` and
``<!-- streaming:end -->``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks._common import (
    aio,
    chat_messages,
    hwm_mb,
    machine_line,
    make_config,
    ms,
    percentile,
    rss_mb,
    start_proxy,
    start_upstream,
    stop_on_signals,
    write_section,
)

UPLOAD_TOTAL_TIMEOUT = 600.0


def log(msg: str) -> None:
    print(f"[streaming {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---- SSE ----------------------------------------------------------------------------------
@dataclass
class SseRun:
    ttfe: float = float("nan")
    total: float = 0.0
    events: int = 0
    error_events: int = 0
    delivery: list[float] = field(default_factory=list)


async def sse_once(session: aiohttp.ClientSession, url: str) -> SseRun:
    run = SseRun()
    t0 = time.monotonic_ns()
    async with session.get(url) as resp:
        if resp.status != 200:
            raise RuntimeError(f"SSE request answered {resp.status}")
        event_id: str | None = None
        seen_data = is_error = False
        async for raw in resp.content:
            line = raw.rstrip(b"\r\n")
            if line:
                if line.startswith(b"id:"):
                    event_id = line[3:].strip().decode()
                elif line.startswith(b"event:") and line[6:].strip() == b"error":
                    is_error = True
                elif line.startswith(b"data"):
                    seen_data = True
                continue
            if event_id is None and not seen_data:
                continue
            now = time.monotonic_ns()
            run.events += 1
            if run.events == 1:
                run.ttfe = (now - t0) / 1e9
            if is_error:
                run.error_events += 1
            elif event_id and "-" in event_id:
                run.delivery.append((now - int(event_id.split("-", 1)[1])) / 1e9)
            event_id, seen_data, is_error = None, False, False
    run.total = (time.monotonic_ns() - t0) / 1e9
    return run


@dataclass
class SseSide:
    name: str
    paced: list[SseRun] = field(default_factory=list)
    burst: list[SseRun] = field(default_factory=list)

    def ttfes(self) -> list[float]:
        return sorted(r.ttfe for r in self.paced)

    def delivery(self) -> list[float]:
        return sorted(d for r in self.paced for d in r.delivery)

    def per_event(self) -> float:
        """Seconds per event in the burst streams (all of them together)."""
        events = sum(r.events for r in self.burst)
        return sum(r.total for r in self.burst) / events if events else float("nan")

    def errors(self) -> int:
        return sum(r.error_events for r in (*self.paced, *self.burst))

    def events(self) -> int:
        return sum(r.events for r in (*self.paced, *self.burst))


async def run_sse(direct: str, proxied: str, args: argparse.Namespace) -> tuple[SseSide, SseSide]:
    sides = (SseSide("direct"), SseSide("through the proxy"))
    bases = (direct, proxied)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        paced = f"/sse?events={args.events}&interval_ms={args.interval_ms:g}"
        burst = f"/sse?events={args.burst}&interval_ms=0"
        for base in bases:  # warm-up: connections, first-call paths
            await sse_once(session, base + "/sse?events=3&interval_ms=0")
        for _ in range(args.streams):
            for side, base in zip(sides, bases, strict=True):
                side.paced.append(await sse_once(session, base + paced))
        for _ in range(2):
            for side, base in zip(sides, bases, strict=True):
                side.burst.append(await sse_once(session, base + burst))
    return sides


# ---- NDJSON upload ------------------------------------------------------------------------
def upload_lines(total_bytes: int, big_line: int, big_lines: int, seed: int) -> list[bytes]:
    """Chat records with an attachment, about 8 KB each, plus ``big_lines`` of ``big_line`` bytes."""
    rng = random.Random(seed)
    msgs = chat_messages(500, seed)
    out: list[bytes] = []
    size = 0
    big_every = total_bytes // (big_lines + 1)
    next_big, bigs = big_every, 0
    i = 0
    while size < total_bytes:
        msg = dict(msgs[i % len(msgs)])
        msg.pop("survey", None)
        if bigs < big_lines and size >= next_big:
            raw_len = (big_line - 400) * 3 // 4
            next_big += big_every
            bigs += 1
        else:
            raw_len = rng.randint(3000, 9000)
        msg["attachment"] = base64.b64encode(rng.randbytes(raw_len)).decode()
        line = json.dumps(msg, ensure_ascii=False).encode() + b"\n"
        out.append(line)
        size += len(line)
        i += 1
    return out


async def chunks_of(lines: Sequence[bytes], progress: list[int], chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
    buf: list[bytes] = []
    held = 0
    for line in lines:
        buf.append(line)
        held += len(line)
        if held >= chunk:
            data = b"".join(buf)
            buf, held = [], 0
            progress[0] += len(data)
            yield data
    if buf:
        data = b"".join(buf)
        progress[0] += len(data)
        yield data


@dataclass
class Upload:
    name: str
    sent: int = 0
    lines: int = 0
    status: int = 0
    received: int = 0
    received_lines: int = 0
    seconds: float = 0.0
    rss_before: float = 0.0
    rss_peak: float = 0.0
    hwm_before: float = 0.0
    hwm_after: float = 0.0
    #: (share of the body sent, RSS MB) samples
    profile: list[tuple[float, float]] = field(default_factory=list)

    @property
    def growth(self) -> float:
        return self.rss_peak - self.rss_before


async def upload(name: str, url: str, lines: Sequence[bytes], pid: int | None) -> Upload:
    up = Upload(name, sent=sum(map(len, lines)), lines=len(lines))
    progress = [0]
    done = asyncio.Event()

    def rss() -> float:
        return rss_mb(pid) if pid else 0.0

    async def sample() -> None:
        while not done.is_set():
            value = rss()
            up.rss_peak = max(up.rss_peak, value)
            up.profile.append((progress[0] / up.sent, value))
            await asyncio.sleep(0.02)

    if pid:
        up.rss_before = up.rss_peak = rss()
        up.hwm_before = hwm_mb(pid)
    loop = asyncio.get_running_loop()
    sampler = loop.create_task(sample())
    t0 = time.perf_counter()
    timeout = aiohttp.ClientTimeout(total=UPLOAD_TOTAL_TIMEOUT)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(url, data=chunks_of(lines, progress), headers={"Content-Type": "application/x-ndjson"}) as r,
        ):
            await r.read()
            up.status = r.status
            up.received = int(r.headers.get("X-Received-Bytes", "0"))
            up.received_lines = int(r.headers.get("X-Received-Lines", "0"))
    finally:
        up.seconds = time.perf_counter() - t0
        done.set()
        await sampler
    if pid:
        up.hwm_after = hwm_mb(pid)
    return up


# ---- the run ------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> tuple[tuple[SseSide, SseSide], list[Upload], dict[str, Any]]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    info: dict[str, Any] = {}
    try:
        events = [json.dumps(m, ensure_ascii=False) for m in chat_messages(200, args.seed)]
        events_file = tmp / "events.json"
        events_file.write_text(json.dumps(events))
        upstream = start_upstream(tmp / "upstream", events_file=events_file)
        proxy = None
        try:

            def edit(d: dict[str, Any]) -> None:
                d["destinations"]["chat_partner"]["directions"] = ["request", "response"]
                d["destinations"]["chat_partner"]["fields"]["attachment"] = "keep"
                d["timeouts"]["upstream_total"] = UPLOAD_TOTAL_TIMEOUT
                info["max_line"] = int(d["limits"]["max_message_bytes"])

            config = make_config(tmp / "proxy", edit, "proxy-streaming.yaml")
            proxy = start_proxy(tmp / "proxy", config, upstream.url, 1, name="stream-proxy")
            pid = proxy.worker_pids()[0]
            info["rss_ready"] = rss_mb(pid)
            log(f"SSE: {args.streams} paced streams of {args.events} events {args.interval_ms:g} ms apart per side, "
                f"then 2 bursts of {args.burst} events per side")  # fmt: skip
            sides = aio(run_sse(upstream.url, proxy.url + "/chat", args))
            for s in sides:
                log(f"SSE {s.name}: TTFE p50 {ms(statistics.median(s.ttfes()))} ms, delivery p50 "
                    f"{ms(percentile(s.delivery(), 50))} ms, burst {ms(s.per_event())} ms/event, "
                    f"{s.errors()} error events")  # fmt: skip
            total = int(args.upload_mb * 1024 * 1024)
            big = min(int(info["max_line"] * 0.9), 4 * 1024 * 1024)
            lines = upload_lines(total, big, args.big_lines, args.seed)
            warm = upload_lines(2 * 1024 * 1024, big, 1, args.seed + 1)
            info["big_line"] = max(map(len, lines))
            log(f"NDJSON: warm-up upload ({sum(map(len, warm)) / 2**20:.1f} MiB), then {total / 2**20:.0f} MiB "
                f"({len(lines)} lines) direct and through the proxy")  # fmt: skip
            uploads = []
            aio(upload("warm-up", proxy.url + "/chat/ndjson", warm, pid))
            uploads.append(aio(upload("direct to upstream", upstream.url + "/ndjson", lines, None)))
            uploads.append(aio(upload("through the proxy", proxy.url + "/chat/ndjson", lines, pid)))
            for u in uploads:
                log(f"upload {u.name}: {u.status} in {u.seconds:.1f}s, received {u.received / 2**20:.1f} MiB, "
                    f"RSS growth {u.growth:.1f} MB")  # fmt: skip
            info["rss_end"] = rss_mb(pid)
        finally:
            if proxy is not None:
                proxy.stop()
            upstream.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return sides, uploads, info


def render(args: argparse.Namespace, sides: tuple[SseSide, SseSide], uploads: list[Upload], info: dict[str, Any],
           cmd: str) -> str:  # fmt: skip
    d, p = sides
    dt, pt = d.ttfes(), p.ttfes()
    dd, pd = d.delivery(), p.delivery()
    lines = [
        "## Streaming: SSE and NDJSON through the proxy (`benchmarks/streaming.py`)",
        "",
        f"Command: `{cmd}`. {machine_line()}. One proxy worker on a copy of `config/proxy.yaml` with "
        "`chat_partner.directions: [request, response]` (every event coming back is redacted), "
        "`fields.attachment: keep` and `timeouts.upstream_total: 600`; one mock upstream process.",
        "",
        f"SSE, paced: {args.streams} streams per side of {args.events} chat-message events {args.interval_ms:g} ms "
        "apart, sides alternating. TTFE = request to first complete event; delivery = upstream send time "
        "(in the event's `id:`) to arrival. Burst: 2 streams per side of "
        f"{args.burst} events back to back.",
        "",
        "| | TTFE p50 ms | TTFE max ms | delivery p50 ms | delivery p95 ms | delivery p99 ms | burst ms/event | "
        "events / error events |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s, t, dl in ((d, dt, dd), (p, pt, pd)):
        lines.append(
            f"| {s.name} | {ms(statistics.median(t))} | {ms(t[-1])} | {ms(percentile(dl, 50))} | "
            f"{ms(percentile(dl, 95))} | {ms(percentile(dl, 99))} | {ms(s.per_event())} | {s.events()} / {s.errors()} |"
        )
    lines.append(
        f"| **added by the proxy** | **{ms(statistics.median(pt) - statistics.median(dt))}** | | "
        f"**{ms(percentile(pd, 50) - percentile(dd, 50))}** | {ms(percentile(pd, 95) - percentile(dd, 95))} | "
        f"{ms(percentile(pd, 99) - percentile(dd, 99))} | **{ms(p.per_event() - d.per_event())}** | |"
    )
    max_line = info["max_line"]
    lines += [
        "",
        f"NDJSON upload, chunked, 64 KiB writes: chat records with a base64 `attachment` (3-12 KB lines) and "
        f"{args.big_lines} lines of {info['big_line'] / 2**20:.2f} MiB; per-line limit (`limits.max_message_bytes`) "
        f"{max_line / 2**20:.0f} MiB. RSS of the proxy worker sampled every 20 ms (`VmRSS`), peak since start "
        "from `VmHWM`; a 2 MiB warm-up upload went first.",
        "",
        "| | body MiB | lines | status | upstream got MiB / lines | seconds | MiB/s | lines/s | RSS before MB | "
        "peak RSS MB | **peak growth MB** | VmHWM before → after MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for u in uploads:
        proxied = u.rss_before > 0
        lines.append(
            f"| {u.name} | {u.sent / 2**20:.1f} | {u.lines} | {u.status} | {u.received / 2**20:.1f} / "
            f"{u.received_lines} | {u.seconds:.1f} | {u.sent / 2**20 / u.seconds:.1f} | {u.lines / u.seconds:.0f} | "
            + (
                f"{u.rss_before:.0f} | {u.rss_peak:.0f} | **{u.growth:.1f}** | {u.hwm_before:.0f} → {u.hwm_after:.0f} |"
                if proxied
                else "| | | |"
            )
        )
    prox = uploads[-1]
    if prox.profile:
        quart = []
        for q in (0.25, 0.5, 0.75, 1.0):
            at = [rss for share, rss in prox.profile if share <= q]
            quart.append(f"{max(at):.0f}" if at else "n/a")
        lines += [
            "",
            f"Proxy worker RSS (MB, highest sample) by share of the body sent: 25% {quart[0]}, 50% {quart[1]}, "
            f"75% {quart[2]}, 100% {quart[3]}. Peak growth {prox.growth:.1f} MB = "
            f"{prox.growth * 2**20 / max_line:.1f} x the per-line limit, "
            f"{100 * prox.growth * 2**20 / prox.sent:.1f}% of the body size.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, default=5, help="paced SSE streams per side")
    ap.add_argument("--events", type=int, default=20, help="events per paced stream")
    ap.add_argument("--interval-ms", type=float, default=50.0, help="gap between paced events")
    ap.add_argument("--burst", type=int, default=400, help="events per burst stream")
    ap.add_argument("--upload-mb", type=float, default=20.0, help="NDJSON upload size (MiB)")
    ap.add_argument("--big-lines", type=int, default=8, help="lines near the per-line limit in the upload")
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--no-write", action="store_true", help="print only; do not update RESULTS.md")
    args = ap.parse_args(argv)
    stop_on_signals()
    if not (0 < args.streams <= 50 and 0 < args.events <= 1000 and 0 < args.burst <= 20000):
        ap.error("--streams <= 50, --events <= 1000, --burst <= 20000")
    if not (0 < args.upload_mb <= 512 and 0 <= args.interval_ms <= 5000):
        ap.error("--upload-mb in (0, 512], --interval-ms in [0, 5000]")
    cmd = ".venv/bin/python -m benchmarks.streaming " + " ".join(argv if argv is not None else sys.argv[1:])
    sides, uploads, info = run(args)
    section = render(args, sides, uploads, info, cmd.strip())
    print(section)
    if not args.no_write:
        write_section("streaming", section)
        log("wrote benchmarks/RESULTS.md (streaming section)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
