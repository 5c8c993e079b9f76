"""``POST /analyze``: our Presidio-compatible face against a Presidio REST server, in one run.

    .venv/bin/python -m benchmarks.presidio_face [--n 300] [--concurrency 16] [--rounds 2] [--no-write]

Both servers get the same requests, one text each, ``{"text": ..., "language": "en"}`` (what
LiteLLM's guardrail sends), from the same aiohttp client, one server at a time (the other is
stopped, so neither takes CPU from the other):

- **ours**: ``python -m proxy serve`` with ``PRESIDIO_PORT`` set, one worker per usable CPU (its
  default); the face uses each worker's detection service (batched across concurrent requests);
- **Presidio**: ``benchmarks.presidio_rest``, the equivalent of Presidio's ``app.py`` on its own
  ``AnalyzerEngine`` (default registry, same spaCy model), one process per usable CPU.

Texts are ``benchmarks.corpus.generate(n, seed)``, the accuracy corpus. Measured per server:
throughput (texts/s) with ``--concurrency`` requests in flight (the best of ``--rounds`` passes
over all texts), latency percentiles of that loaded pass, and latency one request at a time
(unloaded) on the first ``min(n, 100)`` texts. Accuracy of both on the same texts, from the
spans each answered, scored by ``benchmarks.accuracy.score`` (leak, recall, over-redaction).

Writes its section of ``benchmarks/RESULTS.md`` (``<!-- presidio:start -->`` ... ``<!-- presidio:end -->``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from benchmarks._common import (
    BLAS_ONE_THREAD,
    PYTHON,
    Server,
    cpus,
    free_port,
    http_ok,
    machine_line,
    ready_files,
    shipped_config,
    spawn,
    start_proxy,
    stop_on_signals,
    wait_until,
    write_section,
)
from benchmarks.accuracy import Pred, Score, f2, score
from benchmarks.corpus import LabeledMessage, generate

SECTION = "presidio"


@dataclass
class Measured:
    name: str
    rate: float
    loaded: list[float]
    unloaded: list[float]
    preds: list[list[Pred]]
    errors: int
    accuracy: Score | None = None


def pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def one(session: aiohttp.ClientSession, url: str, text: str) -> tuple[float, list[Pred] | None]:
    started = time.perf_counter()
    async with session.post(url, data=json.dumps({"text": text, "language": "en"}).encode()) as r:
        body = await r.read()
        took = time.perf_counter() - started
        if r.status != 200:
            return took, None
    return took, [Pred(x["start"], x["end"], x["entity_type"]) for x in json.loads(body)]


async def drive(url: str, texts: Sequence[str], concurrency: int) -> tuple[float, list[float], list[list[Pred] | None]]:
    """All ``texts`` with ``concurrency`` requests in flight: (seconds, latencies, answers)."""
    answers: list[list[Pred] | None] = [None] * len(texts)
    latencies: list[float] = [0.0] * len(texts)
    queue = iter(range(len(texts)))
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(
        timeout=timeout, connector=aiohttp.TCPConnector(limit=concurrency), headers={"Content-Type": "application/json"}
    ) as session:

        async def worker() -> None:
            for i in queue:
                latencies[i], answers[i] = await one(session, url, texts[i])

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies, answers


def measure(name: str, url: str, texts: Sequence[str], concurrency: int, rounds: int) -> Measured:
    asyncio.run(drive(url, texts[: 2 * concurrency], concurrency))  # warm up, untimed
    _, unloaded, _ = asyncio.run(drive(url, texts[: min(len(texts), 100)], 1))
    best: tuple[float, list[float], list[list[Pred] | None]] | None = None
    for _ in range(max(1, rounds)):
        run = asyncio.run(drive(url, texts, concurrency))
        if best is None or run[0] < best[0]:
            best = run
    assert best is not None
    seconds, loaded, answers = best
    errors = sum(a is None for a in answers)
    return Measured(name, len(texts) / seconds, loaded, unloaded, [a or [] for a in answers], errors)


def start_presidio_rest(workdir: Path, workers: int) -> Server:
    port = free_port()
    ready = Path(tempfile.mkdtemp(prefix="presidio-ready-", dir=workdir))
    cmd = [PYTHON, "-m", "benchmarks.presidio_rest", "--port", str(port), "--workers", str(workers),
           "--ready-dir", str(ready)]  # fmt: skip
    log_path = workdir / "presidio-rest.log"
    proc = spawn("presidio-rest", cmd, log_path=log_path, env=BLAS_ONE_THREAD)
    server = Server("presidio-rest", proc, port, log_path, ready_dir=ready)
    server.ready_check = ready_files(ready, workers)
    return server.wait_ready()


def _ms(x: float) -> str:
    return f"{1000 * x:.1f}"


def _p(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def render(n: int, seed: int, concurrency: int, rounds: int, workers: int, ours: Measured, theirs: Measured) -> str:
    lines = [
        "## Presidio-compatible face: `/analyze`, ours vs a Presidio REST server",
        "",
        f"Command: `.venv/bin/python -m benchmarks.presidio_face --n {n} --concurrency {concurrency} "
        f"--rounds {rounds}`. {machine_line()}. Texts: `benchmarks.corpus.generate(n={n}, seed={seed})` (the "
        'accuracy corpus), one text per request (`{"text": ..., "language": "en"}`, as LiteLLM\'s guardrail '
        f"sends). Ours: `python -m proxy serve` with `PRESIDIO_PORT`, {workers} worker(s). Presidio: "
        f"`benchmarks.presidio_rest` (Presidio's `app.py` handler on its own `AnalyzerEngine`, same spaCy model), "
        f"{workers} process(es). One server at a time, same client.",
        "",
        f"| server | texts/s ({concurrency} in flight, best of {rounds}) | p50 ms | p95 ms | p99 ms "
        "| unloaded p50 ms | unloaded p95 ms | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in (ours, theirs):
        lines.append(
            f"| {m.name} | {m.rate:.0f} | {_ms(pct(m.loaded, 0.5))} | {_ms(pct(m.loaded, 0.95))} | "
            f"{_ms(pct(m.loaded, 0.99))} | {_ms(statistics.median(m.unloaded))} | {_ms(pct(m.unloaded, 0.95))} | "
            f"{m.errors} |"
        )
    ratio = ours.rate / theirs.rate if theirs.rate else float("nan")
    lines += [
        "",
        f"**Throughput: ours {ratio:.2f}x Presidio's server** (issue 16 asks for at least 4x).",
        "",
        "Accuracy of the same answers (`benchmarks.accuracy.score`: leak = values with a word left "
        "unredacted if every span answered were redacted; over-redaction = non-PII words inside a span):",
        "",
        "| server | leak | recall | over-redaction | precision | F2 |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in (ours, theirs):
        sc = m.accuracy
        assert sc is not None
        lines.append(
            f"| {m.name} | {_p(sc.leak())} | {_p(sc.recall())} | {_p(sc.over())} | {_p(sc.precision())} | "
            f"{f2(sc.precision(), sc.recall()) or 0:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workers", type=int, default=cpus())
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    stop_on_signals()
    corpus: list[LabeledMessage] = generate(args.n, args.seed)
    texts = [m.text for m in corpus]
    workdir = Path(tempfile.mkdtemp(prefix="bench-presidio-"))
    try:
        port = free_port()
        proxy = start_proxy(workdir / "ours", shipped_config(workdir), "http://127.0.0.1:9", args.workers,
                            env={"PRESIDIO_PORT": str(port), **BLAS_ONE_THREAD})  # fmt: skip
        try:
            wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/health"), proxy.proc, "the Presidio face", 60)
            ours = measure("ours", f"http://127.0.0.1:{port}/analyze", texts, args.concurrency, args.rounds)
        finally:
            proxy.stop()
        rest = start_presidio_rest(workdir, args.workers)
        try:
            theirs = measure("Presidio REST", f"{rest.url}/analyze", texts, args.concurrency, args.rounds)
        finally:
            rest.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for m in (ours, theirs):
        m.accuracy = score(corpus, m.preds)
    text = render(args.n, args.seed, args.concurrency, args.rounds, args.workers, ours, theirs)
    print(text)
    if not args.no_write:
        write_section(SECTION, text)
    return 0 if ours.errors == 0 and theirs.errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
