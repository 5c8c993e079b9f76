"""The redaction API of one destination: the transport hands it bytes, a content type and a
direction; it answers with plans, stream redactors and redacted bytes. Sans-io: detection is
injected as an awaitable ``detect(texts) -> findings`` and awaited only by :func:`run` and the
stream redactors.

::

    red = Redaction(policy, limits)
    red.request_mode(ctype)            # "stream" | "buffer"   (which path the transport takes)
    red.response_mode(ctype, length)   # "relay" | "buffer" | "stream"
    plan = red.plan_request(query=..., headers=..., ctype=..., charset=..., body=...)
    parts, events = await run(plan, detect)                 # RequestParts: query, headers, body
    body, events = await run(red.plan_response(ctype, charset, body), detect)
    s = red.stream(ctype, "request", detect, on_message)    # feed(bytes) -> bytes, flush()
    m = red.messages("request", detect, on_message)         # WebSocket text messages

Every "does this destination redact this direction?" is answered here (:meth:`redacts`): a
direction that is not redacted gets pass-through plans and streams, whatever the content.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from proxy.errors import UnsupportedContent
from proxy.policy import AuditEvent, Policy
from proxy.redaction import stream as s
from proxy.redaction import unmask as u
from proxy.redaction.plan import Batch, Detect, OnMessage, Plan, TokenVault, Walker, run
from proxy.redaction.rrweb import RrwebRedactor
from recognizers.types import Finding

__all__ = [
    "Detect",
    "Direction",
    "HeaderRules",
    "HeaderSplit",
    "Limits",
    "OnMessage",
    "Redaction",
    "RequestParts",
    "RequestPlan",
    "ResponseMode",
    "StreamRedactor",
    "TokenVault",
    "run",
]

Direction = Literal["request", "response"]
ResponseMode = Literal["relay", "buffer", "stream", "unmask"]

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
TEXT = "text/plain"
NDJSON = "application/x-ndjson"
SSE = "text/event-stream"
#: Content types streamed message by message (never held whole).
STREAMED = (NDJSON, SSE)


def is_json(ctype: str) -> bool:
    return ctype == JSON or (ctype.startswith("application/") and ctype.endswith("+json"))


@dataclass(frozen=True, slots=True)
class HeaderRules:
    """Which headers cross, by lower-case name (from a route's ``headers`` config)."""

    allow: frozenset[str] = frozenset()
    scan: frozenset[str] = frozenset()
    drop: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class HeaderSplit:
    """A message's headers sorted by the rules: passed as they are, to scan, dropped (counted)."""

    passed: list[tuple[str, str]]
    scan: list[tuple[str, str]]
    dropped: int


@dataclass(frozen=True, slots=True)
class Limits:
    """The bounds the core applies while redacting streams."""

    max_message_bytes: int = 1 << 20
    stream_window_bytes: int = 16 << 10


@dataclass(slots=True)
class RequestParts:
    """What a request becomes: its query, the values of its scanned headers, its body."""

    query: list[tuple[str, str]]
    headers: list[tuple[str, str]]
    body: bytes | None
    #: The path after the route's prefix, decoded, ``/``-separated.
    path: str = ""
    #: The Content-Type to send upstream (text is forwarded as UTF-8), or None to keep the client's.
    content_type: str | None = None


class RequestPlan:
    """A request's query, headers and buffered body, redacted by one detection call."""

    def __init__(self, parts: RequestParts, plans: dict[str, Plan]) -> None:
        self._parts = parts
        self._plans = plans
        self._batch = Batch(list(plans.values()))

    @property
    def texts(self) -> list[str]:
        return self._batch.texts

    async def resolve(self, findings: Sequence[Sequence[Finding]]) -> None:
        body = self._plans.get("body")
        if body is not None and body.scope is not None:  # the body names the conversation: all of it
            for p in self._plans.values():
                p.scope = body.scope if p.scope is None else p.scope
        await self._batch.resolve(findings)

    def finish(self, findings: Sequence[Sequence[Finding]]) -> tuple[RequestParts, list[AuditEvent]]:
        results = dict(zip(self._plans, self._batch.finish(findings), strict=True))
        events = [e for _, evs in results.values() for e in evs]
        p = self._parts
        query = list(results["query"][0]) if "query" in results else p.query
        headers = list(results["headers"][0]) if "headers" in results else p.headers
        body = bytes(results["body"][0]) if "body" in results else p.body
        path = "/".join(results["path"][0]) if "path" in results else p.path
        return RequestParts(query, headers, body, path, p.content_type), events


class Redaction:
    """One destination's redaction (its policy, its directions, the stream limits)."""

    def __init__(self, policy: Policy, limits: Limits | None = None, vault: TokenVault | None = None) -> None:
        self.policy = policy
        self.name = policy.name
        self.limits = limits or Limits()
        #: The pseudonym vault (injected; None where the destination neither pseudonymises nor
        #: un-masks): plans resolve their pseudonyms in it, un-maskers reveal tokens from it.
        self.vault = vault
        self.walker = Walker(policy, vault)
        self._directions = frozenset(policy.dest.directions)
        self._unmask = frozenset(policy.dest.unmask)

    # ---- decisions -----------------------------------------------------------------------------
    def redacts(self, direction: Direction) -> bool:
        """The one direction check of the proxy."""
        return direction in self._directions

    def unmasks(self, direction: Direction) -> bool:
        """Whether pseudonym tokens coming this way are replaced by their values (never in a
        redacted direction: the config refuses that)."""
        return direction in self._unmask and self.vault is not None

    def request_mode(self, ctype: str) -> Literal["stream", "buffer"]:
        return "stream" if ctype in STREAMED else "buffer"

    def response_mode(self, ctype: str, has_length: bool) -> ResponseMode:
        """``relay`` passes the answer through as it comes; ``stream`` redacts it message by
        message (SSE, NDJSON, text without a length); ``buffer`` reads it whole first."""
        if not self.redacts("response"):
            return "unmask" if self.unmasks("response") and u.unmaskable(ctype) else "relay"
        if ctype in STREAMED or (ctype == TEXT and not has_length):
            return "stream"
        return "buffer"

    def accept_encoding(self) -> str | None:
        """The ``Accept-Encoding`` to ask the upstream for: codings the core can decode, when
        it must read the answer; None to pass the client's choice on."""
        return "gzip, deflate" if self.redacts("response") or self.unmasks("response") else None

    def split_headers(
        self, direction: Direction, headers: Sequence[tuple[str, str]], rules: HeaderRules
    ) -> HeaderSplit:
        """Default deny in a redacted direction: only allowed headers pass, listed ones are
        scanned, the rest are dropped. Elsewhere every header but the ``drop`` list passes.
        (Hop-by-hop headers and client addresses are the transport's to remove first.)"""
        passed: list[tuple[str, str]] = []
        scan: list[tuple[str, str]] = []
        dropped = 0
        redacted = self.redacts(direction)
        for name, value in headers:
            low = name.lower()
            if low in rules.drop:
                dropped += 1
            elif not redacted or low in rules.allow:
                passed.append((name, value))
            elif low in rules.scan:
                scan.append((name, value))
            else:
                dropped += 1
        return HeaderSplit(passed, scan, dropped)

    # ---- plans ---------------------------------------------------------------------------------
    def plan_body(self, ctype: str, charset: str | None, body: bytes) -> Plan:
        """A whole body of a redactable type (JSON, form, text); renders bytes."""
        if is_json(ctype):
            return self.walker.json_bytes(body, charset=charset)
        if ctype == FORM:
            return self.walker.form_bytes(body, charset or "utf-8")
        if ctype == TEXT:
            return self.walker.text_bytes(body, charset or "utf-8")
        raise UnsupportedContent("content type not redactable")

    def plan_request(
        self,
        *,
        query: Sequence[tuple[str, str]],
        headers: Sequence[tuple[str, str]],
        ctype: str,
        charset: str | None,
        body: bytes | None,
        path: str = "",
        scope: str | None = None,
    ) -> RequestPlan:
        """The path (after the route's prefix), the query, the headers to scan and the buffered
        body of a request: one plan, one detection call. A destination that does not redact
        requests gets them back unchanged."""
        parts = RequestParts(list(query), list(headers), body, path=path)
        plans: dict[str, Plan] = {}
        if self.redacts("request"):
            if path.strip("/"):
                plans["path"] = self.walker.path(path.split("/"))
            if query:
                plans["query"] = self.walker.query(parts.query)
            if headers:
                plans["headers"] = self.walker.headers(parts.headers)
            if body is not None and ctype:
                plans["body"] = self.plan_body(ctype, charset, body)
                if ctype == TEXT or charset is not None:
                    # what was scanned is forwarded, as UTF-8, and said so (never the client's
                    # charset over bytes that are no longer in it)
                    parts.content_type = f"{ctype}; charset=utf-8"
        for p in plans.values():
            p.default_scope = scope
        return RequestPlan(parts, plans)

    def plan_response(self, ctype: str, charset: str | None, body: bytes) -> Plan:
        """A buffered answer (``response_mode`` said ``buffer``)."""
        return self.plan_body(ctype, charset, body)

    def plan_headers(self, pairs: Sequence[tuple[str, str]]) -> Plan:
        """Header values to scan (the ``scan`` part of :meth:`split_headers`); renders pairs."""
        return self.walker.headers(pairs)

    def plan_message(self, data: str, scope: str | None = None) -> Plan:
        """A chat message: WebSocket text, SSE data. Renders a ``str``. ``scope``: the
        conversation the transport knows (pseudonyms), when the message names none."""
        plan = self.walker.message(data)
        plan.default_scope = scope
        return plan

    def plan_record(self, value: Any) -> Plan:
        """A log record (any JSON value): the destination's field rules."""
        return self.walker.json_value(value)

    def plan_line(self, line: bytes, scope: str | None = None) -> Plan:
        """One NDJSON line; renders bytes."""
        plan = self.walker.json_bytes(line)
        plan.default_scope = scope
        return plan

    def plan_text(self, text: str, path: str = "body", scope: str | None = None) -> Plan:
        plan = self.walker.text(text, path)
        plan.default_scope = scope
        return plan

    def finish_text(self, text: str, findings: Sequence[Finding], path: str = "body") -> tuple[str, list[AuditEvent]]:
        """A text without pseudonyms (see :meth:`plan_text` + :func:`run` for those)."""
        return self.policy.redact_text(text, findings, path)

    def explain(
        self, text: str, explain: Callable[[str], Sequence[tuple[Finding, str]]]
    ) -> list[dict[str, str | int | float | bool]]:
        """Each finding of ``text`` with the operator this destination would apply (``explain``
        is the detector's: findings with a value-free account of each). Never the value."""
        return [
            {
                "entity": f.entity,
                "start": f.start,
                "end": f.end,
                "score": f.score,
                "recognizer": f.recognizer,
                "operator": self.policy.operator_for(f.entity),
                "allow_listed": self.policy.allowed(text[f.start : f.end]),
                "why": why,
            }
            for f, why in explain(text)
        ]

    # ---- streams -------------------------------------------------------------------------------
    def stream(
        self,
        ctype: str,
        direction: Direction,
        detect: Detect,
        on_message: OnMessage,
        charset: str | None = None,
        scope: str | None = None,
    ) -> StreamRedactor:
        """The stream redactor for a body of ``ctype`` (NDJSON, SSE, or chunked text) in
        ``direction``: a pass-through when that direction is not redacted (an un-masker where
        the destination un-masks it). ``scope``: the conversation, for pseudonyms."""
        if not self.redacts(direction):
            return self.unmasker(ctype, charset) if self.unmasks(direction) else s.Passthrough()
        if ctype == NDJSON:
            return s.NdjsonRedactor(self, detect, on_message, scope)
        if ctype == SSE:
            return s.SseRedactor(self, detect, on_message, scope)
        if ctype == TEXT:  # an unknown charset is refused by the text stream itself
            return s.TextRedactor(self, detect, on_message, charset or "utf-8", scope)
        raise UnsupportedContent("content type not redactable as a stream")

    def messages(
        self, direction: Direction, detect: Detect, on_message: OnMessage, scope: str | None = None
    ) -> StreamRedactor:
        """WebSocket text messages, one whole message per ``feed`` (UTF-8 bytes in and out)."""
        if not self.redacts(direction):
            if self.unmasks(direction) and self.vault is not None:
                return u.MessageUnmasker(self.vault.reveal)
            return s.Passthrough()
        return s.MessageRedactor(self, detect, on_message, scope)

    def unmasker(self, ctype: str, charset: str | None = None) -> StreamRedactor:
        """Pseudonym tokens in a body of ``ctype`` replaced by their values, chunk by chunk (a
        token split across chunks is found whole); anything else passes as it is."""
        if self.vault is None or not u.unmaskable(ctype):
            return s.Passthrough()
        return u.StreamUnmasker(self.vault.reveal, json=ctype != TEXT, charset=charset or "utf-8")

    @functools.cached_property
    def rrweb(self) -> RrwebRedactor:
        """rrweb co-browse events of this destination (its ``cobrowse`` policy): plans per batch
        of events, WebSocket messages of one session (:mod:`proxy.redaction.rrweb`)."""
        return RrwebRedactor(self.policy)

    def passes_binary(self, direction: Direction, route_allows: bool) -> bool:
        """Binary WebSocket messages cannot be scanned: dropped in a redacted direction."""
        return route_allows and not self.redacts(direction)


class StreamRedactor(Protocol):
    """The one stream contract (httpx decoders, mitmproxy stream callables): ``feed`` a chunk,
    get the redacted bytes of every message it completed; ``flush`` at the end of the stream.
    ``held`` is how many bytes wait for the rest of their message.

    A bad or oversized message raises a :class:`~proxy.errors.RedactionError` whose
    ``partial`` holds the redacted messages before it (safe to forward); a detection failure
    raises the detection error (nothing of that chunk is forwarded)."""

    @property
    def held(self) -> int: ...

    async def feed(self, chunk: bytes) -> bytes: ...

    async def flush(self) -> bytes: ...
