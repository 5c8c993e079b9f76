"""WebSocket relay (filled in by the streaming work)."""

from __future__ import annotations

from aiohttp import web

from proxy.config import Route
from proxy.http.errors import ProxyError
from proxy.http.runtime import Runtime


async def relay(request: web.Request, rt: Runtime, route: Route, rid: str) -> web.StreamResponse:
    raise ProxyError(501, "websocket relay not implemented yet")
