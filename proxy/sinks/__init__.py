"""Log sinks: ``POST /logs/`` ingest, the durable spool and the forwarders."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

from proxy.http.errors import ProxyError

if TYPE_CHECKING:
    from proxy.config import Route
    from proxy.http.runtime import Runtime


class Sinks:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def ingest(self, request: web.Request, route: Route, rid: str) -> web.StreamResponse:
        raise ProxyError(503, "log ingest is not available yet", code="sink_unavailable")


SINKS = web.AppKey("sinks", Sinks)


@contextlib.asynccontextmanager
async def start_sinks(rt: Runtime) -> AsyncIterator[Sinks]:
    yield Sinks(rt)
