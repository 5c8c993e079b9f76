"""Error responses a client sees. Messages name the problem, never a payload value."""

from __future__ import annotations

import json

from aiohttp import web

REASONS = {
    400: "bad_request",
    404: "no_route",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    502: "bad_gateway",
    503: "detection_unavailable",
    504: "upstream_timeout",
    507: "insufficient_storage",
}


class ProxyError(Exception):
    """Raised anywhere in the transport to answer with ``status`` and a safe ``message``."""

    def __init__(self, status: int, message: str, *, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or REASONS.get(status, "error")
        self.headers = headers or {}


def error_response(err: ProxyError, request_id: str) -> web.Response:
    body = {"error": {"status": err.status, "code": err.code, "message": err.message, "request_id": request_id}}
    return web.Response(
        status=err.status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        headers={"X-Request-Id": request_id, **err.headers},
    )
