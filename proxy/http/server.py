"""The worker's HTTP transport: aiohttp's server, with our own answer to malformed requests and
bounds on slow, idle and too many connections.

aiohttp answers a request it cannot parse (bare LF line endings, a space or non-ASCII byte in the
URL, a bad header name or chunk size, data after an HTTP/1.0 request without Content-Length ...)
*before* any middleware runs, with a 400 whose body is the parser's message, and it logs that
message at ERROR with a traceback. The parser's message quotes the request bytes (URL, headers,
body), so both would copy a visitor's data into places it must not reach. Here the protocol's
``handle_error`` is replaced: the answer is our own short JSON error (the shape of
:func:`proxy.http.errors.error_response`) with ``Connection: close``, and the log line names the
error class only.

Bounds (aiohttp has none for a request head that never completes):

* ``header_timeout``: a connection must deliver a complete request head within this many seconds
  of being opened, or of the first byte of a later request on a kept-alive connection; else it is
  closed (slowloris). Bodies are not covered: a slow upload with a complete head is the handler's
  business.
* ``keepalive_timeout``: an idle kept-alive connection (no byte of a next request) is closed after
  this many seconds.
* ``max_connections``: open connections per worker; one more is closed as soon as it is accepted.

This module subclasses aiohttp's ``RequestHandler`` and ``Server`` and reads a few of their
private attributes (``_waiter``, ``_messages``, ``_request_count``, ``_manager``, ``_kwargs``);
aiohttp is locked (requirements.lock) and tests/integration/test_malformed_http.py checks the
behaviour end to end.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import sys
import time
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler, RequestPayloadError, _ErrInfo
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse
from aiohttp.web_server import Server

__all__ = [
    "BACKLOG",
    "HEADER_TIMEOUT",
    "KEEPALIVE_TIMEOUT",
    "MAX_CONNECTIONS",
    "GuardedRequestHandler",
    "GuardedServer",
    "TransportLimits",
    "limits_from_env",
    "serve_app",
]

log = logging.getLogger("proxy.http.server")

#: Seconds from connection open (or the first byte of a later request) to a complete request head.
HEADER_TIMEOUT = 10.0
#: Seconds an idle kept-alive connection stays open waiting for its next request.
KEEPALIVE_TIMEOUT = 75.0
#: Open connections per worker process; one more is closed at once.
MAX_CONNECTIONS = 1024
#: Listen backlog per worker socket (connections the kernel holds before we accept them).
BACKLOG = 1024

#: How often (seconds) a refused or timed-out connection is logged, as a count, at most.
_REPORT_EVERY = 10.0

_REASONS = {400: "bad_request", 413: "payload_too_large", 431: "request_header_fields_too_large"}
_RID_PREFIX = "h" + uuid.uuid4().hex[:11]  # unique per process, distinct from the app's ids
_RID_COUNTER = itertools.count(1)


@dataclass(frozen=True)
class TransportLimits:
    """Per-worker transport bounds (see the module docstring). ``header_timeout`` 0 disables the
    head deadline; ``keepalive_timeout`` 0 closes a connection as soon as it is idle."""

    header_timeout: float = HEADER_TIMEOUT
    keepalive_timeout: float = KEEPALIVE_TIMEOUT
    max_connections: int = MAX_CONNECTIONS

    def __post_init__(self) -> None:
        if self.header_timeout < 0 or self.keepalive_timeout < 0:
            raise ValueError("transport timeouts must not be negative")
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")


_ENV = {
    "PROXY_HEADER_TIMEOUT": "header_timeout",
    "PROXY_KEEPALIVE_TIMEOUT": "keepalive_timeout",
    "PROXY_MAX_CONNECTIONS": "max_connections",
}


def limits_from_env(
    environ: Mapping[str, str] | None = None, defaults: TransportLimits | None = None
) -> TransportLimits:
    """``defaults`` (the config's ``timeouts.header_read``, ``timeouts.keepalive_idle``,
    ``limits.max_connections``; else the module's), overridden by ``PROXY_HEADER_TIMEOUT``,
    ``PROXY_KEEPALIVE_TIMEOUT`` and ``PROXY_MAX_CONNECTIONS`` when set.

    Raises ``ValueError`` naming the variable when a value is not a number."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = dict(vars(defaults)) if defaults is not None else {}
    for var, name in _ENV.items():
        raw = env.get(var, "").strip()
        if not raw:
            continue
        try:
            values[name] = int(raw) if name == "max_connections" else float(raw)
        except ValueError:
            raise ValueError(f"{var} must be a number") from None
    return TransportLimits(**values)


def _error_body(status: int, message: str, rid: str, code: str | None = None) -> bytes:
    # Same shape as proxy.http.errors.error_response (kept here so the transport does not depend
    # on the application's error table).
    err = {"status": status, "code": code or _REASONS.get(status, "error"), "message": message, "request_id": rid}
    return json.dumps({"error": err}).encode()


class _MalformedBody(RequestPayloadError):
    """Set on a request's body when the bytes after its head cannot be parsed (a bad chunk size
    arriving after the head was handed to the handler): the handler fails instead of waiting."""


class _Tally:
    """Counts events and logs them as one WARNING at most every ``_REPORT_EVERY`` seconds (a flood
    of refused connections must not become a flood of log lines); the last ones are reported by a
    timer."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.count = 0
        self.last = -_REPORT_EVERY
        self._timer: asyncio.TimerHandle | None = None

    def add(self) -> None:
        self.count += 1
        wait = self.last + _REPORT_EVERY - time.monotonic()
        if wait <= 0:
            self._report()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(wait, self._report)

    def _report(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.count:
            log.warning("%s: %d connection(s) since the last report", self.what, self.count)
        self.count = 0
        self.last = time.monotonic()


class GuardedServer(Server):
    """aiohttp's low-level ``Server`` (the protocol factory) building :class:`GuardedRequestHandler`
    s, counting open connections and refusing those over ``limits.max_connections``."""

    def __init__(self, base: Server, limits: TransportLimits) -> None:
        # Rebuilt from the Server the application made, with the same handler, request factory
        # and RequestHandler keyword arguments (access log, debug, parser limits ...).
        super().__init__(
            base.request_handler,
            request_factory=base.request_factory,
            handler_cancellation=base.handler_cancellation,
            loop=base._loop,
            **base._kwargs,
        )
        self.limits = limits
        self.open_connections = 0
        self.refused = _Tally(f"closed at once: more than {limits.max_connections} open connections")
        self.head_timeouts = _Tally(f"closed: no complete request head within {limits.header_timeout:g}s")

    def __call__(self) -> RequestHandler:
        kwargs = dict(self._kwargs)
        kwargs["keepalive_timeout"] = self.limits.keepalive_timeout
        return GuardedRequestHandler(self, loop=self._loop, **kwargs)

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        self.open_connections += 1

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        if handler in self._connections:
            self.open_connections -= 1
        super().connection_lost(handler, exc)


class GuardedRequestHandler(RequestHandler):
    """aiohttp's HTTP/1 protocol with a request-head deadline, a connection cap and error
    answers and logs that never quote the request."""

    __slots__ = ("_guard", "_head_handle")

    def __init__(self, manager: GuardedServer, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._guard = manager
        self._head_handle: asyncio.TimerHandle | None = None

    # ---- connection cap and head deadline --------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        guard = self._guard
        if guard.open_connections >= guard.limits.max_connections:
            self._manager = None  # never registered: connection_lost has nothing to undo
            transport.close()
            guard.refused.add()
            return
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # Idle = waiting for a next request with nothing queued: these bytes start a new head.
        idle = self._head_handle is None and self._waiter is not None and not self._waiter.done()
        idle = idle and not self._messages and self._payload_parser is None and not self._upgraded
        count = self._request_count
        super().data_received(data)
        if self._request_count != count:
            self._cancel_head_deadline()  # a head is complete (or answered as malformed)
            if self._messages and isinstance(self._messages[-1][0], _ErrInfo):
                self._cut_open_bodies()
        elif idle and data and not (self._close or self._force_close):
            self._arm_head_deadline()

    def _cut_open_bodies(self) -> None:
        """aiohttp's C parser, failing inside a body whose head it already handed out, drops that
        body without an error or an end: its handler would wait for the rest forever. Fail it."""
        open_bodies = [payload for _, payload in self._messages if not payload.is_eof()]
        if self._current_request is not None and not self._current_request.content.is_eof():
            open_bodies.append(self._current_request.content)
        for body in open_bodies:
            body.set_exception(_MalformedBody("malformed request body"))
        err = self._messages[-1][0]
        if open_bodies and isinstance(err, _ErrInfo):
            log.warning("malformed HTTP request body: %s", err.exc.__class__.__name__)

    def _arm_head_deadline(self) -> None:
        timeout = self._guard.limits.header_timeout
        if timeout > 0 and self._head_handle is None:
            self._head_handle = self._loop.call_later(timeout, self._head_timed_out)

    def _cancel_head_deadline(self) -> None:
        if self._head_handle is not None:
            self._head_handle.cancel()
            self._head_handle = None

    def _head_timed_out(self) -> None:
        self._head_handle = None
        if self.transport is None or self._force_close:
            return
        self._guard.head_timeouts.add()
        self.force_close()

    # ---- errors: answered and logged without the request's bytes ---------------------------
    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> StreamResponse:
        """Our JSON error for a request aiohttp could not parse (4xx) or a transport failure.

        ``message`` (the parser's text, which quotes the input) is never used."""
        rid = f"{_RID_PREFIX}{next(_RID_COUNTER):08x}"
        name = exc.__class__.__name__ if exc is not None else "unknown"
        if 400 <= status < 500:
            log.warning("malformed HTTP request rid=%s: %s", rid, name)
            text = "malformed HTTP request"
        else:
            self._log_error(f"HTTP transport error rid={rid}", exc)
            status, text = 500, "internal error; nothing was forwarded"
        if request.writer.output_size > 0:
            # an answer is already on its way: the connection can only be cut (as aiohttp does)
            raise ConnectionError("response already started")
        code = "internal" if status == 500 else None
        resp = web.Response(
            status=status,
            body=_error_body(status, text, rid, code),
            content_type="application/json",
            headers={"X-Request-Id": rid, "Connection": "close"},
        )
        resp.force_close()
        return resp

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """aiohttp's other error logs: the exception class and stack frames only (its message and
        aiohttp's text may quote the request or the handler's response)."""
        exc_info = kw.get("exc_info")
        exc = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        if isinstance(exc, _MalformedBody):
            return  # aiohttp draining a body cut by _cut_open_bodies, which logged it already
        self._log_error("HTTP transport error", exc)

    @staticmethod
    def _log_error(what: str, exc: BaseException | None) -> None:
        if exc is None:
            log.error("%s", what)
            return
        frames = "".join(traceback.format_tb(exc.__traceback__))
        log.error("%s: %s\n%s", what, exc.__class__.__name__, frames)


class _GuardedRunner(web.AppRunner):
    """An ``AppRunner`` whose protocol factory is a :class:`GuardedServer`."""

    __slots__ = ("_limits",)

    def __init__(self, app: web.Application, limits: TransportLimits, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._limits = limits

    async def _make_server(self) -> Server:
        return GuardedServer(await super()._make_server(), self._limits)


async def serve_app(
    app: web.Application,
    host: str,
    port: int,
    *,
    limits: TransportLimits | None = None,
    reuse_port: bool = False,
    backlog: int = BACKLOG,
    **runner_kwargs: Any,
) -> web.AppRunner:
    """Start serving ``app`` on ``host:port`` through the guarded transport.

    ``runner_kwargs`` go to ``web.AppRunner`` (and from it to each ``RequestHandler``: access log,
    ``shutdown_timeout``, ``max_line_size``, ``max_field_size``, ``auto_decompress`` ...);
    ``keepalive_timeout`` comes from ``limits``. Returns the runner: ``await runner.cleanup()``
    drains and stops. On failure the runner is cleaned up and the error raised."""
    if "keepalive_timeout" in runner_kwargs:
        raise TypeError("keepalive_timeout is set through limits")
    runner = _GuardedRunner(app, limits or TransportLimits(), **runner_kwargs)
    try:
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port, backlog=backlog)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
