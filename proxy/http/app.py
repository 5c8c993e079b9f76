"""The worker's aiohttp application: lifecycle in ``cleanup_ctx``, state under ``AppKey`` s."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from proxy import metrics, retention
from proxy.config import HttpRoute, LogIngestRoute, ProxyConfig, WebSocketRoute
from proxy.detection import DetectionService, detection_backend
from proxy.errors import Withheld
from proxy.http.cobrowse import CobrowseIngest
from proxy.http.errors import ProxyError, answer_for, error_response
from proxy.http.forward import Forwarder
from proxy.http.logs import LogIngest
from proxy.http.runtime import Runtime, Upstreams, request_id
from proxy.http.ws import relay
from proxy.sinks import start_sinks
from proxy.sinks.spool import DEAD_LETTER

__all__ = ["COBROWSE", "FORWARDER", "LOGS", "ROUTE_NAME", "RUNTIME", "UPSTREAMS", "AccessLogger", "build_app"]

log = logging.getLogger("proxy.http")

RUNTIME = web.AppKey("runtime", Runtime)
UPSTREAMS = web.AppKey("upstreams", Upstreams)
FORWARDER = web.AppKey("forwarder", Forwarder)
LOGS = web.AppKey("logs", LogIngest)
COBROWSE = web.AppKey("cobrowse", CobrowseIngest)
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
    upstreams = Upstreams(cfg)
    app[RUNTIME] = rt
    app[UPSTREAMS] = upstreams
    app[FORWARDER] = Forwarder(rt, upstreams)
    app[COBROWSE] = CobrowseIngest(rt, app[FORWARDER])
    app.cleanup_ctx.append(_detection_ctx)
    app.cleanup_ctx.append(_upstream_ctx)
    app.cleanup_ctx.append(_sinks_ctx)
    app.cleanup_ctx.append(_retention_ctx)
    app.router.add_route("*", "/{tail:.*}", _dispatch)
    return app


async def _detection_ctx(app: web.Application) -> AsyncIterator[None]:
    rt = app[RUNTIME]
    await rt.detection.start()
    if rt.vault is not None:
        rt.vault.start()  # expired entries are purged even while nothing is pseudonymised
    metrics.WORKER_UP.set(1)
    yield
    metrics.WORKER_UP.set(0)
    await rt.detection.close()
    rt.audit.close()
    if rt.vault is not None:
        await rt.vault.close()


async def _upstream_ctx(app: web.Application) -> AsyncIterator[None]:
    upstreams = app[UPSTREAMS]
    await upstreams.start()
    yield
    await upstreams.close()


async def _sinks_ctx(app: web.Application) -> AsyncIterator[None]:
    rt = app[RUNTIME]
    async with start_sinks(rt.cfg) as sinks:
        app[LOGS] = LogIngest(rt, sinks)
        yield


#: How often (seconds) a worker rotates and prunes the audit log and the dead-letter file when due.
RETENTION_EVERY = 60.0


async def _retention_ctx(app: web.Application) -> AsyncIterator[None]:
    """Retention (proxy/retention.py) also while no record is written: idle files still
    rotate at the day's end and rotated files past retention are still deleted."""
    rt = app[RUNTIME]
    dead_letter = Path(rt.cfg.spool.dir) / DEAD_LETTER
    policy = rt.cfg.spool.dead_letter.policy()

    def once() -> None:
        rt.audit.maintain()
        if dead_letter.exists() or retention.rotated_files(dead_letter):
            retention.maintain(dead_letter, policy)

    async def loop() -> None:
        while True:
            try:
                await asyncio.get_running_loop().run_in_executor(None, once)
            except OSError as exc:
                log.warning("retention: %s", exc.strerror or exc.__class__.__name__)
            await asyncio.sleep(RETENTION_EVERY)

    task = asyncio.get_running_loop().create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _dot_segments(raw_path: str) -> bool:
    path = raw_path.split("?", 1)[0]
    return any(seg in (".", "..") for seg in unquote(path).replace("\\", "/").split("/"))


async def _dispatch(request: web.Request) -> web.StreamResponse:
    started = metrics.now()
    rt = request.app[RUNTIME]
    rid = request_id(request)
    websocket = request.headers.get("Upgrade", "").lower() == "websocket"
    route = rt.route_for(request.path, websocket)
    request[ROUTE_NAME] = route.path if route else "-"
    try:
        if _dot_segments(request.raw_path):
            # /chat/../admin would reach the upstream as /admin: out of the route's prefix
            raise ProxyError(400, "dot segments are not allowed in the path")
        if route is None:
            raise ProxyError(404, "no route for this path")
        if isinstance(route, WebSocketRoute):
            resp = await relay(request, rt, request.app[UPSTREAMS], route, rid)
        elif isinstance(route, LogIngestRoute):
            resp = await request.app[LOGS].handle(request, route, rid)
        elif isinstance(route, HttpRoute) and route.format == "rrweb":
            resp = await request.app[COBROWSE].handle(request, route, rid)
        else:
            resp = await request.app[FORWARDER].handle(request, route, rid)
    except (asyncio.CancelledError, web.HTTPException):
        raise
    except Exception as exc:
        if isinstance(exc, Withheld) and route is not None:
            rt.withheld(exc, rid=rid, destination=route.destination, direction="request")
        err = answer_for(exc, retry_after=rt.cfg.spool.retry_after)
        if err is None:
            # A bug: fail closed, and log where it happened without the exception's message
            # (which may quote the payload).
            log.error(
                "internal error rid=%s: %s\n%s",
                rid,
                exc.__class__.__name__,
                "".join(traceback.format_tb(exc.__traceback__)),
            )
            err = ProxyError(500, "internal error; nothing was forwarded", code="internal")
        resp = error_response(err, rid)
    if not resp.prepared:
        resp.headers["X-Request-Id"] = rid
    metrics.observe_request(request[ROUTE_NAME], resp.status, metrics.now() - started)
    return resp
