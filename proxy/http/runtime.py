"""What one worker holds for its whole life: config, policies, detection, audit, upstream pool."""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from proxy import metrics
from proxy.audit import AuditLog
from proxy.config import DEMO_ECHO, ProxyConfig, Route, pseudonym_key
from proxy.detection import DetectionService, DetectionTimeout
from proxy.http.errors import ProxyError
from proxy.policy import AuditEvent, Policy
from proxy.redaction import PayloadError, Plan, Redactor, finish_all
from recognizers.types import DetectionError

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


_RID_PREFIX = uuid.uuid4().hex[:12]  # unique per process (and per restart)
_RID_COUNTER = itertools.count(1)


def request_id(request: web.BaseRequest) -> str:
    """The caller's ``X-Request-Id`` when it is a safe token, else a new unique one."""
    given = request.headers.get("X-Request-Id", "")
    return given if _SAFE_ID.match(given) else f"{_RID_PREFIX}{next(_RID_COUNTER):08x}"


@dataclass
class Runtime:
    cfg: ProxyConfig
    detection: DetectionService
    audit: AuditLog
    policies: dict[str, Policy]
    redactors: dict[str, Redactor]
    session: aiohttp.ClientSession | None = None
    upstream_urls: dict[str, str] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)

    @classmethod
    def build(cls, cfg: ProxyConfig, detection: DetectionService) -> Runtime:
        key = pseudonym_key(cfg)
        policies = {name: Policy(name, d, key) for name, d in cfg.destinations.items() if _needed(cfg, name, key)}
        return cls(
            cfg=cfg,
            detection=detection,
            audit=AuditLog(cfg.audit.file if cfg.audit.enabled else None),
            policies=policies,
            redactors={n: Redactor(p) for n, p in policies.items()},
            upstream_urls={n: u.url for n, u in cfg.upstreams.items()},
            routes=sorted(cfg.routes, key=lambda r: len(r.path), reverse=True),
        )

    def route_for(self, path: str, websocket: bool) -> Route | None:
        for r in self.routes:
            base = r.path.rstrip("/")
            if path == base or path.startswith(base + "/") or (base == "" and path.startswith("/")):
                if r.kind == "websocket" and not websocket:
                    continue
                return r
        return None

    def upstream_url(self, route: Route, path: str) -> str:
        assert route.upstream is not None
        base = self.upstream_urls[route.upstream]
        tail = path[len(route.strip_prefix) :] if route.strip_prefix and path.startswith(route.strip_prefix) else path
        return base + tail

    def uses_demo_echo(self) -> bool:
        return any(u == DEMO_ECHO for u in self.upstream_urls.values())

    async def redact(self, plans: Sequence[Plan]) -> list[tuple[Any, list[AuditEvent]]]:
        """One detection call for all the plans of one payload; fail closed on any failure."""
        texts = [t for p in plans for t in p.texts]
        try:
            findings = await self.detection.analyze(texts)
            return finish_all(plans, findings)
        except DetectionTimeout as exc:
            raise ProxyError(503, str(exc), code="detection_timeout") from None
        except DetectionError:
            raise ProxyError(503, "detection failed; nothing was forwarded", code="detection_failed") from None
        except PayloadError as exc:
            raise ProxyError(400, str(exc)) from None

    def record(self, events: Iterable[AuditEvent], *, rid: str, destination: str, direction: str) -> None:
        events = list(events)
        if not events:
            return
        for e in events:
            metrics.count_finding(destination, e.entity or "-", e.operator)
        n = self.audit.write(events, request_id=rid, destination=destination, direction=direction)
        if n:
            metrics.AUDIT_RECORDS.inc(n)


def _needed(cfg: ProxyConfig, name: str, key: bytes | None) -> bool:
    """A destination that needs a key no route uses is skipped rather than refused."""
    if key is not None or not cfg.destinations[name].uses("hash"):
        return True
    return name in {r.destination for r in cfg.routes}
