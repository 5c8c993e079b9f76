"""Detection off the event loop, micro-batched.

Payloads from concurrent requests are gathered while the previous batch runs (plus at most
``window`` seconds, 0 by default; at most ``max_batch`` texts), handed to the detector in one
call, and the findings are routed back to each caller. The loop never runs spaCy. A caller
that waits longer than the deadline gets :class:`DetectionTimeout` and must fail closed.

Cost bounds: each caller's payload has a *budget* of detector time (``timeouts.detection_budget``,
and never more than what is left of its deadline). The detector analyses long texts in bounded
windows, runs every Presidio regex with the budget left as its timeout, and checks budgets
between steps (:meth:`recognizers.engine.Detector.analyze_groups`): a payload past its budget
fails closed alone (its caller gets :class:`DetectionTimeout`), the other callers of the batch are
served, and the detector is free again at once: one pathological payload no longer pins it
until ``detection_kill``.

Where the detector runs is a *backend*:

- :class:`ProcessBackend` (the default, ``detection.isolation: process``): a child process per
  worker (:mod:`proxy.detection_child`). The event loop never waits for the GIL behind a batch,
  and a batch that overruns the deadline is stopped by killing the child, which is restarted.
- :class:`ThreadBackend` (``isolation: thread``): one thread in the worker. Less memory and no
  copying, but the loop shares the GIL with spaCy, and a runaway batch cannot be stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from proxy import metrics
from proxy.config import ProxyConfig
from proxy.detection_child import HEADER, MAX_FRAME, build_detector, encode_frame
from proxy.errors import DetectionError, DetectionTimeout
from recognizers.types import Finding

log = logging.getLogger("proxy.detection")


class Analyzer(Protocol):
    def analyze_many(self, texts: Sequence[str]) -> list[list[Finding]]: ...


#: Per caller of a batch: its findings (one list per text), or why it failed (its budget).
GroupAnswer = list[list[Finding]] | DetectionError


#: ``(name, supported entities, context words)`` of each recognizer of a detector.
Description = list[tuple[str, list[str], list[str]]]


class Backend(Protocol):
    """Runs one batch at a time; the service never overlaps two calls of ``run``."""

    # Optional: ``description``, the detector's recognizers once started
    # (:meth:`recognizers.engine.Detector.describe`; the Presidio face's ``/recognizers``).

    #: Called with False when the backend stops being able to serve, True when it can again.
    on_state: Callable[[bool], None] | None

    @property
    def ready(self) -> bool: ...

    async def start(self) -> None: ...

    async def run(self, texts: list[str]) -> list[list[Finding]]: ...

    # Optional: ``async def run_groups(groups, budgets) -> list[GroupAnswer]``, one group per
    # caller with its budget (seconds of detector time; None: unbounded). The service uses it
    # when the backend has it.

    async def close(self) -> None: ...


class ThreadBackend:
    """The detector on one thread of the worker process."""

    def __init__(self, factory: Callable[[], Analyzer]) -> None:
        self._factory = factory
        self.on_state: Callable[[bool], None] | None = None  # a thread is never restarted
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="detect")
        self.detector: Analyzer | None = None
        self.description: Description = []

    @property
    def ready(self) -> bool:
        return self.detector is not None

    async def start(self) -> None:
        self.detector = await asyncio.get_running_loop().run_in_executor(self._executor, self._factory)
        describe = getattr(self.detector, "describe", None)
        self.description = describe() if describe is not None else []

    async def run(self, texts: list[str]) -> list[list[Finding]]:
        assert self.detector is not None
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.detector.analyze_many, texts)

    async def run_groups(self, groups: list[list[str]], budgets: list[float | None]) -> list[GroupAnswer]:
        detector = self.detector
        assert detector is not None
        by_group = getattr(detector, "analyze_groups", None)
        if by_group is None:  # a detector without budgets (tests): the whole batch at once
            flat = await self.run([t for g in groups for t in g])
            return _split(flat, groups)
        answers = await asyncio.get_running_loop().run_in_executor(self._executor, by_group, groups, budgets)
        return [DetectionTimeout(a) if isinstance(a, str) else a for a in answers]

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class ProcessBackend:
    """The detector in a child process (:mod:`proxy.detection_child`), restarted when it dies
    or when a batch is abandoned half-way (kill limit, shutdown): its answer could no longer be
    told apart from the next one's, so the process goes with it."""

    def __init__(self, spec: dict[str, Any], *, start_timeout: float = 300.0) -> None:
        self.spec = spec
        self.start_timeout = start_timeout
        #: Called with False when the process is lost and True when a restarted one is ready.
        self.on_state: Callable[[bool], None] | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._restart: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._failures = 0  # consecutive failed starts, for back-off
        self._closed = False
        self.pid: int | None = None
        self.description: Description = []

    @property
    def ready(self) -> bool:
        return self._writer is not None

    async def start(self) -> None:
        """Start the child and wait until its model is loaded; raise DetectionError if it cannot."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "proxy.detection_child", "--fd", str(theirs.fileno()),
                "--parent", str(os.getpid()), pass_fds=(theirs.fileno(),), stdin=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        reader, writer = await asyncio.open_unix_connection(sock=ours, limit=2**16)
        try:
            async with asyncio.timeout(self.start_timeout):
                writer.write(encode_frame(self.spec))
                await writer.drain()
                answer = await _read_frame(reader)
        except BaseException as exc:
            writer.close()
            await _reap(proc)
            if isinstance(exc, (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError)):
                raise DetectionError(f"the detection process did not start ({exc.__class__.__name__})") from None
            raise
        if not (isinstance(answer, tuple) and answer and answer[0] == "ready"):
            writer.close()
            await _reap(proc)
            why = answer[1] if isinstance(answer, tuple) and len(answer) > 1 else "no answer"
            raise DetectionError(f"the detection process did not start: {why}")
        self._proc, self._reader, self._writer, self.pid = proc, reader, writer, proc.pid
        if len(answer) > 2 and isinstance(answer[2], list):
            self.description = [(str(n), list(e), list(c)) for n, e, c in answer[2]]
        self._failures = 0
        # An idle process that dies is noticed at once, not by the next batch's callers.
        self._watch = asyncio.get_running_loop().create_task(self._watch_exit(proc), name="detection-watch")
        log.info("detection process %d ready", proc.pid)

    async def run(self, texts: list[str]) -> list[list[Finding]]:
        body = await self._exchange(texts)
        return [[Finding(*f) for f in found] for found in body]

    async def run_groups(self, groups: list[list[str]], budgets: list[float | None]) -> list[GroupAnswer]:
        body = await self._exchange(("groups", budgets, groups))
        if not isinstance(body, list) or len(body) != len(groups):
            raise DetectionError("malformed answer from the detection process")
        return [
            DetectionTimeout(a) if isinstance(a, str) else [[Finding(*f) for f in found] for found in a] for a in body
        ]

    async def _exchange(self, frame: Any) -> Any:
        """Send one batch, return the body of its ``("ok", body)`` answer."""
        proc, reader, writer = self._proc, self._reader, self._writer
        if proc is None or reader is None or writer is None:
            raise DetectionError("the detection process is restarting")
        try:
            writer.write(encode_frame(frame))
            await writer.drain()
            answer = await _read_frame(reader)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            self._lost(proc, f"it went away ({exc.__class__.__name__})")
            raise DetectionError("the detection process exited") from None
        except asyncio.CancelledError:
            self._lost(proc, "a batch was abandoned (kill limit or shutdown)")
            raise
        if not isinstance(answer, tuple) or len(answer) != 2:
            self._lost(proc, "it sent a malformed answer")
            raise DetectionError("malformed answer from the detection process")
        status, body = answer
        if status != "ok":
            raise DetectionError(str(body))
        return body

    async def _watch_exit(self, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        self._lost(proc, f"it exited with status {code}")

    def _lost(self, proc: asyncio.subprocess.Process, why: str) -> None:
        """Drop ``proc`` (killing it if it still runs) and start a new one in the background;
        nothing to do if it was dropped already."""
        if proc is not self._proc:
            return
        writer = self._writer
        self._proc = self._reader = self._writer = None
        if writer is not None:
            writer.close()
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        if self._closed:
            return
        log.warning("detection process %d stopped: %s; restarting it", proc.pid, why)
        metrics.DETECTION_RESTARTS.inc()
        if self.on_state is not None:
            self.on_state(False)
        if self._restart is None or self._restart.done():
            self._restart = asyncio.get_running_loop().create_task(self._restart_loop(proc), name="detection-restart")

    async def _restart_loop(self, old: asyncio.subprocess.Process) -> None:
        await _reap(old)
        while not self._closed and self._writer is None:
            # at once after a loss; growing pauses only while starts keep failing
            if self._failures:
                await asyncio.sleep(min(30.0, 0.5 * 2 ** (self._failures - 1)))
            try:
                await self.start()
            except DetectionError as exc:
                self._failures += 1
                log.error("%s", exc)
            except Exception as exc:  # e.g. fork failed (EAGAIN, ENOMEM): keep trying
                self._failures += 1
                log.error("could not start the detection process: %s", exc.__class__.__name__)
        if self._writer is not None and self.on_state is not None:
            self.on_state(True)

    async def close(self) -> None:
        self._closed = True
        for task in (self._restart, self._watch):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        proc, writer = self._proc, self._writer
        self._proc = self._reader = self._writer = None
        if writer is not None:
            writer.close()  # the child exits at end of file
        if proc is not None:
            await _reap(proc, grace=5.0)


def _split(flat: list[list[Finding]], groups: list[list[str]]) -> list[GroupAnswer]:
    out: list[GroupAnswer] = []
    at = 0
    for g in groups:
        out.append(flat[at : at + len(g)])
        at += len(g)
    return out


async def _read_frame(reader: asyncio.StreamReader) -> Any:
    import marshal

    (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
    if size > MAX_FRAME:
        raise ValueError("frame too large")
    return marshal.loads(await reader.readexactly(size))


async def _reap(proc: asyncio.subprocess.Process, grace: float = 0.0) -> None:
    """Wait for the child to exit, killing it after ``grace`` seconds."""
    if grace:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), grace)
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


Pending = tuple[Sequence[str], "asyncio.Future[list[list[Finding]]]", float]


class DetectionService:
    def __init__(
        self,
        backend: Backend,
        *,
        window: float = 0.0,
        max_batch: int = 64,
        max_batch_chars: int = 65536,
        deadline: float = 2.0,
        kill_after: float | None = None,
        budget: float | None = None,
    ) -> None:
        self.backend = backend
        self.window = window
        self.max_batch = max_batch
        self.max_batch_chars = max_batch_chars
        #: How long a caller waits for its findings before it fails closed.
        self.deadline = deadline
        #: How long one batch may run before it is abandoned (the process backend kills its
        #: child): at least the deadline, so a large text that merely missed it is not killed.
        self.kill_after = max(deadline, kill_after or deadline)
        #: Detector time one caller's payload may use (never more than what is left of its
        #: deadline); past it, that caller alone gets DetectionTimeout. None: the deadline only.
        self.budget = budget
        #: (texts, future, when it was queued)
        self._pending: deque[Pending] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.backend.start()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="detection-batcher")

    async def close(self) -> None:
        # The backend first: a batch still in flight then ends as a failure, not as an
        # abandoned batch whose process would be "restarted" during shutdown.
        await self.backend.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _, fut, _ in self._pending:
            if not fut.done():
                fut.set_exception(DetectionError("detection stopped"))

    @property
    def ready(self) -> bool:
        return self.backend.ready and self._task is not None and not self._task.done()

    async def analyze(self, texts: Sequence[str]) -> list[list[Finding]]:
        """Findings for ``texts``; raises DetectionError / DetectionTimeout (fail closed)."""
        if not texts:
            return []
        if not self.ready:
            raise DetectionError("detection is not running")
        fut: asyncio.Future[list[list[Finding]]] = asyncio.get_running_loop().create_future()
        start = time.perf_counter()
        self._pending.append((texts, fut, start))
        self._wakeup.set()
        try:
            return await asyncio.wait_for(fut, self.deadline)
        except TimeoutError:
            metrics.DETECTION_FAILURES.labels("deadline").inc()
            raise DetectionTimeout(f"detection exceeded its deadline of {self.deadline:g}s") from None
        finally:
            metrics.DETECTION_WAIT_SECONDS.observe(time.perf_counter() - start)

    async def _run(self) -> None:
        busy = False  # did payloads arrive while the previous batch ran?
        while True:
            await self._wakeup.wait()
            # After a busy period, optionally wait up to `window` for more payloads; when the
            # detector was idle, a lone payload goes at once (no added latency at low rates).
            if busy and self.window > 0 and sum(len(t) for t, _, _ in self._pending) < self.max_batch:
                await asyncio.sleep(self.window)
            batch = self._take_batch()
            if not self._pending:
                self._wakeup.clear()
            if batch:
                busy = await self._run_batch(batch) and bool(self._pending)

    def _take_batch(self) -> list[Pending]:
        """The waiting payloads, oldest first, up to ``max_batch`` texts and ``max_batch_chars``
        characters (a payload larger than that goes alone)."""
        batch: list[Pending] = []
        count = chars = 0
        while self._pending:
            texts, fut, queued = self._pending[0]
            size = sum(len(t) for t in texts)
            if batch and (count + len(texts) > self.max_batch or chars + size > self.max_batch_chars):
                break
            self._pending.popleft()
            if fut.done():  # its caller gave up (deadline): skip the work
                continue
            batch.append((texts, fut, queued))
            count += len(texts)
            chars += size
        return batch

    async def _run_batch(self, batch: list[Pending]) -> bool:
        """Run one batch and hand each caller its findings; a caller past its budget fails
        alone, every other failure fails the whole batch closed. True when the batch ran."""
        flat = [t for texts, _, _ in batch for t in texts]
        started = time.perf_counter()
        run_groups = getattr(self.backend, "run_groups", None)
        try:
            # A batch that overruns `kill_after` is abandoned (the process backend kills and
            # restarts its child); its callers have had DetectionTimeout at their own deadline.
            if run_groups is not None:
                groups = [list(texts) for texts, _, _ in batch]
                budgets = [self._budget_of(queued, started) for _, _, queued in batch]
                answers = await asyncio.wait_for(run_groups(groups, budgets), self.kill_after)
                if len(answers) != len(batch) or any(
                    not isinstance(a, Exception) and len(a) != len(g) for a, g in zip(answers, groups, strict=True)
                ):
                    raise DetectionError("detector returned a wrong number of results")
            else:
                results = await asyncio.wait_for(self.backend.run(flat), self.kill_after)
                if len(results) != len(flat):
                    raise DetectionError("detector returned a wrong number of results")
                answers = _split(results, [list(texts) for texts, _, _ in batch])
            metrics.DETECTION_SECONDS.observe(time.perf_counter() - started)
            metrics.BATCH_TEXTS.observe(len(flat))
        except Exception as exc:
            if isinstance(exc, TimeoutError):
                err: DetectionError = DetectionTimeout(f"detection exceeded its deadline of {self.deadline:g}s")
                reason = "batch_killed"
            else:
                err = exc if isinstance(exc, DetectionError) else DetectionError(exc.__class__.__name__)
                reason = "error"
            for _, fut, _ in batch:
                if not fut.done():
                    fut.set_exception(err)
            with contextlib.suppress(Exception):  # metrics must never stop the batcher
                metrics.DETECTION_FAILURES.labels(reason).inc()
            return False
        for (_, fut, _), answer in zip(batch, answers, strict=True):
            if isinstance(answer, Exception):
                with contextlib.suppress(Exception):
                    metrics.DETECTION_FAILURES.labels("budget").inc()
                if not fut.done():
                    fut.set_exception(answer)
            elif not fut.done():
                fut.set_result(answer)
        return True

    def _budget_of(self, queued: float, now: float) -> float:
        """A caller's budget: ``budget``, but never past its deadline (a caller that has given up
        is not worth the detector's time)."""
        left = max(self.deadline - (now - queued), 0.001)
        return left if self.budget is None else min(self.budget, left)


# ---- the detector of a config ----------------------------------------------------------------
def detector_spec(cfg: ProxyConfig, *, freeze_rules: bool = True) -> dict[str, Any]:
    """What a detector is built from (plain data: it crosses to the detection process).

    ``freeze_rules``: read the recognizer file now, once, so that a restarted detection process
    uses the rules its worker validated at start or SIGHUP, not whatever the file holds by then."""
    d = cfg.detection
    path = cfg.recognizers_path()
    return {
        "model": d.model,
        "recognizers": str(path),
        "recognizers_text": path.read_text(encoding="utf-8") if freeze_rules else None,
        "ner_entities": dict(d.ner_entities),
        "score_thresholds": dict(d.score_thresholds),
        "budget": cfg.timeouts.detection_budget,
    }


def make_detector(cfg: ProxyConfig) -> Analyzer:
    """The config's detector, in this process (the CLI, tests, benchmarks, the thread backend)."""
    detector: Analyzer = build_detector(detector_spec(cfg, freeze_rules=False))
    return detector


def detection_backend(cfg: ProxyConfig) -> Backend:
    """Where this worker's detector runs (``detection.isolation``)."""
    if cfg.detection.isolation == "process":
        return ProcessBackend(detector_spec(cfg))
    return ThreadBackend(lambda: make_detector(cfg))
