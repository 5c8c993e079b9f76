"""HTTP forwarding: read, decode, redact, forward, relay the answer."""

from __future__ import annotations

import asyncio
import json
import logging
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from proxy import metrics
from proxy.config import Route
from proxy.http.errors import ProxyError
from proxy.http.headers import CLIENT_ADDRESS, filtered
from proxy.http.runtime import Runtime
from proxy.http.ws import message_plan
from proxy.metrics import BYTES_HELD
from proxy.redaction import PayloadError, Plan
from proxy.redaction.stream import LineFramer, SseEvent, SseFramer, StreamError, TextStream
from recognizers.types import DetectionError

log = logging.getLogger("proxy.forward")

JSON_TYPES = ("application/json",)
FORM = "application/x-www-form-urlencoded"
TEXT = "text/plain"
NDJSON = "application/x-ndjson"
SSE = "text/event-stream"
#: Answers up to this size with a Content-Length are relayed in one write.
SMALL_BODY = 64 * 1024


def is_json(ct: str) -> bool:
    return ct in JSON_TYPES or (ct.startswith("application/") and ct.endswith("+json"))


async def read_limited(stream: aiohttp.StreamReader, limit: int, too_large: Callable[[], ProxyError]) -> bytes:
    """Read a whole body, raising ``too_large()`` as soon as it passes ``limit`` bytes."""
    buf = bytearray()
    async for chunk in stream.iter_any():
        buf += chunk
        if len(buf) > limit:
            raise too_large()
    return bytes(buf)


async def read_body(request: web.BaseRequest, limit: int) -> bytes:
    def too_large() -> ProxyError:
        return ProxyError(413, f"body larger than the limit of {limit} bytes")

    if request.content_length is not None and request.content_length > limit:
        raise too_large()
    return await read_limited(request.content, limit, too_large)


def decoder_for(encoding: str) -> Any:
    enc = encoding.strip().lower()
    if enc in ("", "identity"):
        return None
    if enc in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if enc == "deflate":
        return zlib.decompressobj(32 + zlib.MAX_WBITS)  # zlib-wrapped, as RFC 9110 means
    raise ProxyError(415, "unsupported Content-Encoding (gzip, deflate and identity are accepted)")


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    dec = decoder_for(encoding)
    if dec is None:
        return body
    try:
        out: bytes = dec.decompress(body, limit + 1)
        if len(out) > limit or dec.unconsumed_tail:
            raise ProxyError(413, f"decoded body larger than the limit of {limit} bytes")
        out += dec.flush()
        if not dec.eof:
            raise ProxyError(400, f"truncated {encoding} body")
    except zlib.error:
        raise ProxyError(400, f"corrupt {encoding} body") from None
    if len(out) > limit:
        raise ProxyError(413, f"decoded body larger than the limit of {limit} bytes")
    return out


def body_plan(rt: Runtime, destination: str, ctype: str, charset: str | None, body: bytes) -> Plan:
    redactor = rt.redactors[destination]
    try:
        if is_json(ctype):
            return redactor.json_bytes(body)
        if ctype == FORM:
            return redactor.form_bytes(body, charset or "utf-8")
        if ctype == TEXT:
            return redactor.text_bytes(body, charset or "utf-8")
    except PayloadError as exc:
        raise ProxyError(400, str(exc)) from None
    raise ProxyError(415, "content type not redactable")


def content_type(headers: Any) -> tuple[str, str | None]:
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


class Forwarder:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def handle(self, request: web.Request, route: Route, rid: str) -> web.StreamResponse:
        rt = self.rt
        cfg = rt.cfg
        dest = route.destination
        redact_request = "request" in cfg.destinations[dest].directions
        ctype, charset = content_type(request.headers)
        has_body = request.body_exists
        if has_body and ctype not in route.accept:
            raise ProxyError(415, "content type not accepted on this route")
        if has_body and ctype == NDJSON:
            return await self._streamed_upload(request, route, rid, ctype)

        plans: list[Plan] = []
        query_plan = rt.redactors[dest].query(list(request.rel_url.query.items())) if redact_request else None
        if query_plan is not None:
            plans.append(query_plan)
        header_names = [h for h in route.headers.scan if h in request.headers] if redact_request else []
        header_plans = [rt.redactors[dest].text(request.headers[h], f"header.{h.lower()}") for h in header_names]
        plans.extend(header_plans)
        body = b""
        body_p: Plan | None = None
        if has_body:
            body = await read_body(request, cfg.limits.max_body_bytes)
            body = decompress(body, request.headers.get("Content-Encoding", ""), cfg.limits.max_body_bytes)
            if redact_request:
                body_p = body_plan(rt, dest, ctype, charset, body)
                plans.append(body_p)
        results = await rt.redact(plans) if redact_request else []
        events = [e for _, evs in results for e in evs]
        query: list[tuple[str, str]] = list(request.rel_url.query.items())
        at = 0
        if query_plan is not None:
            query = list(results[at][0])
            at += 1
        headers = filtered(request.headers, list(route.headers.drop) + list(CLIENT_ADDRESS))
        for name in header_names:
            headers[name] = str(results[at][0])
            at += 1
        if body_p is not None:
            body = bytes(results[at][0])
        rt.record(events, rid=rid, destination=dest, direction="request")
        if has_body and ctype:
            headers["Content-Type"] = f"{ctype}; charset=utf-8" if ctype == TEXT else request.headers["Content-Type"]
        url = URL(rt.upstream_url(route, request.rel_url.path))
        if query or url.raw_query_string:
            url = url.with_query(query)
        return await self._send(request, route, rid, url, headers, body if has_body else None)

    async def _send(
        self,
        request: web.Request,
        route: Route,
        rid: str,
        url: URL,
        headers: CIMultiDict[str],
        data: Any,
        *,
        streamed_upload: bool = False,
    ) -> web.StreamResponse:
        """Timeouts: connect ``upstream_connect``; ``upstream_total`` for the whole exchange of a
        buffered request and response. A streamed upload or a streamed answer (SSE, NDJSON,
        chunked) may last longer: there ``upstream_total`` bounds each silence between reads."""
        rt = self.rt
        assert rt.session is not None and route.upstream is not None
        headers["X-Request-Id"] = rid
        dest_cfg = rt.cfg.destinations[route.destination]
        redact_response = "response" in dest_cfg.directions
        if redact_response:
            headers["Accept-Encoding"] = "gzip, deflate"
        total = rt.cfg.timeouts.upstream_total
        started = asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout(None if streamed_upload else total):
                up = await rt.session.request(request.method, url, headers=headers, data=data, allow_redirects=False)
        except TimeoutError:
            metrics.UPSTREAM_ERRORS.labels(route.upstream, "timeout").inc()
            raise ProxyError(504, "upstream timed out") from None
        except aiohttp.ClientError:
            metrics.UPSTREAM_ERRORS.labels(route.upstream, "unreachable").inc()
            raise ProxyError(502, "upstream unreachable") from None
        remaining = max(total - (asyncio.get_running_loop().time() - started), 0.001)
        try:
            if redact_response:
                return await self._redacted_response(request, route, rid, up, remaining)
            return await self._relay_response(request, up, rid, remaining)
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

    async def _redacted_response(
        self, request: web.Request, route: Route, rid: str, up: aiohttp.ClientResponse, remaining: float
    ) -> web.StreamResponse:
        rt = self.rt
        limit = rt.cfg.limits.max_body_bytes
        ctype, charset = content_type(up.headers)
        if ctype in (SSE, NDJSON) or (ctype == TEXT and up.headers.get("Content-Length") is None):
            return await self._streamed_response(request, route, rid, up, ctype, charset)
        try:
            async with asyncio.timeout(remaining):
                raw = await read_limited(
                    up.content, limit, lambda: ProxyError(502, "upstream response larger than the redaction limit")
                )
        except (TimeoutError, aiohttp.ClientError):
            raise ProxyError(502, "upstream response failed") from None
        if raw:
            body = decompress(raw, up.headers.get("Content-Encoding", ""), limit)
            try:
                plan = body_plan(rt, route.destination, ctype, charset, body)
            except ProxyError as exc:
                raise ProxyError(502, f"upstream response cannot be redacted ({exc.message})") from None
            ((out, events),) = await rt.redact([plan])
            rt.record(events, rid=rid, destination=route.destination, direction="response")
            raw = bytes(out)
        headers = filtered(up.headers, body_headers=True)
        resp = web.Response(status=up.status, reason=up.reason, body=raw, headers=headers)
        return resp

    async def _streamed_response(
        self,
        request: web.Request,
        route: Route,
        rid: str,
        up: aiohttp.ClientResponse,
        ctype: str,
        charset: str | None,
    ) -> web.StreamResponse:
        """SSE events, NDJSON lines and chunked text redacted and flushed as each completes."""
        rt = self.rt
        dest = route.destination
        limits = rt.cfg.limits
        decoder = decoder_for(up.headers.get("Content-Encoding", ""))
        headers = filtered(up.headers, body_headers=True)
        headers["X-Request-Id"] = rid
        headers["Cache-Control"] = up.headers.get("Cache-Control", "no-cache")
        if ctype == TEXT:
            headers["Content-Type"] = "text/plain; charset=utf-8"
        resp = web.StreamResponse(status=up.status, reason=up.reason, headers=headers)
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        kind = {SSE: "sse", NDJSON: "ndjson"}.get(ctype, "text")

        sse = SseFramer(limits.max_message_bytes)
        lines = LineFramer(limits.max_message_bytes)
        text = TextStream(limits.stream_window_bytes, limits.max_message_bytes, charset or "utf-8")
        metrics.OPEN_STREAMS.labels(kind).inc()
        try:
            chunks = up.content.iter_any()
            done = False
            while not done:
                try:
                    chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    chunk, done = b"", True
                if decoder is not None:
                    chunk = decoder.decompress(chunk) + (decoder.flush() if done else b"")
                if kind == "sse":
                    events = sse.feed(chunk) + (sse.flush() if done else [])
                    if events:
                        sse_out, sse_err = await self._redact_sse(dest, [SseEvent(e) for e in events], rid)
                        if sse_out:
                            await resp.write(sse_out)
                        if sse_err is not None:
                            raise sse_err
                elif kind == "ndjson":
                    got = lines.feed(chunk)
                    tail = lines.flush() if done else None
                    got += [tail] if tail is not None else []
                    if got:
                        first = lines.line_no - len(got) + 1
                        nd_out, nd_err = await self._redact_ndjson(dest, got, first, rid, "response")
                        if nd_out:
                            await resp.write(nd_out)
                        if nd_err is not None:
                            raise nd_err
                else:
                    text.feed(chunk, final=done)
                    while text.ready(final=done):
                        window = text.buf
                        (findings,) = await rt.detection.analyze([window])
                        prefix, inside = text.take(findings, final=done)
                        if not prefix:
                            break  # no safe cut yet: wait for more of the stream
                        out, decisions = rt.policies[dest].redact_text(prefix, inside, "body")
                        rt.record(decisions, rid=rid, destination=dest, direction="response")
                        metrics.STREAM_MESSAGES.labels(kind, "response").inc()
                        await resp.write(out.encode("utf-8"))
                BYTES_HELD.set(sse.held + lines.held + text.held)
            await resp.write_eof()
        except (StreamError, ProxyError, PayloadError, zlib.error, DetectionError) as exc:
            if isinstance(exc, DetectionError):
                metrics.DETECTION_FAILURES.labels("stream_cut").inc()
            message = exc.message if isinstance(exc, ProxyError) else str(exc)
            if isinstance(exc, zlib.error):
                message = "corrupt compressed stream"
            if isinstance(exc, DetectionError):
                message = "detection failed; stream cut"
            log.warning("response stream cut rid=%s: %s", rid, exc.__class__.__name__)
            if kind == "sse":
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
        finally:
            metrics.OPEN_STREAMS.labels(kind).dec()
        return resp

    async def _redact_ndjson(
        self, dest: str, lines: list[bytes], first: int, rid: str, direction: str
    ) -> tuple[bytes, ProxyError | None]:
        """Lines of an NDJSON stream, redacted in one detection call. A bad line stops there:
        the lines before it are returned with the error, nothing of it or after it."""
        plans: list[Plan] = []
        err: ProxyError | None = None
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                plans.append(self.rt.redactors[dest].json_bytes(line))
            except PayloadError as exc:
                err = ProxyError(400, f"line {first + i}: {exc}")
                lines = lines[:i]
                break
        results = iter(await self.rt.redact(plans) if plans else [])
        out = bytearray()
        for line in lines:
            if not line.strip():
                out += line + b"\n"
                continue
            value, events = next(results)
            self.rt.record(events, rid=rid, destination=dest, direction=direction)
            out += value + b"\n"
        metrics.STREAM_MESSAGES.labels("ndjson", direction).inc(len(plans))
        return bytes(out), err

    async def _redact_sse(self, dest: str, events: list[SseEvent], rid: str) -> tuple[bytes, StreamError | None]:
        """Events of an SSE stream, redacted in one detection call (their data as a chat message
        when it is JSON, as text otherwise); comments, ``event:``, ``id:``, ``retry:`` kept."""
        plans: list[Plan | None] = []
        err: StreamError | None = None
        for i, ev in enumerate(events):
            if ev.data is None:
                plans.append(None)
                continue
            try:
                plans.append(message_plan(self.rt, dest, ev.data.decode("utf-8")))
            except UnicodeDecodeError:
                err = StreamError("event data is not valid UTF-8")
                events = events[:i]
                break
        real = [p for p in plans if p is not None]
        results = iter(await self.rt.redact(real) if real else [])
        out = bytearray()
        for ev, plan in zip(events, plans, strict=False):
            if plan is None:
                out += ev.render(None)
                continue
            value, decisions = next(results)
            self.rt.record(decisions, rid=rid, destination=dest, direction="response")
            out += ev.render(str(value))
        metrics.STREAM_MESSAGES.labels("sse", "response").inc(len(real))
        return bytes(out), err

    async def _streamed_upload(self, request: web.Request, route: Route, rid: str, ctype: str) -> web.StreamResponse:
        """NDJSON uploads: each line redacted and forwarded as soon as it is complete."""
        rt = self.rt
        dest = route.destination
        max_line = rt.cfg.limits.max_message_bytes
        failure: list[ProxyError] = []
        decoder = decoder_for(request.headers.get("Content-Encoding", ""))

        async def lines() -> AsyncIterator[bytes]:
            framer = LineFramer(max_line)

            async def emit(got: list[bytes]) -> AsyncIterator[bytes]:
                out, err = await self._redact_ndjson(dest, got, framer.line_no - len(got) + 1, rid, "request")
                if out:
                    yield out
                if err is not None:
                    raise err

            try:
                metrics.OPEN_STREAMS.labels("ndjson").inc()
                async for chunk in request.content.iter_any():
                    if decoder is not None:
                        chunk = decoder.decompress(chunk)
                    got = framer.feed(chunk)
                    if got:  # every line this chunk completed, in one detection call
                        async for out in emit(got):
                            yield out
                tail = framer.flush()
                if tail is not None:
                    async for out in emit([tail]):
                        yield out
            except StreamError as exc:
                failure.append(ProxyError(413 if exc.too_large else 400, str(exc)))
                raise
            except ProxyError as exc:
                failure.append(exc)
                raise
            except zlib.error:
                failure.append(ProxyError(400, "corrupt compressed body"))
                raise
            finally:
                metrics.OPEN_STREAMS.labels("ndjson").dec()

        headers = filtered(request.headers, list(route.headers.drop) + list(CLIENT_ADDRESS))
        headers["Content-Type"] = ctype
        url = URL(rt.upstream_url(route, request.rel_url.path)).with_query(
            await self._redacted_query(request, route, rid)
        )
        try:
            return await self._send(request, route, rid, url, headers, lines(), streamed_upload=True)
        except Exception:
            # The upstream request was aborted because of a line of ours: answer for that line.
            if failure:
                raise failure[0] from None
            raise

    async def _redacted_query(self, request: web.Request, route: Route, rid: str) -> list[tuple[str, str]]:
        pairs = list(request.rel_url.query.items())
        if not pairs or "request" not in self.rt.cfg.destinations[route.destination].directions:
            return pairs
        plan = self.rt.redactors[route.destination].query(pairs)
        ((out, events),) = await self.rt.redact([plan])
        self.rt.record(events, rid=rid, destination=route.destination, direction="request")
        return list(out)
