"""HTTP forwarding: read, hand to the core, forward, relay the answer. This module moves bytes,
applies the transport's limits and timeouts, and maps upstream failures; what is redacted, and
how, is the core's (:class:`proxy.redaction.Redaction`)."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from proxy import metrics
from proxy.config import Headers, HttpRoute
from proxy.errors import DetectionError, RedactionError, VaultError
from proxy.http.errors import ProxyError, answer_for
from proxy.http.headers import CLIENT_ADDRESS, filtered
from proxy.http.runtime import Runtime, Upstreams
from proxy.metrics import BYTES_HELD
from proxy.policy import AuditEvent
from proxy.redaction import (
    Batch,
    ContentDecoder,
    Direction,
    HeaderRules,
    Redaction,
    StreamRedactor,
    decode_body,
    run,
)

__all__ = [
    "Forwarder",
    "content_type",
    "conversation_scope",
    "header_rules",
    "outbound_headers",
    "pump",
    "read_body",
    "read_limited",
    "scanned_headers",
]

log = logging.getLogger("proxy.forward")

TEXT = "text/plain"
SSE = "text/event-stream"
#: Answers up to this size with a Content-Length are relayed in one write.
SMALL_BODY = 64 * 1024


async def read_limited(
    stream: aiohttp.StreamReader, limit: int, too_large: Callable[[], ProxyError], idle: float | None = None
) -> bytes:
    """Read a whole body, raising ``too_large()`` as soon as it passes ``limit`` bytes and
    ``TimeoutError`` after ``idle`` seconds without data."""
    buf = bytearray()
    while True:
        async with asyncio.timeout(idle):
            chunk = await stream.readany()
        if not chunk:
            return bytes(buf)
        buf += chunk
        if len(buf) > limit:
            raise too_large()


async def read_body(request: web.BaseRequest, limit: int, idle: float | None = None) -> bytes:
    """A request's whole body: 413 past ``limit``, 408 after ``idle`` seconds without a byte,
    400 when the client's framing is broken (a bad chunk)."""

    def too_large() -> ProxyError:
        return ProxyError(413, f"body larger than the limit of {limit} bytes")

    if request.content_length is not None and request.content_length > limit:
        raise too_large()
    try:
        return await read_limited(request.content, limit, too_large, idle)
    except TimeoutError:
        raise ProxyError(408, "request body timed out") from None
    except (HttpProcessingError, aiohttp.ClientPayloadError):
        raise ProxyError(400, "malformed request body") from None


def content_type(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> tuple[str, str | None]:
    raw = headers.get("Content-Type", "")
    if not raw:
        return "", None
    main, _, params = raw.partition(";")
    charset = None
    for p in params.split(";"):
        k, _, v = p.strip().partition("=")
        if k.lower() == "charset" and v:
            charset = v.strip().strip('"')
    return main.strip().lower(), charset


async def pump(
    chunks: AsyncIterator[bytes], decoder: ContentDecoder, redactor: StreamRedactor, kind: str
) -> AsyncIterator[bytes]:
    """Drive a stream redactor over a body: decode, feed, flush. A message that cannot be
    redacted ends the stream after the messages before it (the error's ``partial``).

    A chunk is decoded and fed in pieces of at most ``decoder.piece`` bytes, with a turn of the
    event loop between pieces: a small compressed chunk that inflates to megabytes (of blank
    lines, say) never holds the loop for more than one piece, nor memory for more than one."""
    held = 0
    metrics.OPEN_STREAMS.labels(kind).inc()
    try:
        async for chunk in chunks:
            first = True
            for piece in decoder.pieces(chunk):
                if not first:
                    await asyncio.sleep(0)
                first = False
                out = await redactor.feed(piece)
                BYTES_HELD.inc(redactor.held - held)
                held = redactor.held
                if out:
                    yield out
        out = await redactor.feed(decoder.flush())
        out += await redactor.flush()
        if out:
            yield out
    except RedactionError as exc:
        if exc.partial:
            yield exc.partial
        raise
    finally:
        BYTES_HELD.dec(held)
        metrics.OPEN_STREAMS.labels(kind).dec()


@functools.cache
def header_rules(rules: Headers, direction: str) -> HeaderRules:
    """A route's header lists as the core takes them (built once per route and direction: the
    config is frozen)."""
    if direction == "request":
        return HeaderRules(frozenset(rules.pass_), frozenset(rules.scan), frozenset(rules.drop))
    return HeaderRules(frozenset(rules.response_pass), frozenset(rules.response_scan), frozenset())


def outbound_headers(
    red: Redaction, direction: Direction, headers: CIMultiDictProxy[str] | CIMultiDict[str], rules: HeaderRules
) -> tuple[CIMultiDict[str], list[tuple[str, str]], list[AuditEvent]]:
    """The headers that may leave, by the core's rules (default deny in a redacted direction):
    those passed as they are, those to scan, and an audit event per dropped one (no name)."""
    base = filtered(headers, CLIENT_ADDRESS)
    split = red.split_headers(direction, list(base.items()), rules)
    out: CIMultiDict[str] = CIMultiDict(split.passed)
    events = [AuditEvent("header", "drop", reason=f"default deny ({split.dropped})")] if split.dropped else []
    return out, split.scan, events


async def scanned_headers(
    rt: Runtime,
    red: Redaction,
    direction: Direction,
    headers: CIMultiDictProxy[str] | CIMultiDict[str],
    rules: HeaderRules,
    *,
    rid: str,
    destination: str,
) -> CIMultiDict[str]:
    """:func:`outbound_headers` with the ``scan`` ones redacted (their own detection call) and
    the decisions recorded: the headers to send, for a message whose body is not in the same
    plan (a WebSocket handshake, a streamed answer)."""
    out, scan, dropped = outbound_headers(red, direction, headers, rules)
    scanned, events = await run(red.plan_headers(scan), rt.detect)
    rt.record([*dropped, *events], rid=rid, destination=destination, direction=direction)
    for name, value in scanned:
        out.add(name, value)
    return out


def conversation_scope(red: Redaction, headers: CIMultiDictProxy[str] | CIMultiDict[str], rid: str) -> str | None:
    """The conversation a request (or a WebSocket connection) belongs to, for the pseudonyms of
    a destination scoped by conversation: the header it names, else the request itself (a
    message's own conversation field wins over both, in the core)."""
    if not red.policy.pseudonymises:
        return None
    return headers.get(red.policy.dest.pseudonyms.header) or f"request:{rid}"


METHODS_REFUSED = frozenset({"TRACE", "TRACK", "CONNECT"})


class Forwarder:
    def __init__(self, rt: Runtime, upstreams: Upstreams) -> None:
        self.rt = rt
        self.upstreams = upstreams

    async def handle(self, request: web.Request, route: HttpRoute, rid: str) -> web.StreamResponse:
        rt = self.rt
        red = rt.redactions[route.destination]
        if request.method in METHODS_REFUSED:
            # TRACE echoes the request (headers included) back: never through a privacy proxy
            raise ProxyError(405, "method not allowed through the proxy")
        limit = rt.cfg.limits.max_body_bytes
        ctype, charset = content_type(request.headers)
        has_body = request.body_exists
        if has_body and ctype not in route.accept:
            raise ProxyError(415, "content type not accepted on this route")
        streamed = has_body and red.request_mode(ctype) == "stream"
        body: bytes | None = None
        if has_body and not streamed:
            raw = await read_body(request, limit, rt.cfg.timeouts.body_read)
            body = decode_body(raw, request.headers.get("Content-Encoding", ""), limit)
        headers, scan, dropped = outbound_headers(
            red, "request", request.headers, header_rules(route.headers, "request")
        )
        scope = conversation_scope(red, request.headers, rid)
        plan = red.plan_request(
            path=self.upstreams.tail(route, request.rel_url.path),
            query=list(request.rel_url.query.items()),
            headers=scan,
            ctype=ctype if body is not None else "",
            charset=charset,
            body=body,
            scope=scope,
        )
        parts, events = await run(plan, rt.detect)
        rt.record([*dropped, *events], rid=rid, destination=route.destination, direction="request")
        for name, value in parts.headers:
            headers.add(name, value)
        if has_body and ctype:
            headers["Content-Type"] = parts.content_type or request.headers["Content-Type"]
        url = URL(self.upstreams.url(route, parts.path))
        if parts.query or url.raw_query_string:
            url = url.with_query(parts.query)
        if not streamed:
            return await self._send(request, route, rid, red, url, headers, parts.body if has_body else None)

        # A streamed upload: each line redacted and forwarded as soon as it is complete.
        decoder = ContentDecoder(request.headers.get("Content-Encoding", ""))
        on_message = rt.on_message(rid=rid, destination=route.destination, direction="request", kind="ndjson")
        redactor = red.stream(ctype, "request", rt.detect, on_message, charset, scope)
        failure: list[BaseException] = []

        async def upload() -> AsyncIterator[bytes]:
            try:
                async for out in pump(request.content.iter_any(), decoder, redactor, "ndjson"):
                    yield out
            except (RedactionError, DetectionError) as exc:
                failure.append(exc)
                raise

        try:
            return await self._send(request, route, rid, red, url, headers, upload(), streamed_upload=True)
        except Exception:
            # The upstream request was aborted because of a line of ours: answer for that line.
            if failure:
                raise failure[0] from None
            raise

    async def _send(
        self,
        request: web.Request,
        route: HttpRoute,
        rid: str,
        red: Redaction,
        url: URL,
        headers: CIMultiDict[str],
        data: Any,
        *,
        streamed_upload: bool = False,
    ) -> web.StreamResponse:
        """Timeouts: connect ``upstream_connect``; ``upstream_total`` for the whole exchange of a
        buffered request and response. A streamed upload or a streamed answer (SSE, NDJSON,
        chunked) may last longer: there ``upstream_total`` bounds each silence between reads."""
        headers["X-Request-Id"] = rid
        accept = red.accept_encoding()
        if accept is not None:
            headers["Accept-Encoding"] = accept
        total = self.rt.cfg.timeouts.upstream_total
        loop = asyncio.get_running_loop()
        started, clock = loop.time(), metrics.now()
        try:
            async with asyncio.timeout(None if streamed_upload else total):
                up = await self.upstreams.session.request(
                    request.method, url, headers=headers, data=data, allow_redirects=False
                )
        except TimeoutError:
            metrics.UPSTREAM_ERRORS.labels(route.upstream, "timeout").inc()
            raise ProxyError(504, "upstream timed out") from None
        except aiohttp.ClientError:
            metrics.UPSTREAM_ERRORS.labels(route.upstream, "unreachable").inc()
            raise ProxyError(502, "upstream unreachable") from None
        metrics.observe_upstream(route.upstream, metrics.now() - clock)
        remaining = max(total - (loop.time() - started), 0.001)
        try:
            ctype, charset = content_type(up.headers)
            mode = red.response_mode(ctype, "Content-Length" in up.headers)
            if mode == "relay":
                return await self._relay_response(request, up, rid, remaining)
            if mode == "unmask" and request.method != "HEAD" and up.status not in (204, 304):
                return await self._unmasked_response(request, red, up, rid, ctype, charset)
            if mode == "unmask":  # no body to un-mask
                return await self._relay_response(request, up, rid, remaining)
            if mode == "buffer":
                return await self._redacted_response(route, rid, red, up, ctype, charset, remaining)
            return await self._streamed_response(request, route, rid, red, up, ctype, charset)
        finally:
            up.release()

    async def _relay_response(
        self, request: web.Request, up: aiohttp.ClientResponse, rid: str, remaining: float
    ) -> web.StreamResponse:
        headers = filtered(up.headers, body_headers=False)
        headers.pop("Host", None)
        headers["X-Request-Id"] = rid
        length = up.content_length
        if length is not None and length <= SMALL_BODY:
            # A small answer of known length: headers and body in one write.
            try:
                async with asyncio.timeout(remaining):
                    body = await up.read()
            except (TimeoutError, aiohttp.ClientError):
                raise ProxyError(502, "upstream response failed") from None
            headers.pop("Content-Length", None)
            return web.Response(status=up.status, reason=up.reason, body=body, headers=headers)
        resp = web.StreamResponse(status=up.status, reason=up.reason, headers=headers)
        if length is None:
            resp.enable_chunked_encoding()
        try:
            await resp.prepare(request)
            async for chunk in up.content.iter_any():
                await resp.write(chunk)
            await resp.write_eof()
        except (TimeoutError, aiohttp.ClientError, ConnectionResetError):
            # Headers are gone already: all we can do is cut the connection.
            if request.transport is not None:
                request.transport.close()
        return resp

    async def _unmasked_response(
        self,
        request: web.Request,
        red: Redaction,
        up: aiohttp.ClientResponse,
        rid: str,
        ctype: str,
        charset: str | None,
    ) -> web.StreamResponse:
        """An answer of a direction the destination un-masks: passed as it comes (headers and
        bytes), but decoded and with every pseudonym token the vault knows replaced by its
        value, chunk by chunk (a token split across chunks is found whole)."""
        try:
            decoder = ContentDecoder(up.headers.get("Content-Encoding", ""))
        except RedactionError as exc:
            raise ProxyError(502, f"upstream response cannot be un-masked ({exc.message})") from None
        unmasker = red.unmasker(ctype, charset)
        headers = filtered(up.headers, ("content-length", "content-encoding"), body_headers=False)
        headers.pop("Host", None)
        headers["X-Request-Id"] = rid
        resp = web.StreamResponse(status=up.status, reason=up.reason, headers=headers)
        resp.enable_chunked_encoding()
        if ctype == SSE:  # an event stream's client waits for its headers first
            await resp.prepare(request)
        try:
            async for out in pump(up.content.iter_any(), decoder, unmasker, "unmask"):
                if not resp.prepared:  # headers go with the first bytes: a failure before them
                    await resp.prepare(request)  # is still a clean answer (503, 502)
                await resp.write(out)
            if not resp.prepared:
                await resp.prepare(request)
            await resp.write_eof()
        except (RedactionError, VaultError, TimeoutError, aiohttp.ClientError, ConnectionResetError) as exc:
            if not resp.prepared:
                if isinstance(exc, VaultError):
                    raise
                if isinstance(exc, RedactionError):
                    raise ProxyError(502, f"upstream response cannot be un-masked ({exc.message})") from None
                raise ProxyError(502, "upstream response failed") from None
            # Headers are gone: cut the connection (the client sees a truncated body).
            log.warning("un-masked response cut rid=%s: %s", rid, exc.__class__.__name__)
            if request.transport is not None:
                request.transport.close()
        return resp

    async def _redacted_response(
        self,
        route: HttpRoute,
        rid: str,
        red: Redaction,
        up: aiohttp.ClientResponse,
        ctype: str,
        charset: str | None,
        remaining: float,
    ) -> web.StreamResponse:
        limit = self.rt.cfg.limits.max_body_bytes
        try:
            async with asyncio.timeout(remaining):
                raw = await read_limited(
                    up.content, limit, lambda: ProxyError(502, "upstream response larger than the redaction limit")
                )
        except (TimeoutError, aiohttp.ClientError):
            raise ProxyError(502, "upstream response failed") from None
        headers, scan, dropped = outbound_headers(red, "response", up.headers, header_rules(route.headers, "response"))
        plans = [red.plan_headers(scan)]
        if raw:
            try:
                body = decode_body(raw, up.headers.get("Content-Encoding", ""), limit)
                plans.append(red.plan_response(ctype, charset, body))
            except RedactionError as exc:
                raise ProxyError(502, f"upstream response cannot be redacted ({exc.message})") from None
        results = await run(Batch(plans), self.rt.detect)
        for name, value in results[0][0]:
            headers.add(name, value)
        if raw:
            raw = bytes(results[1][0])
        events = [*dropped, *(e for _, evs in results for e in evs)]
        self.rt.record(events, rid=rid, destination=route.destination, direction="response")
        return web.Response(status=up.status, reason=up.reason, body=raw, headers=headers)

    async def _streamed_response(
        self,
        request: web.Request,
        route: HttpRoute,
        rid: str,
        red: Redaction,
        up: aiohttp.ClientResponse,
        ctype: str,
        charset: str | None,
    ) -> web.StreamResponse:
        """SSE events, NDJSON lines and chunked text redacted and flushed as each completes."""
        kind = {SSE: "sse", TEXT: "text"}.get(ctype, "ndjson")
        try:
            decoder = ContentDecoder(up.headers.get("Content-Encoding", ""))
            on_message = self.rt.on_message(rid=rid, destination=route.destination, direction="response", kind=kind)
            redactor = red.stream(ctype, "response", self.rt.detect, on_message, charset)
        except RedactionError as exc:
            raise ProxyError(502, f"upstream response cannot be redacted ({exc.message})") from None
        rules = header_rules(route.headers, "response")
        headers = await scanned_headers(
            self.rt, red, "response", up.headers, rules, rid=rid, destination=route.destination
        )
        headers["X-Request-Id"] = rid
        headers["Cache-Control"] = up.headers.get("Cache-Control", "no-cache")
        if ctype == TEXT:
            headers["Content-Type"] = "text/plain; charset=utf-8"  # the text redactor writes UTF-8
        resp = web.StreamResponse(status=up.status, reason=up.reason, headers=headers)
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            async for out in pump(up.content.iter_any(), decoder, redactor, kind):
                await resp.write(out)
            await resp.write_eof()
        except (RedactionError, DetectionError) as exc:
            if isinstance(exc, DetectionError):
                metrics.DETECTION_FAILURES.labels("stream_cut").inc()
            err = answer_for(exc)
            log.warning("response stream cut rid=%s: %s", rid, exc.__class__.__name__)
            if kind == "sse":
                message = (
                    "detection failed; stream cut" if isinstance(exc, DetectionError) else err.message if err else ""
                )
                payload = json.dumps({"error": message, "request_id": rid})
                await resp.write(f"event: error\ndata: {payload}\n\n".encode())
                await resp.write_eof()
            elif request.transport is not None:
                request.transport.close()  # the client sees a truncated chunked body
        except (TimeoutError, aiohttp.ClientError, ConnectionResetError):
            if kind == "sse":
                await resp.write(b'event: error\ndata: {"error": "upstream stream failed"}\n\n')
                await resp.write_eof()
            elif request.transport is not None:
                request.transport.close()
        return resp
