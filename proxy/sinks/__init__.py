"""Log sinks: ``POST /logs/`` ingest, the durable spool and the forwarders.

One request, in a worker::

    body (<= limits.max_logs_request_bytes) -> lines -> records      400 names a bad line, 413, 415
    records -> redaction plans -> detection, max_batch texts a call   503 when detection fails
    redacted records + _record_id -> spool (group commit, fsync)      507 + Retry-After when full
    -> 202 {"accepted": n}

and, in the one worker of the proxy that holds the sink's lock, the delivery loop
(:mod:`proxy.sinks.delivery`) moves records from the spool to the sink. Only redacted records
ever reach the spool, the dead-letter file or the sink; the raw body lives in memory only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from proxy import metrics
from proxy.http.errors import ProxyError
from proxy.http.forward import content_type, decompress, read_body
from proxy.sinks.commit import Committer
from proxy.sinks.delivery import Delivery
from proxy.sinks.forwarders import FileForwarder, Forwarder, HttpForwarder, SyslogForwarder
from proxy.sinks.records import RecordError, encode_record, new_record_id, parse_records
from proxy.sinks.spool import SpoolError, SpoolFull

if TYPE_CHECKING:
    from proxy.config import Route, Sink
    from proxy.http.runtime import Runtime
    from proxy.policy import AuditEvent
    from proxy.redaction import Plan

__all__ = ["SINKS", "Sinks", "start_sinks"]

log = logging.getLogger("proxy.sinks")

TEXT = "text/plain"
DEFAULT_ACCEPT = ("application/x-ndjson", TEXT)
#: Bodies larger than this are split into lines on a thread, not on the event loop.
PARSE_OFF_LOOP = 64 * 1024
#: Yield to the event loop every so many records when no detection call does it.
YIELD_EVERY = 500


def forwarder_factory(sink: Sink) -> Callable[[Executor], Forwarder]:
    chosen = sink.chosen
    if chosen == "http":
        return lambda _executor: HttpForwarder(sink.http)
    if chosen == "syslog":
        return lambda _executor: SyslogForwarder(sink.syslog)
    if chosen == "file":
        return lambda executor: FileForwarder(sink.file, executor)
    raise ValueError("the sink has no http url, syslog host or file path")


class Sinks:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.committer: Committer | None = None
        self.deliveries: dict[str, Delivery] = {}

    async def start(self) -> None:
        cfg = self.rt.cfg
        names = sorted({r.sink for r in cfg.routes if r.kind == "log_ingest" and r.sink})
        if not names:
            return
        try:
            Path(cfg.spool.dir).mkdir(parents=True, exist_ok=True, mode=0o700)
            self.committer = Committer(cfg.spool)
            await self.committer.start()
            for name in names:
                for counter in (
                    metrics.LOG_RECORDS_ACCEPTED,
                    metrics.LOG_RECORDS_REFUSED,
                    metrics.LOG_RECORDS_DELIVERED,
                    metrics.LOG_RECORDS_DEAD_LETTERED,
                ):
                    counter.labels(name)  # the series exist (at 0) before the first record
                sink = cfg.sinks[name]
                d = Delivery(name, cfg.spool, forwarder_factory(sink), split_rejected=sink.http.split_rejected)
                self.deliveries[name] = d
                await d.start()
        except (OSError, SpoolError) as exc:
            await self.close()
            raise RuntimeError(f"cannot open the log spool in {cfg.spool.dir}: {exc}") from None

    async def close(self) -> None:
        for d in self.deliveries.values():
            await d.close()
        if self.committer is not None:
            await self.committer.close()

    def _spooled_bytes(self) -> int:
        return sum(d.depth.bytes for d in self.deliveries.values())

    # ---- POST /logs/ ---------------------------------------------------------------------------
    async def ingest(self, request: web.Request, route: Route, rid: str) -> web.StreamResponse:
        rt = self.rt
        cfg = rt.cfg
        if request.method != "POST":
            raise ProxyError(405, "log records are sent with POST", headers={"Allow": "POST"})
        assert route.sink is not None
        delivery = self.deliveries.get(route.sink)
        if self.committer is None or delivery is None:
            raise ProxyError(503, "the log spool is not running", code="spool_unavailable")
        ctype, charset = content_type(request.headers)
        if ctype not in (route.accept or DEFAULT_ACCEPT):
            raise ProxyError(415, "content type not accepted on this route (application/x-ndjson or text/plain)")
        full = ProxyError(
            507,
            "the log spool is full; nothing of this request was accepted, retry later",
            code="spool_full",
            headers={"Retry-After": str(cfg.spool.retry_after)},
        )
        if self._spooled_bytes() >= cfg.spool.max_bytes:
            raise full  # known full: spare the client its upload and us the detection
        limit = cfg.limits.max_logs_request_bytes
        body = await read_body(request, limit)
        body = decompress(body, request.headers.get("Content-Encoding", ""), limit)
        records = await self._parse(body, "text" if ctype == TEXT else "ndjson", charset)
        bodies, events = await self._redact(records, route.destination)
        if sum(len(b) for b in bodies) > cfg.spool.max_bytes:
            raise ProxyError(413, "the records of this request are larger than the whole spool")
        if bodies:
            try:
                await self.committer.append(route.sink, bodies)
            except SpoolFull:
                metrics.LOG_RECORDS_REFUSED.labels(route.sink).inc(len(bodies))
                raise full from None
            except SpoolError as exc:
                log.error("log spool: %s", exc)
                raise ProxyError(
                    503, "the log spool is unavailable; nothing of this request was accepted", code="spool_unavailable",
                    headers={"Retry-After": str(cfg.spool.retry_after)},
                ) from None  # fmt: skip
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
        except RecordError as exc:
            raise ProxyError(exc.status, f"{exc}; nothing of this request was accepted") from None

    async def _redact(self, records: list[Any], destination: str) -> tuple[list[bytes], list[AuditEvent]]:
        """Redact the records, at most ``detection.max_batch`` texts per detection call (the
        detection deadline is per call: a large request must not become one huge payload)."""
        rt = self.rt
        redactor = rt.redactors[destination]
        per_call = rt.cfg.detection.max_batch
        bodies: list[bytes] = []
        events: list[AuditEvent] = []
        chunk: list[Plan] = []
        texts = 0

        async def flush() -> None:
            nonlocal chunk, texts
            for value, evs in await rt.redact(chunk):
                bodies.append(encode_record(value, new_record_id()))
                events.extend(evs)
            chunk, texts = [], 0

        for i, record in enumerate(records, start=1):
            plan = redactor.json_value(record)
            chunk.append(plan)
            texts += len(plan.texts)
            if texts >= per_call:
                await flush()
            elif i % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        if chunk:
            await flush()
        return bodies, events


SINKS = web.AppKey("sinks", Sinks)


@contextlib.asynccontextmanager
async def start_sinks(rt: Runtime) -> AsyncIterator[Sinks]:
    sinks = Sinks(rt)
    await sinks.start()
    try:
        yield sinks
    finally:
        await sinks.close()
