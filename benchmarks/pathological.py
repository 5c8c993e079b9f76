"""Pathological payloads: what one hostile request costs itself and everyone else.

One proxy worker (shipped config), one mock upstream. For each payload: two loops of small chat
requests run for a window; after ``--lead`` seconds the payload is sent; the loops go on until
``--tail`` seconds after its answer. The baseline is the same window with no payload, measured in
the same run. Reported: the payload's status and latency, and the small requests' failures and
latency percentiles during its window, the worker's RSS (with its detection process) before and
at the end, and whether ``/healthz`` kept answering.

Run: ``.venv/bin/python -m benchmarks.pathological`` (about a minute); ``make bench`` runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from benchmarks._common import (
    aio,
    chat_bodies,
    machine_line,
    ms,
    percentile,
    rss_mb,
    running,
    shipped_config,
    start_proxy,
    start_upstream,
    tree,
    write_section,
)

JSON = {"Content-Type": "application/json"}
TEXT = {"Content-Type": "text/plain"}


@dataclass(frozen=True)
class Payload:
    name: str
    make: Callable[[], bytes]
    headers: dict[str, str]


PAYLOADS: tuple[Payload, ...] = (
    Payload('`"x."*300000 + "@example.com"` (text, 600 KB)', lambda: b"x." * 300000 + b"@example.com", TEXT),
    Payload('`"1."*300000` (text, 600 KB)', lambda: b"1." * 300000, TEXT),
    Payload('`"Maria "*35000` (text, 210 KB)', lambda: b"Maria " * 35000, TEXT),
    Payload(
        "gzip NDJSON: 100 MB of newlines in 97 KB",
        lambda: gzip.compress(b"\n" * 100_000_000, 9),
        {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"},
    ),
    Payload(
        "gzip NDJSON: 200 MB without a newline in 194 KB",
        lambda: gzip.compress(b"a" * 200_000_000, 9),
        {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"},
    ),
)  # fmt: skip


@dataclass
class Window:
    name: str
    payload_status: str = "-"
    payload_seconds: float = float("nan")
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    rss_before: float = 0.0
    rss_after: float = 0.0
    healthz_worst: float = 0.0


async def _small_loop(
    s: aiohttp.ClientSession, url: str, bodies: Sequence[bytes], stop: asyncio.Event, w: Window, offset: int
) -> None:
    i = offset
    while not stop.is_set():
        t = time.perf_counter()
        try:
            async with s.post(url, data=bodies[i % len(bodies)], headers=JSON) as r:
                await r.read()
                ok = r.status == 200
        except aiohttp.ClientError:
            ok = False
        w.latencies.append(time.perf_counter() - t)
        w.failures += not ok
        i += 2


async def _health_loop(s: aiohttp.ClientSession, admin: str, stop: asyncio.Event, w: Window) -> None:
    while not stop.is_set():
        t = time.perf_counter()
        try:
            async with s.get(admin + "/healthz") as r:
                await r.read()
        except aiohttp.ClientError:
            pass
        w.healthz_worst = max(w.healthz_worst, time.perf_counter() - t)
        await asyncio.sleep(0.05)


async def window(
    proxy_url: str, admin: str, pids: Callable[[], list[int]], p: Payload | None, lead: float, tail: float
) -> Window:
    w = Window(p.name if p else "baseline: no payload")
    bodies = chat_bodies(200, 7)
    body = p.make() if p else b""
    w.rss_before = sum(rss_mb(pid) for pid in pids())
    stop = asyncio.Event()
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as s, aiohttp.ClientSession(timeout=timeout) as h:
        loops = [asyncio.create_task(_small_loop(s, proxy_url + "/chat/m", bodies, stop, w, k)) for k in range(2)]
        health = asyncio.create_task(_health_loop(h, admin, stop, w))
        await asyncio.sleep(lead)
        if p is not None:
            t = time.perf_counter()
            try:
                async with h.post(proxy_url + "/chat/m", data=body, headers=p.headers) as r:
                    await r.read()
                    w.payload_status = str(r.status)
            except aiohttp.ClientError as exc:
                w.payload_status = exc.__class__.__name__
            w.payload_seconds = time.perf_counter() - t
        await asyncio.sleep(tail)
        stop.set()
        await asyncio.gather(*loops, health)
    w.rss_after = sum(rss_mb(pid) for pid in pids())
    return w


def table(rows: list[Window]) -> str:
    out = [
        "| payload | its status | its latency s | small requests | failed | p50 ms | p99 ms | max ms "
        "| /healthz worst ms | RSS MB before → after |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for w in rows:
        lat = sorted(w.latencies)
        out.append(
            f"| {w.name} | {w.payload_status} | {w.payload_seconds:.2f} | {len(lat)} | **{w.failures}** "
            f"| {ms(percentile(lat, 50))} | {ms(percentile(lat, 99))} | {ms(lat[-1] if lat else float('nan'))} "
            f"| {ms(w.healthz_worst)} | {w.rss_before:.0f} → {w.rss_after:.0f} |"
        )
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lead", type=float, default=1.0, help="seconds of small requests before the payload")
    ap.add_argument("--tail", type=float, default=3.0, help="seconds of small requests after its answer")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-pathological-"))
    header = machine_line()
    with running(start_upstream(work / "up")) as up:
        cfg = shipped_config(work / "cfg")
        with running(start_proxy(work / "proxy", cfg, up.url, workers=1)) as proxy:
            admin = f"http://127.0.0.1:{proxy.admin_port}"

            def pids() -> list[int]:
                return [pid for w in proxy.worker_pids() for pid in tree(w)]

            rows = [aio(window(proxy.url, admin, pids, None, args.lead, args.tail))]
            for p in PAYLOADS:
                rows.append(aio(window(proxy.url, admin, pids, p, args.lead, args.tail)))
                print(f"{p.name}: {rows[-1].payload_status} in {rows[-1].payload_seconds:.2f} s", flush=True)
    body = f"""## Pathological payloads: their own cost, and what they do to other requests

Command: `.venv/bin/python -m benchmarks.pathological`. {header}. One proxy worker (shipped config,
`timeouts.detection_budget` 1 s, `detection_deadline` 2 s), one mock upstream. Two loops of small chat
requests (corpus messages, `POST /chat/m`) run through each window; the payload is sent after
{args.lead:g} s and the loops go on {args.tail:g} s after its answer. The first row is the baseline:
the same window without a payload, in the same run. RSS = the worker and its detection process.

{table(rows)}

Target (issue 12): no small request fails while a payload is handled (the payload itself fails
closed, alone); `/healthz` keeps answering; RSS stays bounded.
"""
    write_section("pathological", body)
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
