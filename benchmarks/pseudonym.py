"""Pseudonyms: the latency the vault adds per message, beside plain tagging, in the same run.

    .venv/bin/python -m benchmarks.pseudonym [--messages N] [--requests N]

Two parts, each with its baseline measured next to it:

1. **Core, in-process** (what the vault adds to redaction itself; detection is a fixed function
   so that spaCy's noise stays out): one chat message (a name and an e-mail in its text) redacted
   by the ``tag`` policy (baseline), and by the ``pseudonym`` policy with the SQLite vault and
   with the Redis vault (a real ``redis-server`` on 127.0.0.1), for a new person in every message
   (a write) and for a known person (a read); and un-masking one answer that quotes two tokens.
2. **End to end**: sequential ``POST`` s through a real proxy (shipped config, one worker) to an
   echoing upstream: ``/chat/`` (tags) vs ``/assist/`` (pseudonyms out, the echoed tokens
   un-masked back), with the SQLite vault and with Redis.

Writes the ``pseudonym`` section of ``benchmarks/RESULTS.md``. Bounded: fixed message counts,
every server stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks._common import (
    BENCH_KEY,
    BENCH_VAULT_KEY,
    free_port,
    machine_line,
    percentile,
    running,
    shipped_config,
    start_proxy,
    write_section,
)

NAME_RX = re.compile(r"(?P<PERSON>Person \d+ Smith)|(?P<EMAIL_ADDRESS>person\d+@example\.com)")


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        import redis

        while True:
            try:
                redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stats(samples: list[float]) -> tuple[float, float, float]:
    s = sorted(samples)
    return percentile(s, 50), percentile(s, 90), percentile(s, 99)


def us(v: float) -> str:
    return f"{v * 1e6:.0f}"


async def timed(n: int, one: Callable[[int], Awaitable[Any]]) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        await one(i)
        out.append(time.perf_counter() - t0)
    return out


# ---- part 1: the core ---------------------------------------------------------------------------
async def core_part(n: int, tmp: Path, redis_url: str) -> list[tuple[str, list[float]]]:
    from proxy.config import Destination
    from proxy.policy import Policy
    from proxy.redaction import Redaction, run
    from proxy.vault import Vault
    from proxy.vault.redis_store import RedisStore
    from proxy.vault.sqlite_store import SqliteStore
    from recognizers.types import Finding

    async def detect(texts: list[str]) -> list[list[Finding]]:
        return [[Finding(m.start(), m.end(), m.lastgroup or "X", 0.9, "b") for m in NAME_RX.finditer(t)] for t in texts]

    def dest(op: str) -> Destination:
        return Destination.model_validate({
            "default_field": "drop", "unmask": ["response"] if op == "pseudonym" else [],
            "fields": {"conversation_id": "keep", "sender": "keep", "text": "scan"}, "entities": {"default": op},
        })  # fmt: skip

    def body(i: int) -> bytes:
        text = f"Hello, I am Person {i} Smith, write to person{i}@example.com please"
        return f'{{"conversation_id": "c-{i % 50}", "sender": "visitor", "text": "{text}"}}'.encode()

    tag = Redaction(Policy("tag", dest("tag"), BENCH_KEY.encode()))
    rows: list[tuple[str, list[float]]] = []
    unmasking: list[tuple[str, list[float]]] = []
    # warm-up (imports, caches) of every path before any timing
    await run(tag.plan_line(body(0)), detect)
    rows.append(("tag (baseline)", await timed(n, lambda i: run(tag.plan_line(body(i)), detect))))
    for store_name in ("sqlite", "redis"):
        store = SqliteStore(tmp / "vault") if store_name == "sqlite" else RedisStore(redis_url)
        vault = Vault(store, BENCH_KEY.encode(), bytes.fromhex(BENCH_VAULT_KEY), 86400)
        red = Redaction(Policy("p", dest("pseudonym"), BENCH_KEY.encode()), vault=vault)
        try:
            await run(red.plan_line(body(10**6)), detect)

            async def one(i: int, red: Redaction = red) -> Any:
                return await run(red.plan_line(body(i)), detect)

            new = await timed(n, one)
            known = await timed(n, one)  # the same persons again
            rows.append((f"pseudonym, {store_name}, a new person per message", new))
            rows.append((f"pseudonym, {store_name}, a known person", known))
            out, _ = await run(red.plan_line(body(7)), detect)
            answer = json.dumps({"reply": "Thanks: " + out.decode()}).encode()

            async def unmask(_: int, red: Redaction = red, answer: bytes = answer) -> bytes:
                u = red.unmasker("application/json")
                return await u.feed(answer) + await u.flush()

            if not unmasking:  # the baseline: the same scan over an answer without a token
                plain = re.sub(rb"<[A-Z_]+_[0-9a-f]{16}>", b"<no token here, just text>", answer)
                unmasking.append(("un-mask an answer without tokens (baseline: the scan alone)",
                                  await timed(n, functools.partial(unmask, red=red, answer=plain))))  # fmt: skip
            unmasking.append((f"un-mask an answer quoting 2 tokens, {store_name}", await timed(n, unmask)))
        finally:
            await vault.close()
    return rows + unmasking


# ---- part 2: end to end -------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def echo_upstream() -> AsyncIterator[str]:
    from aiohttp import web

    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read(), content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def e2e_part(n: int, tmp: Path, redis_url: str) -> list[tuple[str, list[float]]]:
    import aiohttp

    rows: list[tuple[str, list[float]]] = []
    async with echo_upstream() as up:
        for store_name, env in (("sqlite", {}), ("redis", {"REDIS_URL": redis_url})):
            cfg = shipped_config(tmp / store_name)
            server = await asyncio.to_thread(start_proxy, tmp / store_name, cfg, up, 1, f"proxy-{store_name}", env)
            with running(server):
                url = f"http://127.0.0.1:{server.port}"
                async with aiohttp.ClientSession() as s:

                    async def post(route: str, i: int, s: aiohttp.ClientSession = s, url: str = url) -> None:
                        text = f"Hello, I am Maria Garcia, write to person{i}@example.com please"
                        async with s.post(f"{url}/{route}/messages", json={"conversation_id": f"c-{i % 20}",
                                                                           "text": text}) as r:  # fmt: skip
                            body = await r.read()
                            if r.status != 200 or (route == "assist" and b"person" not in body):
                                raise RuntimeError(f"{route}: unexpected answer {r.status}")

                    for i in range(50):  # warm-up: the model, the connections, the vault
                        await post("chat", i)
                        await post("assist", i)
                    chat: list[float] = []
                    assist: list[float] = []
                    for i in range(n):  # interleaved: the same machine state for both
                        t0 = time.perf_counter()
                        await post("chat", i)
                        t1 = time.perf_counter()
                        await post("assist", i)
                        chat.append(t1 - t0)
                        assist.append(time.perf_counter() - t1)
                    if store_name == "sqlite":
                        rows.append(("`/chat/` (tags, baseline)", chat))
                    else:
                        rows.append(("`/chat/` (tags, baseline; beside the Redis run)", chat))
                    rows.append((f"`/assist/` (pseudonyms + un-masking), {store_name} vault", assist))
    return rows


def table(rows: list[tuple[str, list[float]]], unit: Callable[[float], str], unit_name: str) -> list[str]:
    base = stats(rows[0][1])[0]
    out = [
        f"| case | p50 ({unit_name}) | p90 | p99 | p50 added vs the baseline |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, samples in rows:
        p50, p90, p99 = stats(samples)
        if "baseline" in name:
            base = p50
        added = "" if "baseline" in name else f"+{unit(p50 - base)}"
        out.append(f"| {name} | {unit(p50)} | {unit(p90)} | {unit(p99)} | {added} |")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=2000, help="core: messages per case")
    ap.add_argument("--requests", type=int, default=300, help="end to end: requests per route and store")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-pseudonym-"))
    try:
        with redis_server(tmp) as redis_url:
            core = asyncio.run(core_part(args.messages, tmp, redis_url))
            e2e = asyncio.run(e2e_part(args.requests, tmp, redis_url))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lines = [
        "## Pseudonyms: what the vault adds per message (`benchmarks/pseudonym.py`)",
        "",
        f"`.venv/bin/python -m benchmarks.pseudonym --messages {args.messages} --requests {args.requests}`; "
        + machine_line()
        + ".",
        "",
        f"**Core, in-process** ({args.messages} messages per case, one at a time; detection is a fixed "
        "function, so only redaction and the vault are timed). A chat message with a name and an e-mail; "
        "`pseudonym` resolves both in one vault round-trip. Redis is a local `redis-server` (loopback).",
        "",
        *table(core, us, "µs"),
        "",
        f"**End to end** ({args.requests} sequential requests per route, `/chat/` and `/assist/` interleaved, "
        "one worker, spaCy detection included, an upstream that echoes the message so `/assist/` also "
        "un-masks the two tokens of each answer):",
        "",
        *table(e2e[:2], lambda v: f"{v * 1000:.2f}", "ms"),
        *table(e2e[2:], lambda v: f"{v * 1000:.2f}", "ms")[2:],
        "",
        "Reading: the core rows are the vault's own cost (SQLite: mostly the hop to the store's thread, and "
        "a write transaction for a new person; Redis: one loopback round-trip, a Lua script for `issue`). "
        "End to end, `/assist/` makes two vault round-trips per request (issue, then reveal for the answer); "
        "with Redis each is a hop to another process, which on a machine with few CPUs shared by the proxy's "
        "worker, its detection process, the client and the upstream also waits for a CPU.",
    ]
    write_section("pseudonym", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
