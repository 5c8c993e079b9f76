"""Prometheus metrics. With several workers, ``serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` before
this module is imported, so every worker writes its samples there and the admin port (in the
supervisor) aggregates them. Labels carry route names, entity types and operators: never values.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("proxy_requests_total", "Requests handled, by route and status", ["route", "status"])
FINDINGS = Counter("proxy_findings_total", "PII findings and field decisions", ["destination", "entity", "operator"])
#: Children of the per-request counters by label values: ``labels()`` takes a lock and builds a
#: key on every call, which showed in the hot path's profile. Bounded: routes, destinations,
#: entity types and operators are configured, statuses < 600.
_CHILDREN: dict[tuple[Any, ...], Any] = {}


def _child(counter: Counter | Histogram, *labels: str) -> Any:
    key = (counter, *labels)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = counter.labels(*labels)
    return child


def count_request(route: str, status: int) -> None:
    _child(REQUESTS, route, str(status)).inc()


def count_finding(destination: str, entity: str, operator: str) -> None:
    _child(FINDINGS, destination, entity, operator).inc()


#: Latency buckets for a sidecar: from a millisecond (a 404, a cached path) to tens of seconds
#: (the upstream's 30 s total timeout, a long streamed answer).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
REQUEST_SECONDS = Histogram(
    "proxy_request_duration_seconds",
    "Time from a request's arrival to its answer being ready (streamed bodies: until the stream ends), by route",
    ["route"],
    buckets=LATENCY_BUCKETS,
)
UPSTREAM_SECONDS = Histogram(
    "proxy_upstream_duration_seconds",
    "Time from sending a request upstream to its response headers, by upstream",
    ["upstream"],
    buckets=LATENCY_BUCKETS,
)


#: The clock of the latency histograms (uvloop's ``loop.time()`` is cached per loop iteration, in ms).
now = time.perf_counter


def observe_request(route: str, status: int, seconds: float) -> None:
    """One answered request: ``route`` is the config route's path (``-`` when none), never the
    request's path."""
    _child(REQUESTS, route, str(status)).inc()
    _child(REQUEST_SECONDS, route).observe(seconds)


def observe_upstream(upstream: str, seconds: float) -> None:
    """One upstream exchange that got response headers; ``upstream`` is the config's name."""
    _child(UPSTREAM_SECONDS, upstream).observe(seconds)


DETECTION_SECONDS = Histogram(
    "proxy_detection_seconds",
    "Time of one detection batch, as the worker waits for it",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
)
DETECTION_WAIT_SECONDS = Histogram(
    "proxy_detection_wait_seconds",
    "Time a payload waited for its findings (queue + batch)",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
)
BATCH_TEXTS = Histogram(
    "proxy_detection_batch_texts", "Texts per detection batch", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 1024)
)
DETECTION_FAILURES = Counter("proxy_detection_failures_total", "Detection failures (fail closed)", ["reason"])
DETECTION_RESTARTS = Counter(
    "proxy_detection_restarts_total", "Detection processes restarted (crashed, or killed after a batch overran)"
)
UPSTREAM_ERRORS = Counter("proxy_upstream_errors_total", "Upstream errors", ["upstream", "kind"])
OPEN_STREAMS = Gauge("proxy_open_streams", "Streamed bodies in flight", ["kind"], multiprocess_mode="livesum")
OPEN_SOCKETS = Gauge("proxy_open_websockets", "WebSocket relays open", multiprocess_mode="livesum")
STREAM_MESSAGES = Counter("proxy_stream_messages_total", "Stream messages redacted", ["kind", "direction"])
BYTES_HELD = Gauge("proxy_stream_bytes_held", "Bytes held back by stream redactors", multiprocess_mode="livesum")
WITHHELD = Counter(
    "proxy_messages_withheld_total",
    "Messages the policy withheld (451 / WebSocket message dropped)",
    ["destination", "reason"],
)
AUDIT_RECORDS = Counter("proxy_audit_records_total", "Audit records written")
WORKER_UP = Gauge("proxy_worker_ready", "1 when this worker serves with its model loaded", multiprocess_mode="livesum")

# ---- log sinks (POST /logs/, the spool, the forwarders) ------------------------------------------
# Depth and age are read from the shared spool by every worker (the same value; "livemax" keeps one).
LOG_RECORDS_ACCEPTED = Counter("proxy_log_records_accepted_total", "Log records durably spooled (202)", ["sink"])
LOG_RECORDS_REFUSED = Counter(
    "proxy_log_records_refused_total", "Log records refused after redaction because the spool was full", ["sink"]
)
LOG_RECORDS_DELIVERED = Counter("proxy_log_records_delivered_total", "Log records the sink took", ["sink"])
LOG_RECORDS_RETRIED = Counter(
    "proxy_log_records_retried_total", "Log records in batches that failed and will be sent again", ["sink", "reason"]
)
LOG_RECORDS_DEAD_LETTERED = Counter(
    "proxy_log_records_dead_lettered_total", "Log records the sink rejected, moved to dead-letter.ndjson", ["sink"]
)
LOG_RECORDS_DUPLICATES = Counter(
    "proxy_log_records_duplicates_total",
    "Log records the sink already had (JetStream dropped them by Nats-Msg-Id: redeliveries)",
    ["sink"],
)
LOG_SPOOL_DEPTH = Gauge(
    "proxy_log_spool_depth_records", "Log records waiting in the spool", ["sink"], multiprocess_mode="livemax"
)
LOG_SPOOL_BYTES = Gauge(
    "proxy_log_spool_depth_bytes", "Bytes of log records waiting in the spool", ["sink"], multiprocess_mode="livemax"
)
LOG_SPOOL_OLDEST_AGE = Gauge(
    "proxy_log_spool_oldest_age_seconds",
    "Age of the oldest log record waiting in the spool (0 when empty)",
    ["sink"],
    multiprocess_mode="livemax",
)
LOG_SINK_UP = Gauge(
    "proxy_log_sink_up", "1 when the last delivery attempt to the sink worked", ["sink"], multiprocess_mode="livemax"
)
LOG_FORWARDER_LEADER = Gauge(
    "proxy_log_forwarder_leader", "Workers delivering the sink (1 expected)", ["sink"], multiprocess_mode="livesum"
)

# ---- the pseudonym vault (issue 15) ---------------------------------------------------------------
VAULT_OPERATIONS = Counter(
    "proxy_vault_operations_total", "Vault round-trips, by store, operation and outcome", ["store", "op", "outcome"]
)
VAULT_SECONDS = Histogram(
    "proxy_vault_duration_seconds",
    "Time of one vault round-trip (successful ones), by store and operation",
    ["store", "op"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
VAULT_TOKENS_ISSUED = Counter("proxy_vault_tokens_issued_total", "Pseudonym tokens issued (new persons in a scope)")
VAULT_UNMASK = Counter(
    "proxy_vault_unmask_total", "Tokens looked up to un-mask: hit (restored) or miss (unknown: left as is)", ["outcome"]
)
VAULT_ERASURES = Counter("proxy_vault_erasures_total", "Subject erasures (POST /subjects/erase, the erase command)")


def count_vault(store: str, op: str, outcome: str, seconds: float | None = None) -> None:
    _child(VAULT_OPERATIONS, store, op, outcome).inc()
    if seconds is not None:
        _child(VAULT_SECONDS, store, op).observe(seconds)
