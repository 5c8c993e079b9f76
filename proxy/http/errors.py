"""The edge: every exception below the transport becomes an HTTP answer (or a WebSocket close
code) here, by one table, and nowhere else. Messages name the problem, never a payload value.

The exception tree is drawn in :mod:`proxy.errors`. :class:`ProxyError` is the transport's own:
an answer the transport decides itself (no route, wrong method, upstream unreachable).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, web

from proxy.errors import (
    DetectionError,
    DetectionTimeout,
    PayloadError,
    PolicyError,
    RedactionError,
    TooLarge,
    UnsupportedContent,
    VaultError,
    Withheld,
)
from proxy.sinks.spool import SpoolError, SpoolFull

__all__ = ["ANSWERS", "Answer", "ProxyError", "answer_for", "error_response", "ws_close_code"]


class ProxyError(Exception):
    """Raised by the transport to answer with ``status`` and a safe ``message``."""

    def __init__(self, status: int, message: str, *, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or REASONS.get(status, "error")
        self.headers = headers or {}


REASONS = {
    400: "bad_request",
    404: "no_route",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    451: "withheld",
    500: "internal",
    502: "bad_gateway",
    503: "detection_unavailable",
    504: "upstream_timeout",
    507: "insufficient_storage",
}


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    code: str
    #: None: the exception's own (value-free) message.
    message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


#: Exception class -> answer; the first class in this order that the exception is an instance of.
ANSWERS: tuple[tuple[type[BaseException], Answer], ...] = (
    (DetectionTimeout, Answer(503, "detection_timeout")),  # its own message: the deadline, value-free
    (DetectionError, Answer(503, "detection_failed", "detection failed; nothing was forwarded")),
    (TooLarge, Answer(413, "payload_too_large")),
    (Withheld, Answer(451, "withheld", "the policy withholds this message; nothing was forwarded")),
    (UnsupportedContent, Answer(415, "unsupported_media_type")),
    (PayloadError, Answer(400, "bad_request")),
    (PolicyError, Answer(500, "internal", "the policy cannot be applied; nothing was forwarded")),
    (RedactionError, Answer(400, "bad_request")),
    (VaultError, Answer(503, "vault_unavailable", "the pseudonym vault is unavailable; nothing was forwarded")),
    (SpoolFull, Answer(507, "spool_full", "the log spool is full; nothing of this request was accepted, retry later")),
    (
        SpoolError,
        Answer(503, "spool_unavailable", "the log spool is unavailable; nothing of this request was accepted"),
    ),
)


def answer_for(exc: BaseException, *, retry_after: float | None = None) -> ProxyError | None:
    """The answer for an exception of the core, detection or sinks (None: not ours: a bug).
    ``retry_after``: the ``Retry-After`` of a spool that is full or unavailable."""
    if isinstance(exc, ProxyError):
        return exc
    for cls, ans in ANSWERS:
        if isinstance(exc, cls):
            message = ans.message or (exc.message if isinstance(exc, RedactionError) else str(exc))
            headers = dict(ans.headers)
            if isinstance(exc, SpoolError) and retry_after is not None:
                headers["Retry-After"] = f"{retry_after:g}"
            return ProxyError(ans.status, message, code=ans.code, headers=headers)
    return None


def ws_close_code(exc: BaseException) -> int:
    """The WebSocket close code for a message that could not be redacted."""
    if isinstance(exc, TooLarge):
        return WSCloseCode.MESSAGE_TOO_BIG
    if isinstance(exc, RedactionError):
        return WSCloseCode.INVALID_TEXT
    return WSCloseCode.INTERNAL_ERROR


def error_response(err: ProxyError, request_id: str) -> web.Response:
    body = {"error": {"status": err.status, "code": err.code, "message": err.message, "request_id": request_id}}
    return web.Response(
        status=err.status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        headers={"X-Request-Id": request_id, **err.headers},
    )
