"""A fast mock upstream for the benchmarks (aiohttp + uvloop, 127.0.0.1 only).

    python -m benchmarks.mock_upstream --port P [--processes N] [--ready-dir D] [--events-file F]

Routes (any path prefix is ignored, so ``/messages`` and ``/chat/messages`` both work):

- ``GET .../sse?events=N&interval_ms=M``: a ``text/event-stream`` of N events, the first at once,
  then one every M ms (absolute schedule, no drift). Each event is ``id: <seq>-<monotonic ns at
  send>`` plus ``data: <one JSON chat message>`` (from ``--events-file``, a JSON list of strings,
  cycled). The ``id:`` line survives redaction, so a client on the same machine can measure each
  event's delivery time (``CLOCK_MONOTONIC`` is system-wide).
- ``POST .../ndjson``: a sink that reads the body as it comes, counts bytes and lines, keeps
  nothing, and answers ``{"bytes": n, "lines": m}`` (also as ``X-Received-Bytes`` / ``-Lines``).
- anything else: reads the body and answers a small JSON object (the chat partner's ack).

With ``--processes N`` the parent starts N-1 more copies sharing the port (``SO_REUSEPORT``);
each writes ``<ready-dir>/ready-<pid>`` once it listens. SIGTERM stops them all.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from benchmarks._common import serve_until_signalled

ACK = b'{"ok":true,"status":"received"}'
DEFAULT_EVENTS = [
    json.dumps({"conversation_id": "c-1", "sender": "agent", "sent_at": "2026-11-25T10:00:00Z", "text": t})
    for t in ("Thanks for waiting, your order has shipped.", "Is there anything else I can help with today?")
]
MAX_EVENTS = 100_000
MAX_INTERVAL_MS = 10_000

EVENTS = web.AppKey("events", list)


async def ack(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=ACK, content_type="application/json")


async def sse(request: web.Request) -> web.StreamResponse:
    n = min(max(int(request.query.get("events", "10")), 0), MAX_EVENTS)
    interval = min(max(float(request.query.get("interval_ms", "0")), 0.0), MAX_INTERVAL_MS) / 1000
    events: list[str] = request.app[EVENTS]
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    start = time.monotonic()
    for seq in range(n):
        due = start + seq * interval
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        data = events[seq % len(events)]
        await resp.write(f"id: {seq}-{time.monotonic_ns()}\ndata: {data}\n\n".encode())
    await resp.write_eof()
    return resp


async def ndjson_sink(request: web.Request) -> web.Response:
    size = lines = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        lines += chunk.count(b"\n")
    # Also in headers: a proxy that redacts responses may drop the body's unnamed fields.
    headers = {"X-Received-Bytes": str(size), "X-Received-Lines": str(lines)}
    return web.json_response({"bytes": size, "lines": lines}, headers=headers)


async def dispatch(request: web.Request) -> web.StreamResponse:
    path = request.path
    if path.endswith("/sse"):
        return await sse(request)
    if path.endswith("/ndjson") and request.method == "POST":
        return await ndjson_sink(request)
    return await ack(request)


def build_app(events: list[str]) -> web.Application:
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app[EVENTS] = events
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


async def serve_one(port: int, events: list[str], ready_dir: Path | None) -> None:
    await serve_until_signalled(build_app(events), port, ready_dir, backlog=2048)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--processes", type=int, default=1)
    ap.add_argument("--ready-dir", type=Path)
    ap.add_argument("--events-file", type=Path, help="JSON list of SSE event data strings")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    events = json.loads(args.events_file.read_text()) if args.events_file else DEFAULT_EVENTS
    if not events or not all(isinstance(e, str) and "\n" not in e for e in events):
        print("--events-file must hold a non-empty JSON list of one-line strings", file=sys.stderr)
        return 2
    kids: list[subprocess.Popen[bytes]] = []
    if not args.child:
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.mock_upstream",
            *(argv if argv is not None else sys.argv[1:]),
            "--child",
        ]
        kids = [subprocess.Popen(cmd, stdin=subprocess.DEVNULL) for _ in range(max(args.processes, 1) - 1)]
    import uvloop

    try:
        uvloop.run(serve_one(args.port, events, args.ready_dir))
    finally:
        for k in kids:
            if k.poll() is None:
                k.send_signal(signal.SIGTERM)
        for k in kids:
            with contextlib.suppress(subprocess.TimeoutExpired):
                k.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
