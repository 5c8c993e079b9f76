"""The NATS JetStream forwarder: one JetStream message per record, a batch delivered only once
JetStream acknowledged every message of it.

* Each record is published on ``subject`` with the header ``Nats-Msg-Id: <_record_id>`` and the
  expected stream (``Nats-Expected-Stream``): JetStream drops a message whose id it stored within
  the stream's ``duplicate_window`` (the ack says ``duplicate``), so a batch sent again after a
  lost acknowledgement, a time-out or a proxy crash is stored once. A redelivery *later* than the
  window is stored again, with the same ``_record_id`` (consumers can still drop it by that id).
* A batch is pipelined (every message written, then every acknowledgement awaited) on one
  connection that never reconnects by itself: a connection that drops fails the batch, the next
  attempt opens a new one. NATS keeps the order of one connection's messages, so what JetStream
  stored of a failed batch is a prefix of it, and the retry (de-duplicated) continues in order.
* Stream missing: created (file storage, bound to ``subject``, ``duplicate_window``) when
  ``create_stream`` says so, at the first connection and whenever a publish finds no stream.

Outcomes (the delivery loop owns retries, back-off and the dead-letter file):

=================================================================  ==========================
connect / TLS / auth failure, connection lost, ack time-out          retry
JetStream 5xx (503 stream full with ``discard: new``, 500), 408/429  retry
JetStream unavailable (no responders and the stream cannot be read)  retry
no stream for the subject and ``create_stream: false``; the stream   rejected, whole batch
exists but does not take the subject; the subject belongs to         (dead-letter, no split:
another stream (400, err 10060)                                      no record would pass)
a message JetStream or the client refuses alone (400 err 10054      rejected, split in halves
"message size exceeds maximum allowed", over ``max_payload``);       until it stands alone
any other 4xx of JetStream                                           (as HTTP 4xx)
=================================================================  ==========================
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import ssl
from collections.abc import Sequence
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig

from proxy.config import NatsSink
from proxy.sinks.forwarders import Outcome
from proxy.sinks.records import record_id_of
from proxy.sinks.spool import Row

__all__ = ["MSG_ID", "NatsForwarder", "classify_publish_error", "message_id", "parse_ack"]

log = logging.getLogger("proxy.sinks")

MSG_ID = "Nats-Msg-Id"
EXPECTED_STREAM = "Nats-Expected-Stream"
STATUS = "Status"
NO_RESPONDERS = "503"
_ID_KEY = b'"_record_id":"'

#: JetStream error codes (``err_code``) with a fixed meaning here.
ERR_MESSAGE_TOO_LARGE = 10054
ERR_STREAM_NOT_FOUND = 10059
ERR_STREAM_MISMATCH = 10060


def message_id(body: bytes) -> str:
    """The ``_record_id`` of an encoded record: ``encode_record`` writes it last, so it is read
    from the tail without parsing the record; anything else falls back to a JSON parse, and a
    body without one to a hash of the body (stable across redeliveries too)."""
    if body.endswith(b'"}'):
        at = body.rfind(_ID_KEY)
        if at >= 0:
            rid = body[at + len(_ID_KEY) : -2]
            if rid and b'"' not in rid and b"\\" not in rid:
                return rid.decode("ascii", "replace")
    return record_id_of(body) or "sha256-" + hashlib.sha256(body).hexdigest()


def classify_publish_error(exc: BaseException) -> Outcome:
    """What one failed publish means for its batch (``split``: whether fewer records could pass)."""
    if isinstance(exc, nats.js.errors.APIError):
        code, err = exc.code or 0, exc.err_code or 0
        reason = f"jetstream {code} {err}".strip()
        if code >= 500 or code in (408, 429) or code == 0:
            return Outcome("retry", reason)
        if err in (ERR_STREAM_MISMATCH, ERR_STREAM_NOT_FOUND):
            return Outcome("rejected", reason, split=False)
        return Outcome("rejected", reason)  # 10054 (too large) and other 4xx: per message
    if isinstance(exc, nats.errors.MaxPayloadError):
        return Outcome("rejected", "max-payload")
    if isinstance(exc, nats.js.errors.NoStreamResponseError):
        return Outcome("rejected", "no-stream", split=False)  # resolved by the caller (stream check)
    if isinstance(exc, TimeoutError | nats.errors.TimeoutError):
        return Outcome("retry", "timeout")
    return Outcome("retry", "connection-lost")


def parse_ack(msg: Msg) -> BaseException | bool:
    """A JetStream publish answer: ``True``/``False`` (stored; whether as a duplicate) or the error."""
    if msg.headers and msg.headers.get(STATUS) == NO_RESPONDERS:
        return nats.js.errors.NoStreamResponseError()
    try:
        resp = json.loads(msg.data)
    except ValueError:
        return nats.js.errors.APIError(code=500, description="unreadable publish acknowledgement")
    if not isinstance(resp, dict):
        return nats.js.errors.APIError(code=500, description="unreadable publish acknowledgement")
    err = resp.get("error")
    if isinstance(err, dict):
        try:
            nats.js.errors.APIError.from_error(err)  # raises the class of its code
        except nats.js.errors.APIError as exc:
            return exc
        except (TypeError, KeyError):
            pass
        return nats.js.errors.APIError(code=500, description="unreadable publish acknowledgement")
    return bool(resp.get("duplicate", False))


def tls_context(cfg: NatsSink) -> ssl.SSLContext | None:
    wants = cfg.tls.enabled or any(u.strip().startswith("tls://") for u in cfg.url.split(","))
    if not wants:
        return None
    ctx = ssl.create_default_context(cafile=cfg.tls.ca_file or None)
    if cfg.tls.cert_file:
        ctx.load_cert_chain(cfg.tls.cert_file, cfg.tls.key_file or None)
    return ctx


class NatsForwarder:
    kind = "nats"

    def __init__(self, cfg: NatsSink) -> None:
        self.cfg = cfg
        self.servers = [u.strip() for u in cfg.url.split(",") if u.strip()]
        self.subject = cfg.subject
        self.stream = cfg.stream
        self.batch_max = cfg.batch_max
        self.timeout = cfg.timeout
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._lost = asyncio.Event()
        self._stream_checked = False
        self._inbox = ""
        self._batch_no = 0
        self._results: list[BaseException | bool | None] = []
        self._waiting = 0
        self._all_in = asyncio.Event()

    # ---- connection ------------------------------------------------------------------------------
    async def _on_error(self, exc: Exception) -> None:
        log.debug("nats sink: %s", exc.__class__.__name__)  # never the URL (it may hold a password)

    async def _connect(self) -> JetStreamContext:
        nc = self._nc
        if nc is not None and nc.is_connected and not self._lost.is_set() and self._js is not None:
            return self._js
        await self._drop()
        lost = self._lost = asyncio.Event()  # this connection's: a late callback of an old one
        # (its close runs after a new one is open) must not fail the new one's batches

        async def on_lost() -> None:
            lost.set()

        options: dict[str, Any] = {
            "servers": self.servers,
            "name": "pii-proxy",
            "allow_reconnect": False,  # a dropped connection fails the batch; see the module doc
            # at connect, nats-py tries each server until it failed more than this many times
            # (0 would mean: forever); the delivery loop's back-off does the rest
            "max_reconnect_attempts": 1,
            "reconnect_time_wait": 0.1,
            "connect_timeout": self.timeout,
            "error_cb": self._on_error,
            "disconnected_cb": on_lost,
            "closed_cb": on_lost,
        }
        tls = tls_context(self.cfg)
        if tls is not None:
            options["tls"] = tls
        if self.cfg.credentials:
            options["user_credentials"] = self.cfg.credentials
        self._nc = await asyncio.wait_for(nats.connect(**options), self.timeout + 1)
        self._js = self._nc.jetstream(timeout=self.timeout)
        self._inbox = self._nc.new_inbox()
        await self._nc.subscribe(self._inbox + ".>", cb=self._on_ack)
        if self.cfg.create_stream and not self._stream_checked:
            await self._ensure_stream(self._js)
        return self._js

    async def _ensure_stream(self, js: JetStreamContext) -> bool:
        """Create the stream when it is missing; ``True`` when it exists (now)."""
        try:
            await js.stream_info(self.stream)
            self._stream_checked = True
            return True
        except nats.js.errors.NotFoundError:
            pass
        config = StreamConfig(
            name=self.stream,
            subjects=[self.subject],
            storage=StorageType.FILE,
            duplicate_window=self.cfg.duplicate_window,
        )
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError as exc:
            # Another sidecar created it a moment ago (10058: use theirs), or another stream
            # already takes the subject (10065): the publishes say what happens to the records.
            log.warning("nats sink: cannot create stream %s (err %s: %s)", self.stream, exc.err_code, exc.description)
            self._stream_checked = True
            return False
        log.info("nats sink: created stream %s for subject %s", self.stream, self.subject)
        self._stream_checked = True
        return True

    async def _drop(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), 2.0)

    # ---- one batch ---------------------------------------------------------------------------------
    # Pipelined by hand on core NATS (nats-py's ``publish_async`` never settles the future of a
    # message JetStream refuses: its reply handler raises the error instead of setting it).
    async def _on_ack(self, msg: Msg) -> None:
        try:
            batch, index = (int(t) for t in msg.subject.rsplit(".", 2)[-2:])
        except ValueError:
            return
        results = self._results
        if batch != self._batch_no or not 0 <= index < len(results) or results[index] is not None:
            return  # a late answer to a batch already judged
        results[index] = parse_ack(msg)
        self._waiting -= 1
        if self._waiting == 0:
            self._all_in.set()

    async def send(self, rows: Sequence[Row]) -> Outcome:
        try:
            js = await self._connect()
        except TimeoutError:
            await self._drop()
            return Outcome("retry", "connect-timeout")
        except ssl.SSLError:
            await self._drop()
            return Outcome("retry", "connect-tls")
        except (OSError, nats.errors.Error) as exc:
            await self._drop()
            if isinstance(exc, nats.js.errors.APIError):
                return Outcome("retry", "jetstream-unavailable")
            return Outcome("retry", f"connect {exc.__class__.__name__}")
        nc = self._nc
        assert nc is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        self._batch_no += 1
        self._results = [None] * len(rows)
        self._waiting = len(rows)
        self._all_in = all_in = asyncio.Event()
        prefix = f"{self._inbox}.{self._batch_no}."
        try:
            for i, r in enumerate(rows):
                headers = {MSG_ID: message_id(r.body), EXPECTED_STREAM: self.stream}
                await nc.publish(self.subject, r.body, reply=prefix + str(i), headers=headers)
        except nats.errors.MaxPayloadError:
            # the record at index i is over the server's max_payload: the split isolates it
            self._batch_no += 1  # the answers of what went out are not waited for
            return Outcome("rejected", "max-payload")
        except (OSError, nats.errors.Error) as exc:
            await self._drop()
            return Outcome("retry", classify_publish_error(exc).reason)
        waits = [loop.create_task(all_in.wait()), loop.create_task(self._lost.wait())]
        try:
            await asyncio.wait(waits, timeout=max(0.0, deadline - loop.time()), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in waits:
                t.cancel()
        if not all_in.is_set():
            self._batch_no += 1
            lost = self._lost.is_set()
            await self._drop()
            return Outcome("retry", "connection-lost" if lost else "ack-timeout")
        return await self._judge(js, list(self._results))

    async def _judge(self, js: JetStreamContext, results: list[BaseException | bool | None]) -> Outcome:
        duplicates = 0
        worst: Outcome | None = None
        for res in results:
            if not isinstance(res, BaseException):
                duplicates += bool(res)
                continue
            outcome = classify_publish_error(res)
            if isinstance(res, nats.js.errors.NoStreamResponseError):
                outcome = await self._no_stream(js)
            if outcome.kind == "retry":
                worst = outcome
                break
            if worst is None or (worst.split and not outcome.split):
                worst = outcome
        if worst is None:
            return Outcome("delivered", duplicates=duplicates)
        if worst.kind == "retry":
            await self._drop()
        return worst

    async def _no_stream(self, js: JetStreamContext) -> Outcome:
        """No stream answered a publish: is the stream missing, not bound to the subject, or is
        JetStream unavailable for now?"""
        try:
            info = await js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            if not self.cfg.create_stream:
                return Outcome("rejected", "no-stream", split=False)
            self._stream_checked = False
            try:
                await self._ensure_stream(js)
            except (OSError, nats.errors.Error):
                return Outcome("retry", "jetstream-unavailable")
            return Outcome("retry", "stream-created", retry_after=0.0)
        except (OSError, nats.errors.Error):
            return Outcome("retry", "jetstream-unavailable")
        subjects = info.config.subjects or []
        if not any(_subject_matches(s, self.subject) for s in subjects):
            return Outcome("rejected", "subject-not-bound", split=False)
        return Outcome("retry", "no-responders")

    async def close(self) -> None:
        await self._drop()


def _subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` one token, ``>`` the rest."""
    p, s = pattern.split("."), subject.split(".")
    for i, tok in enumerate(p):
        if tok == ">":
            return len(s) > i
        if i >= len(s) or (tok != "*" and tok != s[i]):
            return False
    return len(p) == len(s)
