"""Detection off the event loop, micro-batched.

Payloads from concurrent requests are gathered for at most ``window`` seconds (or until
``max_batch`` texts wait), handed to the detector in one call on its own thread, and the
findings are routed back to each caller. The loop never runs spaCy. A caller that waits longer
than the deadline gets :class:`DetectionTimeout` and must fail closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from proxy import metrics
from recognizers.types import DetectionError, Finding


class Analyzer(Protocol):
    def analyze_many(self, texts: Sequence[str]) -> list[list[Finding]]: ...


class DetectionTimeout(DetectionError):
    """Detection did not answer within the deadline."""


class DetectionService:
    def __init__(
        self,
        factory: Callable[[], Analyzer],
        *,
        window: float = 0.001,
        max_batch: int = 64,
        deadline: float = 2.0,
    ) -> None:
        self._factory = factory
        self.window = window
        self.max_batch = max_batch
        self.deadline = deadline
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="detect")
        self._pending: deque[tuple[Sequence[str], asyncio.Future[list[list[Finding]]]]] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.detector: Analyzer | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.detector = await loop.run_in_executor(self._executor, self._factory)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="detection-batcher")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _, fut in self._pending:
            if not fut.done():
                fut.set_exception(DetectionError("detection stopped"))
        self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def ready(self) -> bool:
        return self.detector is not None and self._task is not None and not self._task.done()

    async def analyze(self, texts: Sequence[str]) -> list[list[Finding]]:
        """Findings for ``texts``; raises DetectionError / DetectionTimeout (fail closed)."""
        if not texts:
            return []
        if not self.ready:
            raise DetectionError("detection is not running")
        fut: asyncio.Future[list[list[Finding]]] = asyncio.get_running_loop().create_future()
        self._pending.append((texts, fut))
        self._wakeup.set()
        start = time.perf_counter()
        try:
            return await asyncio.wait_for(fut, self.deadline)
        except TimeoutError:
            metrics.DETECTION_FAILURES.labels("deadline").inc()
            raise DetectionTimeout(f"detection exceeded its deadline of {self.deadline:g}s") from None
        finally:
            metrics.DETECTION_WAIT_SECONDS.observe(time.perf_counter() - start)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        busy = False  # did payloads arrive while the previous batch ran?
        while True:
            await self._wakeup.wait()
            # Under load, wait up to `window` for more payloads to share the batch; when the
            # detector was idle, a lone payload goes at once (no added latency at low rates).
            if busy and self.window > 0 and sum(len(t) for t, _ in self._pending) < self.max_batch:
                await asyncio.sleep(self.window)
            batch: list[tuple[Sequence[str], asyncio.Future[list[list[Finding]]]]] = []
            count = 0
            while self._pending and (not batch or count + len(self._pending[0][0]) <= self.max_batch):
                texts, fut = self._pending.popleft()
                if fut.done():  # its caller gave up (deadline): skip the work
                    continue
                batch.append((texts, fut))
                count += len(texts)
            if not self._pending:
                self._wakeup.clear()
            if not batch:
                continue
            flat = [t for texts, _ in batch for t in texts]
            started = time.perf_counter()
            try:
                assert self.detector is not None
                results = await loop.run_in_executor(self._executor, self.detector.analyze_many, flat)
                if len(results) != len(flat):
                    raise DetectionError("detector returned a wrong number of results")
            except Exception as exc:
                metrics.DETECTION_FAILURES.labels("error").inc()
                err = exc if isinstance(exc, DetectionError) else DetectionError(exc.__class__.__name__)
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(err)
                continue
            busy = bool(self._pending)
            metrics.DETECTION_SECONDS.observe(time.perf_counter() - started)
            metrics.BATCH_TEXTS.observe(len(flat))
            at = 0
            for texts, fut in batch:
                if not fut.done():
                    fut.set_result(results[at : at + len(texts)])
                at += len(texts)
