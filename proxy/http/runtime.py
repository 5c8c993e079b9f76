"""What one worker holds for its whole life: config, one :class:`~proxy.redaction.Redaction` per
destination, detection, audit (:class:`Runtime`, immutable once built); and the upstream pool
(:class:`Upstreams`, opened and closed by the app's ``cleanup_ctx``)."""

from __future__ import annotations

import itertools
import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from proxy import metrics
from proxy.audit import AuditLog
from proxy.config import (
    DEMO_ECHO,
    HttpRoute,
    ProxyConfig,
    Route,
    WebSocketRoute,
    destinations_using_vault,
    pseudonym_key,
    vault_key,
)
from proxy.detection import DetectionService
from proxy.errors import Withheld
from proxy.policy import AuditEvent, Policy
from proxy.redaction import Detect, Limits, OnMessage, Redaction
from proxy.redaction.normalize import normalizing
from proxy.vault import Vault, open_vault
from proxy.yamlload import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Runtime", "Upstreams", "build_vault", "request_id"]

log = logging.getLogger("proxy.http")

#: A client's request id is taken only in a shape that cannot carry personal data: a UUID.
_SAFE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_RID_PREFIX = uuid.uuid4().hex[:12]  # unique per process (and per restart)
_RID_COUNTER = itertools.count(1)


def request_id(request: web.BaseRequest) -> str:
    """The caller's ``X-Request-Id`` when it is a UUID (lower-cased), else a new unique one:
    a request id is echoed in answers and written to logs and audit records."""
    given = request.headers.get("X-Request-Id", "").strip().lower()
    return given if _SAFE_ID.match(given) else f"{_RID_PREFIX}{next(_RID_COUNTER):08x}"


@dataclass(frozen=True, slots=True)
class Runtime:
    cfg: ProxyConfig
    detection: DetectionService
    audit: AuditLog
    redactions: Mapping[str, Redaction]
    #: Longest path first: the first match wins.
    routes: tuple[Route, ...]
    #: Detection as the core takes it: every text normalised first (odd separators inside
    #: numbers, escapes, invisible characters), findings mapped back to the original offsets
    #: (raises DetectionError / DetectionTimeout).
    detect: Detect
    #: The pseudonym vault, when a destination in use pseudonymises or un-masks (else None).
    vault: Vault | None = None

    @classmethod
    def build(cls, cfg: ProxyConfig, detection: DetectionService) -> Runtime:
        key = pseudonym_key(cfg)
        limits = Limits(cfg.limits.max_message_bytes, cfg.limits.stream_window_bytes)
        # Only the destinations a route uses: one that hashes without a key is refused by its
        # Policy (``serve`` refuses earlier, with the same rule: destinations_needing_key).
        used = {r.destination for r in cfg.routes}
        vault = build_vault(cfg)
        redactions = {
            name: Redaction(Policy(name, d, key), limits, vault if d.uses_vault() else None)
            for name, d in cfg.destinations.items()
            if name in used
        }
        return cls(
            cfg=cfg,
            detection=detection,
            audit=AuditLog(cfg.audit.file if cfg.audit.enabled else None, cfg.audit.retention.policy()),
            redactions=MappingProxyType(redactions),
            routes=tuple(sorted(cfg.routes, key=lambda r: len(r.path), reverse=True)),
            detect=normalizing(detection.analyze),
            vault=vault,
        )

    def route_for(self, path: str, websocket: bool) -> Route | None:
        for r in self.routes:
            base = r.path.rstrip("/")
            if path == base or path.startswith(base + "/") or (base == "" and path.startswith("/")):
                if r.kind == "websocket" and not websocket:
                    continue
                return r
        return None

    def record(self, events: Iterable[AuditEvent], *, rid: str, destination: str, direction: str) -> None:
        events = list(events)
        if not events:
            return
        for e in events:
            metrics.count_finding(destination, e.entity or "-", e.operator)
            if e.operator == "withhold":
                metrics.WITHHELD.labels(destination, e.reason or "-").inc()
        n = self.audit.write(events, request_id=rid, destination=destination, direction=direction)
        if n:
            metrics.AUDIT_RECORDS.inc(n)

    def withheld(self, exc: Withheld, *, rid: str, destination: str, direction: str) -> None:
        """Audit and count a message the policy withheld (the event names the configured field
        and the reason, never the value)."""
        self.record(
            [AuditEvent(exc.path, "withhold", reason=exc.reason)], rid=rid, destination=destination, direction=direction
        )

    def on_message(self, *, rid: str, destination: str, direction: str, kind: str) -> OnMessage:
        """What a stream redactor calls per message: count it, record its decisions."""
        counter = metrics.STREAM_MESSAGES.labels(kind, direction)

        def done(events: list[AuditEvent]) -> None:
            counter.inc()
            self.record(events, rid=rid, destination=destination, direction=direction)

        return done


def build_vault(cfg: ProxyConfig) -> Vault | None:
    """The vault of a config whose destinations in use pseudonymise or un-mask (None when none
    does); ConfigError when its keys are missing or malformed (``serve`` refuses earlier)."""
    if not destinations_using_vault(cfg):
        return None
    index_key, seal_key = pseudonym_key(cfg), vault_key(cfg)
    if index_key is None or seal_key is None:
        raise ConfigError([f"the vault needs {cfg.secrets.pseudonym_key_env} and {cfg.secrets.vault_key_env}"])
    return open_vault(cfg, index_key, seal_key)


class Upstreams:
    """The shared client session and the base URL of each upstream (the demo echo upstream is
    started here when a URL says ``demo:echo``)."""

    def __init__(self, cfg: ProxyConfig) -> None:
        self._cfg = cfg
        self._urls = {n: u.url for n, u in cfg.upstreams.items()}
        self._session: aiohttp.ClientSession | None = None
        self._echo: web.AppRunner | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("the upstream session is not open")
        return self._session

    @staticmethod
    def tail(route: HttpRoute | WebSocketRoute, path: str) -> str:
        """The part of a request's (decoded) path that goes upstream: after ``strip_prefix``."""
        strip = route.strip_prefix
        return path[len(strip) :] if strip and path.startswith(strip) else path

    def url(self, route: HttpRoute | WebSocketRoute, tail: str) -> str:
        """The upstream URL for a (redacted) path tail."""
        return self._urls[route.upstream] + tail

    async def start(self) -> None:
        t = self._cfg.timeouts
        self._session = aiohttp.ClientSession(
            # The total per exchange is applied by the forwarder (streams may outlive it);
            # here: connecting, and the longest silence while reading.
            timeout=aiohttp.ClientTimeout(total=None, connect=t.upstream_connect, sock_read=t.upstream_total),
            auto_decompress=False,
            connector=aiohttp.TCPConnector(limit=0, limit_per_host=256, keepalive_timeout=30),
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
            # One session serves every visitor: a cookie the partner sets for one visitor must never
            # be stored and sent with another's request (aiohttp's default jar would do just that).
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        if DEMO_ECHO in self._urls.values():
            from proxy.http.echo import start_echo

            self._echo, url = await start_echo()
            self._urls = {k: (url if v == DEMO_ECHO else v) for k, v in self._urls.items()}
            log.info("no upstream URL set: /chat/ goes to the built-in demo echo upstream")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._echo is not None:
            await self._echo.cleanup()
