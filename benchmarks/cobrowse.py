"""Co-browse benchmark: rrweb events through the proxy's ``/cobrowse/ws/`` route against the same
events sent straight to the upstream, in the same run.

    .venv/bin/python -m benchmarks.cobrowse [--events 3000] [--rows 1000] [--no-write]

A session faithful to what rrweb 2 emits for a visitor on an account page (its shape and mix were
taken from the browser test's real recording, ``tests/integration/test_cobrowse_browser.py``):
meta, full snapshot, then mouse-move batches, mouse interactions, scrolls, an input event per key
(the whole value each time, as rrweb sends it) and a few text mutations. One proxy worker on a
copy of ``config/proxy.yaml`` (real detection, in its child process) and an aiohttp upstream on
127.0.0.1 that answers each WebSocket message with ``ack``:

- **added latency per event**: events sent one at a time, each waiting for its ``ack``; the round
  trip through the proxy minus the round trip straight to the upstream, per kind of event;
- **events per second**: the whole session sent back to back (pipelined) over one socket, until
  the upstream has acknowledged the last event, both ways;
- **a large page**: a full snapshot of an order-history page of ``--rows`` rows (>= 5,000 nodes,
  some PII in its text) as one WebSocket message and as one ``POST /cobrowse/events``, through
  the proxy and straight;
- **the core alone** (no sockets, no detection: a detector that finds nothing): what the
  redactor's walk costs per event beside ``json.loads`` + ``json.dumps`` of the same event.

Writes its section of ``benchmarks/RESULTS.md`` between ``<!-- cobrowse:start -->`` and
``<!-- cobrowse:end -->``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from benchmarks._common import aio, free_port, machine_line, make_config, percentile, start_proxy, stop_on_signals
from benchmarks._common import write_section as _write_section

FIRST_NAMES = ["Maria", "Jonathan", "Aisha", "Wei", "Lucas", "Fatima", "Oliver", "Sofia", "Noah", "Elena"]
LAST_NAMES = ["Garcia", "Whitaker", "Khan", "Zhang", "Silva", "Haddad", "Brown", "Rossi", "Smith", "Petrova"]
PRODUCTS = ["Walnut desk lamp", "Linen shirt", "Trail running shoes", "Espresso grinder", "Wool blanket",
            "Noise-cancelling headphones", "Cast iron pan", "Yoga mat", "Backpack 30L", "Ceramic mug set"]  # fmt: skip


def log(msg: str) -> None:
    print(f"[cobrowse {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---- a session as rrweb emits it ------------------------------------------------------------------
class Ids:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> int:
        self.n += 1
        return self.n


def el(ids: Ids, tag: str, attrs: dict[str, Any] | None = None, *kids: dict[str, Any]) -> dict[str, Any]:
    return {"type": 2, "tagName": tag, "attributes": attrs or {}, "childNodes": list(kids), "id": ids()}


def txt(ids: Ids, text: str) -> dict[str, Any]:
    return {"type": 3, "textContent": text, "id": ids()}


def page(rows: int, seed: int) -> tuple[dict[str, Any], dict[str, int], int]:
    """An account page with an order history of ``rows`` rows: the document node, the ids of the
    form's inputs by name, and the node count."""
    rnd = random.Random(seed)
    ids = Ids()
    doc_id = ids()
    inputs: dict[str, int] = {}

    def field(name: str, attrs: dict[str, str]) -> dict[str, Any]:
        node = el(ids, "input", {"name": name, **attrs})
        inputs[name] = node["id"]
        return el(ids, "label", {}, txt(ids, name.title() + " "), node)

    style = {**txt(ids, "body{font-family:sans-serif} td{padding:4px}"), "isStyle": True}
    head = el(ids, "head", {}, el(ids, "title", {}, txt(ids, "Your account")), el(ids, "style", {}, style))
    body_rows = []
    for i in range(rows):
        who = f"{rnd.choice(FIRST_NAMES)} {rnd.choice(LAST_NAMES)}"
        ship = f"Shipped to {who}" if i % 10 == 0 else "Delivered"
        body_rows.append(
            el(ids, "tr", {"class": "order"},
               el(ids, "td", {}, txt(ids, f"#A-{10000 + i}")),
               el(ids, "td", {}, txt(ids, rnd.choice(PRODUCTS))),
               el(ids, "td", {"class": "price"}, txt(ids, f"${rnd.randint(5, 400)}.{rnd.randint(0, 99):02d}")),
               el(ids, "td", {}, txt(ids, ship)),
               el(ids, "td", {}, el(ids, "a", {"href": f"/orders/{10000 + i}?ref=history"},
                                    txt(ids, "details")))))  # fmt: skip
    body = el(
        ids, "body", {},
        el(ids, "h1", {}, txt(ids, "Welcome back, Maria Garcia")),
        el(ids, "p", {}, txt(ids, "Email: maria.garcia@example.com, phone +1 (415) 555-0132")),
        el(ids, "form", {"id": "details"},
           field("name", {"autocomplete": "name"}), field("email", {"type": "email"}),
           field("phone", {"type": "tel"}), field("notes", {"type": "text"})),
        el(ids, "table", {"id": "orders"}, el(ids, "tbody", {}, *body_rows)),
    )  # fmt: skip
    html = el(ids, "html", {"lang": "en"}, head, body)
    doc = {"type": 0, "childNodes": [{"type": 1, "name": "html", "publicId": "", "systemId": "", "id": ids()}, html],
           "id": doc_id}  # fmt: skip
    return doc, inputs, ids.n


def session(n: int, seed: int, rows: int = 40) -> list[dict[str, Any]]:
    """``n`` events: meta, full snapshot, then the mix of a mouse- and scroll-heavy visit with typing."""
    rnd = random.Random(seed)
    doc, inputs, _ = page(rows, seed)
    ts = 1_764_000_000_000
    out: list[dict[str, Any]] = [
        {"type": 4, "data": {"href": "https://shop.example/account", "width": 1280, "height": 800}, "timestamp": ts},
        {"type": 2, "data": {"node": doc, "initialOffset": {"left": 0, "top": 0}}, "timestamp": ts + 5},
    ]
    typing = [("name", "Jonathan Whitaker"), ("email", "jon.whitaker@example.net"), ("phone", "415 555 0198"),
              ("notes", "please call me back after five, order A-10003 arrived damaged")]  # fmt: skip
    field_i = char_i = 0
    while len(out) < n:
        ts += rnd.randint(20, 120)
        r = rnd.random()
        if r < 0.40:
            positions = [{"x": rnd.randint(0, 1280), "y": rnd.randint(0, 800), "id": rnd.randint(1, 50),
                          "timeOffset": -rnd.randint(0, 500)} for _ in range(rnd.randint(3, 12))]  # fmt: skip
            out.append({"type": 3, "data": {"source": 1, "positions": positions}, "timestamp": ts})
        elif r < 0.60:
            out.append({"type": 3, "data": {"source": 3, "id": 1, "x": 0, "y": rnd.randint(0, 4000)}, "timestamp": ts})
        elif r < 0.72:
            out.append({"type": 3, "data": {"source": 2, "type": rnd.choice([0, 1, 2, 5, 6]), "id": rnd.randint(1, 50),
                                            "x": rnd.randint(0, 1280), "y": rnd.randint(0, 800), "pointerType": 0},
                        "timestamp": ts})  # fmt: skip
        elif r < 0.74:
            out.append({"type": 3, "data": {"source": 4, "width": 1280, "height": rnd.choice([800, 760])},
                        "timestamp": ts})  # fmt: skip
        elif r < 0.97:
            name, value = typing[field_i % len(typing)]
            char_i += 1
            out.append({"type": 3, "data": {"source": 5, "id": inputs[name], "text": value[:char_i],
                                            "isChecked": False, "userTriggered": True}, "timestamp": ts})  # fmt: skip
            if char_i >= len(value):
                field_i, char_i = field_i + 1, 0
        else:
            texts = [{"id": 5, "value": f"Your account ({rnd.randint(1, 9)})"}]
            out.append({"type": 3, "data": {"source": 0, "texts": texts, "attributes": [], "removes": [], "adds": []},
                        "timestamp": ts})  # fmt: skip
    return out[:n]


def kind(e: dict[str, Any]) -> str:
    if e["type"] != 3:
        return {2: "full_snapshot", 4: "meta"}.get(e["type"], f"type {e['type']}")
    return {0: "mutation", 1: "mouse_move", 2: "mouse_interaction", 3: "scroll", 4: "viewport_resize",
            5: "input"}.get(e["data"]["source"], "other")  # fmt: skip


TEXT_FREE = {"mouse_move", "mouse_interaction", "scroll", "viewport_resize"}


# ---- the upstream ---------------------------------------------------------------------------------
async def start_upstream() -> tuple[web.AppRunner, str]:
    async def ws_or_post(request: web.Request) -> web.StreamResponse:
        if request.method == "POST":
            await request.read()
            return web.Response(text="ok")
        ws = web.WebSocketResponse(max_msg_size=64 * 1024 * 1024)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await ws.send_str("ack")
        return ws

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", ws_or_post)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


# ---- measurements ---------------------------------------------------------------------------------
async def round_trips(url: str, messages: Sequence[str], closed: list[int] | None = None) -> list[float]:
    """Each message sent alone, waiting for its ack: seconds per message. With ``closed``, a
    socket the proxy closes (fail closed: 1011 past a deadline) is noted there, not raised."""
    out = []
    async with aiohttp.ClientSession() as s, s.ws_connect(url, max_msg_size=64 * 1024 * 1024) as ws:
        for m in messages:
            t0 = time.perf_counter()
            await ws.send_str(m)
            reply = await asyncio.wait_for(ws.receive(), 60)
            if reply.type != WSMsgType.TEXT:
                if closed is None:
                    raise RuntimeError(f"socket closed ({ws.close_code}) instead of an ack")
                closed.append(ws.close_code or 0)
                return out
            out.append(time.perf_counter() - t0)
    return out


async def pipelined(url: str, messages: Sequence[str]) -> float:
    """All messages back to back; seconds until the last ack."""
    async with aiohttp.ClientSession() as s, s.ws_connect(url, max_msg_size=64 * 1024 * 1024) as ws:
        t0 = time.perf_counter()

        async def send() -> None:
            for m in messages:
                await ws.send_str(m)

        sender = asyncio.create_task(send())
        for _ in messages:
            reply = await asyncio.wait_for(ws.receive(), 120)
            if reply.type != WSMsgType.TEXT:
                raise RuntimeError(f"socket closed ({ws.close_code}) instead of an ack")
        await sender
        return time.perf_counter() - t0


async def post_once(url: str, body: bytes) -> tuple[float, int]:
    async with aiohttp.ClientSession() as s:
        t0 = time.perf_counter()
        async with s.post(url, data=body, headers={"Content-Type": "application/json",
                                                   "X-Cobrowse-Session": "bench-1"}) as r:  # fmt: skip
            await r.read()
            return time.perf_counter() - t0, r.status


def core_costs(events: list[dict[str, Any]], snapshot: dict[str, Any]) -> dict[str, Any]:
    """The redactor alone (a detector that finds nothing): per kind, µs per event, beside
    ``json.loads`` + ``json.dumps`` of the same event."""
    from proxy.config import load_config
    from proxy.policy import Policy
    from proxy.redaction.plan import run
    from proxy.redaction.rrweb import RrwebRedactor, dumps, loads

    cfg = load_config(Path(__file__).resolve().parent.parent / "config" / "proxy.yaml", env={"PSEUDONYM_KEY": "x"})
    red = RrwebRedactor(Policy("cobrowse", cfg.destinations["cobrowse"], None))

    async def nothing(texts: list[str]) -> list[list[Any]]:
        return [[] for _ in texts]

    raw = [json.dumps(e) for e in events]
    loop = asyncio.new_event_loop()
    try:

        def redact_all() -> dict[str, list[float]]:
            sess = red.session()
            per: dict[str, list[float]] = {}
            for text, e in zip(raw, events, strict=True):
                t0 = time.perf_counter()
                plan = red.plan(sess, [loads(text)])
                out, _ = loop.run_until_complete(run(plan, nothing)) if plan.texts else plan.finish([])
                dumps(out[0] if out else None)
                per.setdefault(kind(e), []).append(time.perf_counter() - t0)
            return per

        def passthrough() -> dict[str, list[float]]:
            per: dict[str, list[float]] = {}
            for text, e in zip(raw, events, strict=True):
                t0 = time.perf_counter()
                json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":")).encode()
                per.setdefault(kind(e), []).append(time.perf_counter() - t0)
            return per

        redact_all()  # warm up
        red_t, base_t = redact_all(), passthrough()
        snap_text = json.dumps(snapshot)
        snap_red, snap_base = [], []
        texts = 0
        for _ in range(3):
            t0 = time.perf_counter()
            plan = red.plan(red.session(), [loads(snap_text)])
            texts = len(plan.texts)
            runs = len(plan.chunks(red.cfg.detect_chunk_chars))
            out, _ = plan.finish([[] for _ in plan.texts])
            dumps(out)
            snap_red.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            json.dumps(json.loads(snap_text), ensure_ascii=False, separators=(",", ":")).encode()
            snap_base.append(time.perf_counter() - t0)
    finally:
        loop.close()
    return {
        "per_kind": {
            k: (statistics.median(v) * 1e6, statistics.median(base_t[k]) * 1e6, len(v)) for k, v in red_t.items()
        },
        "snapshot": (min(snap_red), min(snap_base), texts, runs, red.cfg.detect_chunk_chars),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    events = session(args.events, seed=7)
    big_doc, _, nodes = page(args.rows, seed=11)
    big = {"type": 2, "data": {"node": big_doc, "initialOffset": {"left": 0, "top": 0}}, "timestamp": 1}
    messages = [json.dumps(e) for e in events]
    info: dict[str, Any] = {
        "events": len(events),
        "kinds": Counter(kind(e) for e in events),
        "bytes": sum(len(m.encode()) for m in messages),
        "nodes": nodes,
        "big_bytes": len(json.dumps(big).encode()),
    }
    log(f"core alone: {len(events)} events, snapshot of {nodes} nodes")
    info["core"] = core_costs(events, big)
    work = Path(tempfile.mkdtemp(prefix="bench-cobrowse-"))
    try:

        async def measure() -> dict[str, Any]:
            runner, up_url = await start_upstream()
            proxy = None
            try:
                cfg = make_config(work / "cfg", lambda d: None)
                proxy = await asyncio.to_thread(start_proxy, work / "proxy", cfg, up_url, 1)
                direct = up_url.replace("http://", "ws://") + "/cobrowse/ws/bench"
                via = f"ws://127.0.0.1:{proxy.port}/cobrowse/ws/bench"
                res: dict[str, Any] = {}
                # warm-up: the proxy's detector and both paths
                await round_trips(via, messages[:50])
                await round_trips(direct, messages[:50])
                log("latency per event, one at a time")
                lat_direct, lat_via = [], []
                for rnd in range(args.rounds):  # alternate sides: drift on a busy machine hits both
                    lat_direct.append(await round_trips(direct, messages))
                    lat_via.append(await round_trips(via, messages))
                    log(f"  round {rnd + 1}/{args.rounds} done")
                res["latency"] = (lat_direct, lat_via)
                log("events per second, pipelined")
                res["rate"] = ([await pipelined(direct, messages) for _ in range(2)],
                               [await pipelined(via, messages) for _ in range(2)])  # fmt: skip
                log(f"large page: {nodes} nodes, {info['big_bytes']} bytes")
                big_msg = json.dumps(big)
                ws_d, ws_v, closed = [], [], []
                for _ in range(3):
                    ws_d.extend(await round_trips(direct, [big_msg]))
                    ws_v.extend(await round_trips(via, [big_msg], closed))
                res["closed"] = closed
                ws_v = ws_v or [float("nan")]
                body = json.dumps([big]).encode()
                po_d, po_v, refused = [], [], []
                for _ in range(3):
                    t, st = await post_once(up_url + "/cobrowse/events", body)
                    po_d.append(t)
                    t, st = await post_once(f"http://127.0.0.1:{proxy.port}/cobrowse/events", body)
                    if st == 200:
                        po_v.append(t)
                    else:  # fail closed (503 past a deadline): a result, reported as such
                        refused.append(st)
                res["big"] = (ws_d, ws_v, po_d, po_v or [float("nan")])
                res["refused"] = refused
                return res
            finally:
                if proxy is not None:
                    await asyncio.to_thread(proxy.stop)
                await runner.cleanup()

        info.update(aio(measure()))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return info


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def render(args: argparse.Namespace, info: dict[str, Any], started: float) -> str:
    events = info["events"]
    kinds: Counter[str] = info["kinds"]
    lines = [
        "## Co-browse: rrweb events through `/cobrowse/ws/` (`benchmarks/cobrowse.py`)",
        "",
        f"`.venv/bin/python -m benchmarks.cobrowse --events {args.events} --rows {args.rows} --rounds {args.rounds}`"
        f" in {time.time() - started:.0f} s; {machine_line()}. One proxy worker on the shipped config (real "
        "detection), an aiohttp upstream answering each message with `ack`; every figure beside the same events "
        "sent straight to the upstream in the same run.",
        "",
        f"Session: {events} events, {info['bytes']:,} bytes of JSON, "
        + ", ".join(f"{k} {n}" for k, n in kinds.most_common())
        + " (a mix taken from the browser test's real recording: mouse- and scroll-heavy, an input event per key).",
        "",
        "**Added latency per event** (each event alone, round trip to the upstream's `ack`; medians over "
        f"{args.rounds} rounds of the whole session):",
        "",
        "| events | n | direct p50 | via proxy p50 | added p50 | added p95 |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    lat_direct, lat_via = info["latency"]
    groups = {"text-free (mouse, scroll, viewport)": TEXT_FREE, "input (a key typed)": {"input"},
              "mutation (a text change)": {"mutation"}, "meta": {"meta"}}  # fmt: skip
    ks = [kind(e) for e in session(args.events, seed=7)]
    for label, members in groups.items():
        d = sorted(t for rnd in lat_direct for t, k in zip(rnd, ks, strict=True) if k in members)
        v = sorted(t for rnd in lat_via for t, k in zip(rnd, ks, strict=True) if k in members)
        if not d:
            continue
        lines.append(
            f"| {label} | {len(v)} | {ms(percentile(d, 50))} | {ms(percentile(v, 50))} | "
            f"{ms(percentile(v, 50) - percentile(d, 50))} | {ms(percentile(v, 95) - percentile(d, 95))} |"
        )
    rd, rv = info["rate"]
    n = info["events"]
    lines += [
        "",
        f"**Events per second**, the whole session pipelined over one socket (best of 2): straight "
        f"**{n / min(rd):,.0f}/s**, through the proxy **{n / min(rv):,.0f}/s** "
        f"({min(rv) / min(rd):.1f}x the time).",
        "",
    ]
    ws_d, ws_v, po_d, po_v = info["big"]
    core = info["core"]
    snap_red, snap_base, texts, runs, chunk = core["snapshot"]
    lines += [
        f"**A large page**: full snapshot of {info['nodes']:,} nodes ({info['big_bytes']:,} bytes; {texts:,} distinct "
        f"texts go to detection, in {runs} runs of at most {chunk:,} characters: `cobrowse.detect_chunk_chars`), "
        "best of 3:",
        "",
        "| path | straight to the upstream | through the proxy | added |",
        "| --- | ---: | ---: | ---: |",
        f"| WebSocket message | {ms(min(ws_d))} | {ms(min(ws_v))} | {ms(min(ws_v) - min(ws_d))} |",
        f"| `POST /cobrowse/events` | {ms(min(po_d))} | {ms(min(po_v))} | {ms(min(po_v) - min(po_d))} |",
        f"| refused (fail closed) of 3 tries | | WebSocket closes {info['closed'] or 'none'}, POST answers "
        f"{info['refused'] or 'none'} | |",
        f"| the core alone (walk + rebuild, no detection) vs `json.loads`+`dumps` | {ms(snap_base)} | "
        f"{ms(snap_red)} | {ms(snap_red - snap_base)} |",
        "",
        "**The core alone** per event (no sockets, a detector that finds nothing; median µs, beside "
        "`json.loads` + `json.dumps` of the same event):",
        "",
        "| event | n | redactor | parse + serialise only |",
        "| --- | ---: | ---: | ---: |",
    ]
    for k, (r, b, cnt) in sorted(core["per_kind"].items(), key=lambda x: -x[1][2]):
        lines.append(f"| {k} | {cnt} | {r:.1f} µs | {b:.1f} µs |")
    text_free_added = [
        percentile(sorted(t for rnd in lat_via for t, k in zip(rnd, ks, strict=True) if k in TEXT_FREE), 50)
        - percentile(sorted(t for rnd in lat_direct for t, k in zip(rnd, ks, strict=True) if k in TEXT_FREE), 50)
    ]
    lines += [
        "",
        f"Text-free events add **{ms(text_free_added[0])}** each at the median through the whole proxy (the goal: "
        "well under 1 ms); they never reach detection. Input events and text mutations wait for one detection "
        "call each (the detector's round trip dominates; masked fields need none). A full snapshot's time grows with "
        "the page's distinct text; it is detected in runs, each within `timeouts.detection_deadline`.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=3000)
    ap.add_argument("--rows", type=int, default=1000, help="order-history rows of the large page (~11 nodes each)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    stop_on_signals()
    started = time.time()
    info = run(args)
    text = render(args, info, started)
    print(text)
    if not args.no_write:
        _write_section("cobrowse", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
