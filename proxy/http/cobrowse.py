"""Co-browse transport: rrweb event streams to the chat partner (issue 14).

- ``/cobrowse/ws/...`` (a ``websocket`` route with ``format: rrweb``): relayed by
  :mod:`proxy.http.ws`; each client message is one event or an array, redacted by
  :class:`~proxy.redaction.rrweb.RrwebMessages` (one socket = one session: its node map lives
  and dies with the socket). A malformed message closes with 1007, a detection failure with 1011.
- ``POST /cobrowse/events`` (an ``http`` route with ``format: rrweb``): a JSON array of events,
  or ``{"events": [...], "session_id": "..."}``; the session is named by the
  ``X-Cobrowse-Session`` header or ``session_id``, so the batches of one session share one node
  map (per worker: bounded in number and nodes, forgotten after ``idle_seconds``). The path,
  query, scanned headers and every text of the batch go to detection in one call; the redacted
  batch is forwarded, in the shape it came in, by the :class:`~proxy.http.forward.Forwarder`.
  Errors: 400 malformed (nothing forwarded), 413, 415, 503 detection (the usual table).
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from prometheus_client import Counter, Gauge
from yarl import URL

from proxy.config import HttpRoute, WebSocketRoute
from proxy.errors import PayloadError
from proxy.http.errors import ProxyError
from proxy.http.forward import Forwarder, content_type, header_rules, outbound_headers, read_body
from proxy.http.runtime import Runtime
from proxy.policy import AuditEvent
from proxy.redaction import Direction, OnMessage, Redaction, StreamRedactor, decode_body, run
from proxy.redaction.rrweb import RrwebMessages, Sessions, dumps, loads, run_plan
from recognizers.types import Finding

__all__ = ["SESSION_HEADER", "CobrowseIngest", "ws_redactor"]

SESSION_HEADER = "X-Cobrowse-Session"
#: A session id is an opaque token: this shape (no '@', no spaces) or 400.
_SESSION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
JSON = "application/json"

EVENTS = Counter(
    "proxy_cobrowse_events_total",
    "rrweb events by kind (event type or incremental source) and what happened to them",
    ["kind", "action"],
)
SESSIONS = Gauge(
    "proxy_cobrowse_sessions", "POST co-browse sessions whose node maps a worker holds", multiprocess_mode="livesum"
)
NODE_MAP_FULL = Counter(
    "proxy_cobrowse_node_map_full_total", "Nodes not learnt because a session's node map was full (masked whole)"
)


def count(stats: dict[tuple[str, str], int]) -> None:
    for (kind, action), n in stats.items():
        EVENTS.labels(kind, action).inc(n)


def ws_redactor(
    red: Redaction,
    route: WebSocketRoute,
    direction: Direction,
    rt: Runtime,
    on_message: OnMessage,
    scope: str | None = None,
) -> StreamRedactor:
    """The redactor of one direction of a WebSocket route: rrweb events towards the partner on
    a ``format: rrweb`` route, chat messages otherwise (and answers)."""
    if route.format == "rrweb" and direction == "request" and red.redacts(direction):
        chunk = red.policy.dest.cobrowse.detect_chunk_chars
        return RrwebMessages(red.rrweb, rt.detect, on_message, count, chunk)
    return red.messages(direction, rt.detect, on_message, scope)


class CobrowseIngest:
    """``POST`` batches of rrweb events; the node maps of their sessions, per route."""

    def __init__(self, rt: Runtime, forwarder: Forwarder) -> None:
        self.rt = rt
        self.forwarder = forwarder
        self.sessions: dict[str, Sessions] = {}

    def _sessions(self, route: HttpRoute, red: Redaction) -> Sessions:
        store = self.sessions.get(route.path)
        if store is None:
            store = self.sessions[route.path] = red.rrweb.sessions()
        return store

    async def handle(self, request: web.Request, route: HttpRoute, rid: str) -> web.StreamResponse:
        rt = self.rt
        red = rt.redactions[route.destination]
        if request.method != "POST":
            raise ProxyError(405, "co-browse events are sent with POST", headers={"Allow": "POST"})
        ctype, charset = content_type(request.headers)
        if ctype not in (route.accept or (JSON,)):
            raise ProxyError(415, "content type not accepted on this route (application/json)")
        if charset is not None and charset.lower().replace("-", "") != "utf8":
            raise ProxyError(415, "co-browse events are UTF-8 JSON")
        limit = rt.cfg.limits.max_body_bytes
        raw = await read_body(request, limit, rt.cfg.timeouts.body_read)
        body = decode_body(raw, request.headers.get("Content-Encoding", ""), limit)
        value = loads(body)
        audit: list[AuditEvent] = []
        sid = request.headers.get(SESSION_HEADER)
        if isinstance(value, dict):
            if not isinstance(value.get("events"), list):
                raise PayloadError("an object body holds its events in an `events` array")
            if "session_id" in value:
                if not isinstance(value["session_id"], str) or (sid is not None and sid != value["session_id"]):
                    raise PayloadError("session_id is a string, the same as the X-Cobrowse-Session header")
                sid = value["session_id"]
            for k in [k for k in value if k not in ("events", "session_id")]:
                del value[k]  # default deny: only the events and the session cross
                audit.append(AuditEvent("rrweb.batch", "drop", reason="unknown key"))
            events = value["events"]
        elif isinstance(value, list):
            events = value
        else:
            raise PayloadError("the body is an array of rrweb events or an object with `events`")
        if sid is not None and not _SESSION_ID.match(sid):
            raise PayloadError("the session id is 1-128 letters, digits, '.', '_', ':' or '-'")
        store = self._sessions(route, red)
        session = store.get(sid)
        overflowed = session.overflowed
        try:
            plan = red.rrweb.plan(session, events)
        except PayloadError:
            rt.record(
                [AuditEvent("rrweb.batch", "drop", reason="malformed event")],
                rid=rid,
                destination=route.destination,
                direction="request",
            )
            raise
        finally:
            SESSIONS.set(sum(len(s) for s in self.sessions.values()))
        NODE_MAP_FULL.inc(session.overflowed - overflowed)

        # the request's path, query and scanned headers: in the same detection call
        headers, scan, dropped = outbound_headers(
            red, "request", request.headers, header_rules(route.headers, "request")
        )
        req_plan = red.plan_request(
            path=self.forwarder.upstreams.tail(route, request.rel_url.path),
            query=list(request.rel_url.query.items()),
            headers=scan,
            ctype="",
            charset=None,
            body=None,
        )
        chunk = red.policy.dest.cobrowse.detect_chunk_chars
        if sum(len(t) for t in plan.texts) <= chunk:  # one detection call for the whole request
            texts = [*req_plan.texts, *plan.texts]
            findings: list[list[Finding]] = await rt.detect(texts) if texts else []
            parts, req_events = req_plan.finish(findings[: len(req_plan.texts)])
            out, ev_audit = plan.finish(findings[len(req_plan.texts) :])
        else:  # a large page: the request's parts, then the events in runs (each within the deadline)
            parts, req_events = await run(req_plan, rt.detect)
            out, ev_audit = await run_plan(plan, rt.detect, chunk)
        rt.record(
            [*dropped, *req_events, *audit, *ev_audit], rid=rid, destination=route.destination, direction="request"
        )
        count(plan.stats)
        if isinstance(value, dict):
            value["events"] = out
            payload: Any = value
        else:
            payload = out
        data = dumps(payload)
        for name, v in parts.headers:
            headers.add(name, v)
        headers["Content-Type"] = "application/json"
        if sid is not None:
            headers[SESSION_HEADER] = sid  # validated: an opaque token
        url = URL(self.forwarder.upstreams.url(route, parts.path))
        if parts.query or url.raw_query_string:
            url = url.with_query(parts.query)
        return await self.forwarder._send(request, route, rid, red, url, headers, data)
