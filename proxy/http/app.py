"""The worker's aiohttp application: lifecycle in ``cleanup_ctx``, state under ``AppKey`` s."""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from proxy import metrics
from proxy.config import DEMO_ECHO, ProxyConfig
from proxy.detection import Analyzer, Backend, DetectionService, ProcessBackend, ThreadBackend
from proxy.http.echo import start_echo
from proxy.http.errors import ProxyError, error_response
from proxy.http.forward import Forwarder
from proxy.http.runtime import Runtime, request_id

log = logging.getLogger("proxy.http")

RUNTIME = web.AppKey("runtime", Runtime)
FORWARDER = web.AppKey("forwarder", Forwarder)
ROUTE_NAME = "proxy_route"


class AccessLogger(AbstractAccessLogger):
    """Method, route, status, time and request id: never the path or query (they carry PII)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %.1fms rid=%s",
            request.method,
            request.get(ROUTE_NAME, "-"),
            response.status,
            time * 1000,
            response.headers.get("X-Request-Id", "-"),
        )


def detection_backend(cfg: ProxyConfig) -> Backend:
    """Where this worker's detector runs (``detection.isolation``)."""
    d = cfg.detection
    if d.isolation == "process":
        path = cfg.recognizers_path()
        spec = {
            "model": d.model,
            "recognizers": str(path),
            # read now, once: a restarted detection process uses the rules this worker started
            # with (validated at load or SIGHUP), not whatever the file holds by then
            "recognizers_text": Path(path).read_text(encoding="utf-8"),
            "ner_entities": dict(d.ner_entities),
            "score_thresholds": dict(d.score_thresholds),
        }
        return ProcessBackend(spec)

    def make() -> Analyzer:
        from recognizers.engine import Detector

        return Detector(
            d.model, cfg.recognizers_path(), ner_entities=d.ner_entities, score_thresholds=d.score_thresholds
        )

    return ThreadBackend(make)


def build_app(cfg: ProxyConfig) -> web.Application:
    app = web.Application(client_max_size=cfg.limits.max_body_bytes)
    detection = DetectionService(
        detection_backend(cfg),
        window=cfg.detection.batch_window_ms / 1000,
        max_batch=cfg.detection.max_batch,
        max_batch_chars=cfg.detection.max_batch_chars,
        deadline=cfg.timeouts.detection_deadline,
        kill_after=cfg.timeouts.detection_kill,
    )
    rt = Runtime.build(cfg, detection)
    app[RUNTIME] = rt
    app[FORWARDER] = Forwarder(rt)
    app.cleanup_ctx.append(_detection_ctx)
    app.cleanup_ctx.append(_upstream_ctx)
    app.cleanup_ctx.append(_sinks_ctx)
    app.router.add_route("*", "/{tail:.*}", _dispatch)
    return app


async def _detection_ctx(app: web.Application) -> AsyncIterator[None]:
    rt = app[RUNTIME]
    await rt.detection.start()
    metrics.WORKER_UP.set(1)
    yield
    metrics.WORKER_UP.set(0)
    await rt.detection.close()
    rt.audit.close()


async def _upstream_ctx(app: web.Application) -> AsyncIterator[None]:
    rt = app[RUNTIME]
    t = rt.cfg.timeouts
    rt.session = aiohttp.ClientSession(
        # The total per exchange is applied by the forwarder (streams may outlive it);
        # here: connecting, and the longest silence while reading.
        timeout=aiohttp.ClientTimeout(total=None, connect=t.upstream_connect, sock_read=t.upstream_total),
        auto_decompress=False,
        connector=aiohttp.TCPConnector(limit=0, limit_per_host=256, keepalive_timeout=30),
        skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
        # One session serves every visitor: a cookie the partner sets for one visitor must never
        # be stored and sent with another's request (aiohttp's default jar would do just that).
        cookie_jar=aiohttp.DummyCookieJar(),
    )
    echo_runner = None
    if rt.uses_demo_echo():
        echo_runner, url = await start_echo()
        rt.upstream_urls = {k: (url if v == DEMO_ECHO else v) for k, v in rt.upstream_urls.items()}
        log.info("no upstream URL set: /chat/ goes to the built-in demo echo upstream")
    yield
    await rt.session.close()
    if echo_runner is not None:
        await echo_runner.cleanup()


async def _sinks_ctx(app: web.Application) -> AsyncIterator[None]:
    from proxy.sinks import start_sinks

    async with start_sinks(app[RUNTIME]) as sinks:
        app[SINKS] = sinks
        yield


async def _dispatch(request: web.Request) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    rid = request_id(request)
    websocket = request.headers.get("Upgrade", "").lower() == "websocket"
    route = rt.route_for(request.path, websocket)
    request[ROUTE_NAME] = route.path if route else "-"
    try:
        if route is None:
            raise ProxyError(404, "no route for this path")
        if route.kind == "websocket":
            from proxy.http.ws import relay

            resp = await relay(request, rt, route, rid)
        elif route.kind == "log_ingest":
            resp = await request.app[SINKS].ingest(request, route, rid)
        else:
            resp = await request.app[FORWARDER].handle(request, route, rid)
    except ProxyError as err:
        resp = error_response(err, rid)
    except (asyncio.CancelledError, web.HTTPException):
        raise
    except Exception as exc:
        # Fail closed, and log where it happened without the exception's message (which may
        # quote the payload).
        log.error(
            "internal error rid=%s: %s\n%s",
            rid,
            exc.__class__.__name__,
            "".join(traceback.format_tb(exc.__traceback__)),
        )
        resp = error_response(ProxyError(500, "internal error; nothing was forwarded", code="internal"), rid)
    if not resp.prepared:
        resp.headers["X-Request-Id"] = rid
    metrics.count_request(request[ROUTE_NAME], resp.status)
    return resp


from proxy.sinks import SINKS  # noqa: E402
