"""Group commit: the requests of one worker that wait for the spool at the same moment share one
SQLite transaction (one fsync), each still all or nothing. Runs the spool on its own thread."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from proxy.config import Spool as SpoolConfig
from proxy.sinks.spool import Spool, SpoolError


class Committer:
    def __init__(self, cfg: SpoolConfig) -> None:
        self.cfg = cfg
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="spool-commit")
        self._pending: list[tuple[str, Sequence[bytes], asyncio.Future[None]]] = []
        self._inflight: list[tuple[str, Sequence[bytes], asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.spool: Spool | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        cfg = self.cfg
        self.spool = await loop.run_in_executor(
            self._executor, lambda: Spool(cfg.dir, cfg.max_bytes, busy_timeout=cfg.busy_timeout)
        )
        self._task = loop.create_task(self._run(), name="spool-commit")

    async def append(self, sink: str, bodies: Sequence[bytes]) -> None:
        """Returns once the records are committed (fsync'd); raises SpoolFull / SpoolError."""
        if self._task is None or self._task.done():
            raise SpoolError("the spool is closed")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((sink, bodies, fut))
        self._wake.set()
        await fut

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        spool = self.spool
        assert spool is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            self._inflight = batch
            if not batch:
                continue
            work = [(sink, bodies) for sink, bodies, _ in batch]
            try:
                results = await loop.run_in_executor(self._executor, spool.append_many, work)
            except SpoolError as exc:
                for _, _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, _, fut), result in zip(batch, results, strict=True):
                if fut.done():  # the client went away; its records are committed all the same
                    continue
                if result is None:
                    fut.set_result(None)
                else:
                    fut.set_exception(result)

    async def close(self) -> None:
        """Called once no request handler runs any more (aiohttp's cleanup order)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10.0
        while (self._pending or any(not f.done() for _, _, f in self._inflight)) and loop.time() < deadline:
            if self._task is None or self._task.done():
                break
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _, _, fut in self._pending + self._inflight:
            if not fut.done():
                fut.set_exception(SpoolError("the spool is closed"))
        if self.spool is not None:
            await loop.run_in_executor(self._executor, self.spool.close)
        self._executor.shutdown(wait=True)
