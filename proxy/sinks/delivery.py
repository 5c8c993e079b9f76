"""The delivery loop of one sink in one worker: become the leader, then move records from the
head of the spool to the sink, in order, removing them only once the sink has them.

* Ordered: only the leader (the holder of the sink's flock) reads and removes records, always
  from the head; a failing batch is retried before anything after it is sent.
* At least once: records are removed after the sink took them (or after they were appended and
  fsync'd to the dead-letter file). A crash in between sends them again, with the same
  ``_record_id``.
* Retry: exponential back-off with jitter, from ``spool.retry_initial`` to ``spool.retry_max``
  (a longer ``Retry-After`` of the sink is honoured up to ``retry_max``).
* Rejected (HTTP 4xx other than 408/429, a JetStream refusal): the batch is retried in halves
  until the records the sink refuses stand alone; those go to ``dead-letter.ndjson`` so one bad
  record cannot block the queue (``split_rejected: false``, or a refusal of any record such as
  "no stream for the subject", dead-letters the whole rejected batch at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from proxy import metrics
from proxy.config import Spool as SpoolConfig
from proxy.sinks.forwarders import Forwarder, Outcome
from proxy.sinks.leader import LeaderLock
from proxy.sinks.spool import Depth, Spool, SpoolError, append_dead_letter

log = logging.getLogger("proxy.sinks")

T = TypeVar("T")

LOCK_RETRY = 1.0
METRICS_EVERY = 1.0


def backoff_delay(failures: int, initial: float, maximum: float, rng: Callable[[], float] = random.random) -> float:
    """Wait before retry number ``failures`` (1, 2, ...): exponential, capped, "equal jitter"
    (between half and all of the exponential step), so workers of several proxies spread out."""
    step: float = min(maximum, initial * 2.0 ** min(max(failures - 1, 0), 30))
    return step / 2 + rng() * step / 2


class Delivery:
    def __init__(
        self,
        name: str,
        spool_cfg: SpoolConfig,
        make_forwarder: Callable[[ThreadPoolExecutor], Forwarder],
        *,
        split_rejected: bool = True,
    ) -> None:
        self.name = name
        self.cfg = spool_cfg
        self.dir = Path(spool_cfg.dir)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"deliver-{name}")
        self.forwarder = make_forwarder(self._executor)
        self.split_rejected = split_rejected
        self.lock = LeaderLock(self.dir / f"forwarder-{name}.lock")
        self.spool: Spool | None = None
        self.limit = self.forwarder.batch_max
        self.failures = 0
        self.depth = Depth(0, 0, None)
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # ---- life -----------------------------------------------------------------------------------
    async def start(self) -> None:
        self.spool = await self._call(
            Spool, self.dir, self.cfg.max_bytes, busy_timeout=self.cfg.busy_timeout, durable=False
        )
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._run(), name=f"deliver-{self.name}"),
            loop.create_task(self._metrics(), name=f"spool-metrics-{self.name}"),
        ]

    async def close(self, grace: float = 3.0) -> None:
        """Stop after the batch in flight (waiting at most ``grace``); records not yet removed stay
        in the spool for the next run."""
        self._stop.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace)
            for t in pending:
                t.cancel()
            for t in self._tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
        with contextlib.suppress(Exception):
            await self.forwarder.close()
        if self.spool is not None:
            await self._call(self.spool.close)  # after whatever the thread was doing
        self._executor.shutdown(wait=True)
        if self.lock.held:
            self.lock.release()
            metrics.LOG_FORWARDER_LEADER.labels(self.name).set(0)

    def wake(self) -> None:
        """Records were just committed in this worker: no need to wait for the next poll."""
        self._wake.set()

    async def _call(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kw))

    async def _pause(self, seconds: float, wakeable: bool) -> None:
        waits = [self._stop.wait()] + ([self._wake.wait()] if wakeable else [])
        tasks = [asyncio.get_running_loop().create_task(w) for w in waits]
        try:
            await asyncio.wait(tasks, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            if wakeable:
                self._wake.clear()

    # ---- the loop -----------------------------------------------------------------------------------
    async def _run(self) -> None:
        while not self._stop.is_set():
            if not self.lock.held:
                try:
                    got = self.lock.try_acquire()
                except OSError as exc:
                    log.error("sink %s: cannot take the forwarder lock: %s", self.name, exc.strerror)
                    got = False
                if not got:
                    await self._pause(LOCK_RETRY, wakeable=False)
                    continue
                log.info("sink %s: this worker delivers it (%s)", self.name, self.forwarder.kind)
                metrics.LOG_FORWARDER_LEADER.labels(self.name).set(1)
            try:
                busy = await self.step()
            except SpoolError as exc:
                log.error("sink %s: %s", self.name, exc)
                await self._pause(self.cfg.retry_max, wakeable=False)
                continue
            except Exception as exc:  # never let the loop die: records would wait forever
                log.error("sink %s: delivery error %s; retrying", self.name, exc.__class__.__name__)
                await self._pause(self.cfg.retry_max, wakeable=False)
                continue
            if not busy:
                await self._pause(self.cfg.poll_interval, wakeable=True)

    async def step(self) -> bool:
        """Send one batch from the head of the spool; ``False`` when the spool is empty."""
        assert self.spool is not None
        rows = await self._call(self.spool.peek, self.name, self.limit, self.cfg.batch_max_bytes)
        if not rows:
            return False
        outcome = await self.forwarder.send(rows)
        if self._stop.is_set() and outcome.kind != "delivered":
            return True
        if outcome.kind == "delivered":
            await self._call(self.spool.ack, self.name, rows)
            metrics.LOG_RECORDS_DELIVERED.labels(self.name).inc(len(rows))
            if outcome.duplicates:
                metrics.LOG_RECORDS_DUPLICATES.labels(self.name).inc(outcome.duplicates)
            metrics.LOG_SINK_UP.labels(self.name).set(1)
            if self.failures:
                log.info("sink %s: delivering again after %d failed attempt(s)", self.name, self.failures)
            self.failures = 0
            self.limit = min(self.forwarder.batch_max, self.limit * 2)
            return True
        if outcome.kind == "rejected":
            metrics.LOG_SINK_UP.labels(self.name).set(1)
            if len(rows) > 1 and self.split_rejected and outcome.split:
                self.limit = max(1, len(rows) // 2)
                return True
            await self._call(
                append_dead_letter,
                self.dir / "dead-letter.ndjson",
                [r.body for r in rows],
                self.cfg.dead_letter.policy(),
            )
            await self._call(self.spool.ack, self.name, rows)
            metrics.LOG_RECORDS_DEAD_LETTERED.labels(self.name).inc(len(rows))
            log.warning(
                "sink %s rejected %d record(s) (%s): moved to dead-letter.ndjson", self.name, len(rows), outcome.reason
            )
            return True
        await self._retry_later(outcome, len(rows))
        return True

    async def _retry_later(self, outcome: Outcome, n: int) -> None:
        self.failures += 1
        metrics.LOG_RECORDS_RETRIED.labels(self.name, outcome.reason.split(" ")[0] or "error").inc(n)
        metrics.LOG_SINK_UP.labels(self.name).set(0)
        delay = backoff_delay(self.failures, self.cfg.retry_initial, self.cfg.retry_max)
        if outcome.retry_after is not None:
            delay = max(delay, min(outcome.retry_after, self.cfg.retry_max))
        if self.failures == 1 or self.failures % 20 == 0:
            log.warning(
                "sink %s: delivery failed (%s), attempt %d; records stay spooled, next try in %.1fs",
                self.name,
                outcome.reason,
                self.failures,
                delay,
            )
        await self._pause(delay, wakeable=False)

    # ---- gauges -------------------------------------------------------------------------------------
    async def _metrics(self) -> None:
        while not self._stop.is_set():
            if self.spool is not None:
                try:
                    self.depth = await self._call(self.spool.depth, self.name)
                except Exception as exc:
                    log.warning("sink %s: cannot read the spool depth: %s", self.name, exc.__class__.__name__)
                else:
                    d = self.depth
                    metrics.LOG_SPOOL_DEPTH.labels(self.name).set(d.records)
                    metrics.LOG_SPOOL_BYTES.labels(self.name).set(d.bytes)
                    age = max(0.0, time.time() - d.oldest) if d.oldest is not None else 0.0
                    metrics.LOG_SPOOL_OLDEST_AGE.labels(self.name).set(age)
            await self._pause(METRICS_EVERY, wakeable=False)
