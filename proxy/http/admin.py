"""The admin port, served by the supervisor: one per proxy whatever the number of workers."""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web


class Supervised(Protocol):
    metrics_dir: str

    def readiness(self) -> tuple[bool, dict[str, Any]]: ...


SUPERVISOR = web.AppKey("supervisor", object)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    sup: Supervised = request.app[SUPERVISOR]  # type: ignore[assignment]
    ok, detail = sup.readiness()
    return web.json_response({"ready": ok, **detail}, status=200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

    sup: Supervised = request.app[SUPERVISOR]  # type: ignore[assignment]
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=sup.metrics_dir)
    body = generate_latest(registry)
    resp = web.Response(body=body)
    resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return resp


async def start_admin(sup: Supervised, host: str, port: int) -> web.AppRunner:
    app = web.Application()
    app[SUPERVISOR] = sup
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError:
        await runner.cleanup()
        raise
    return runner
