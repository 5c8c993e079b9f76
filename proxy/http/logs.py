"""``POST /logs/``: log records redacted into the durable spool (transport: the records are
parsed by :mod:`proxy.sinks.records` and redacted by the core, then committed by the sinks).

One request, in a worker::

    body (<= limits.max_logs_request_bytes) -> lines -> records      400 names a bad line, 413, 415
    records -> redaction plans -> detection, max_batch texts a call   503 when detection fails
    redacted records + _record_id -> spool (group commit, fsync)      507 + Retry-After when full
    -> 202 {"accepted": n}

Each request is accepted or refused whole; the raw body lives in memory only.

Cost bounds: at most :data:`CONCURRENT` requests of a worker are in detection at once; the others
wait for their turn *before* detection (queued inside it they would pass its per-call deadline and
get 503 merely for waiting). Reading, parsing, waiting and redaction together have
``timeouts.logs_request`` (30 s): past it, 503 + Retry-After and nothing is spooled. A client that
goes away is noticed between detection calls: its request stops there, nothing is spooled (it
will retry; spooling it would duplicate it).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from proxy import metrics
from proxy.config import LogIngestRoute
from proxy.http.errors import ProxyError
from proxy.http.forward import content_type, read_body
from proxy.http.runtime import Runtime
from proxy.policy import AuditEvent
from proxy.redaction import Batch, Plan, RedactionError, decode_body, run
from proxy.sinks import Sinks
from proxy.sinks.records import encode_record, new_record_id, parse_records
from proxy.sinks.spool import SpoolError, SpoolFull

__all__ = ["LogIngest"]

TEXT = "text/plain"
log = logging.getLogger("proxy.sinks")

DEFAULT_ACCEPT = ("application/x-ndjson", TEXT)
#: Bodies larger than this are split into lines on a thread, not on the event loop.
PARSE_OFF_LOOP = 64 * 1024
#: Yield to the event loop every so many records when no detection call does it.
YIELD_EVERY = 500
#: /logs/ requests of one worker in detection at once (each sends max_batch texts a call: two
#: keep the detector busy while one waits for its answer; more only queue inside detection).
CONCURRENT = 2


class ClientGone(Exception):
    """The client of a /logs/ request closed its connection: stop, spool nothing."""


class LogIngest:
    def __init__(self, rt: Runtime, sinks: Sinks) -> None:
        self.rt = rt
        self.sinks = sinks
        self._admit = asyncio.Semaphore(CONCURRENT)

    async def handle(self, request: web.Request, route: LogIngestRoute, rid: str) -> web.StreamResponse:
        rt = self.rt
        cfg = rt.cfg
        if request.method != "POST":
            raise ProxyError(405, "log records are sent with POST", headers={"Allow": "POST"})
        committer = self.sinks.committer
        delivery = self.sinks.deliveries.get(route.sink)
        if committer is None or delivery is None:
            raise ProxyError(503, "the log spool is not running", code="spool_unavailable")
        ctype, charset = content_type(request.headers)
        if ctype not in (route.accept or DEFAULT_ACCEPT):
            raise ProxyError(415, "content type not accepted on this route (application/x-ndjson or text/plain)")
        if self.sinks.spooled_bytes() >= cfg.spool.max_bytes:
            # known full: spare the client its upload and us the detection
            raise SpoolFull("the spool is full")
        limit = cfg.limits.max_logs_request_bytes
        try:
            async with asyncio.timeout(cfg.timeouts.logs_request):
                body = decode_body(await read_body(request, limit), request.headers.get("Content-Encoding", ""), limit)
                records = await self._parse(body, "text" if ctype == TEXT else "ndjson", charset)
                del body
                async with self._admit:
                    bodies, events = await self._redact(records, route.destination, request)
        except TimeoutError:
            metrics.DETECTION_FAILURES.labels("logs_request").inc()
            raise ProxyError(
                503,
                f"the request took longer than {cfg.timeouts.logs_request:g}s; nothing of it was accepted, "
                "retry later (smaller requests go faster)",
                code="logs_timeout",
                headers={"Retry-After": str(cfg.spool.retry_after)},
            ) from None
        except ClientGone:
            log.info("log request rid=%s: the client went away; nothing was spooled", rid)
            raise ProxyError(499, "the client went away; nothing was accepted", code="client_gone") from None
        if sum(len(b) for b in bodies) > cfg.spool.max_bytes:
            raise ProxyError(413, "the records of this request are larger than the whole spool")
        if bodies:
            try:
                await committer.append(route.sink, bodies)
            except SpoolFull:
                metrics.LOG_RECORDS_REFUSED.labels(route.sink).inc(len(bodies))
                raise
            except SpoolError as exc:  # answered 503 + Retry-After by the edge
                log.error("log spool: %s", exc)
                raise
            delivery.wake()
            metrics.LOG_RECORDS_ACCEPTED.labels(route.sink).inc(len(bodies))
        rt.record(events, rid=rid, destination=route.destination, direction="request")
        return web.json_response({"accepted": len(bodies), "request_id": rid}, status=202)

    async def _parse(self, body: bytes, kind: str, charset: str | None) -> list[Any]:
        max_line = self.rt.cfg.limits.max_message_bytes
        try:
            if len(body) > PARSE_OFF_LOOP:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(None, parse_records, body, kind, charset, max_line)
            return parse_records(body, kind, charset, max_line)
        except RedactionError as exc:
            exc.message = f"{exc.message}; nothing of this request was accepted"
            raise

    async def _redact(
        self, records: list[Any], destination: str, request: web.Request | None = None
    ) -> tuple[list[bytes], list[AuditEvent]]:
        """Redact the records, at most ``detection.max_batch`` texts per detection call (the
        detection deadline is per call: a large request must not become one huge payload).
        Raises ClientGone, before each call, once ``request``'s client has closed its connection."""
        red = self.rt.redactions[destination]
        per_call = self.rt.cfg.detection.max_batch
        bodies: list[bytes] = []
        events: list[AuditEvent] = []
        chunk: list[Plan] = []
        texts = 0

        async def flush() -> None:
            nonlocal chunk, texts
            if request is not None and (request.transport is None or request.transport.is_closing()):
                raise ClientGone
            for value, evs in await run(Batch(chunk), self.rt.detect):
                bodies.append(encode_record(value, new_record_id()))
                events.extend(evs)
            chunk, texts = [], 0

        for i, record in enumerate(records, start=1):
            plan = red.plan_record(record)
            chunk.append(plan)
            texts += len(plan.texts)
            if texts >= per_call:
                await flush()
            elif i % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        if chunk:
            await flush()
        return bodies, events
