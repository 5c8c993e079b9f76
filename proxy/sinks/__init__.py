"""Log sinks: the durable spool and the forwarders (the ``POST /logs/`` handler that fills the
spool is transport: :mod:`proxy.http.logs`).

:class:`Sinks` opens the spool's committer (group commit, fsync) and, per sink, the delivery loop
(:mod:`proxy.sinks.delivery`) that, in the one worker of the proxy holding the sink's lock, moves
records from the spool to the sink. Only redacted records ever reach the spool, the dead-letter
file or the sink.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from pathlib import Path

from proxy import metrics
from proxy.config import LogIngestRoute, ProxyConfig, Sink
from proxy.sinks.commit import Committer
from proxy.sinks.delivery import Delivery
from proxy.sinks.forwarders import FileForwarder, Forwarder, HttpForwarder, SyslogForwarder
from proxy.sinks.spool import SpoolError

__all__ = ["Sinks", "start_sinks"]

log = logging.getLogger("proxy.sinks")


def forwarder_factory(sink: Sink) -> Callable[[Executor], Forwarder]:
    chosen = sink.chosen
    if chosen == "nats":
        from proxy.sinks.nats import NatsForwarder  # nats-py is loaded only where it is used

        return lambda _executor: NatsForwarder(sink.nats)
    if chosen == "http":
        return lambda _executor: HttpForwarder(sink.http)
    if chosen == "syslog":
        return lambda _executor: SyslogForwarder(sink.syslog)
    if chosen == "file":
        return lambda executor: FileForwarder(sink.file, executor)
    raise ValueError("the sink has no nats url, http url, syslog host or file path")


class Sinks:
    def __init__(self, cfg: ProxyConfig) -> None:
        self.cfg = cfg
        self.committer: Committer | None = None
        self.deliveries: dict[str, Delivery] = {}

    async def start(self) -> None:
        cfg = self.cfg
        names = sorted({r.sink for r in cfg.routes if isinstance(r, LogIngestRoute)})
        if not names:
            return
        try:
            Path(cfg.spool.dir).mkdir(parents=True, exist_ok=True, mode=0o700)
            self.committer = Committer(cfg.spool)
            await self.committer.start()
            for name in names:
                for counter in (
                    metrics.LOG_RECORDS_ACCEPTED,
                    metrics.LOG_RECORDS_REFUSED,
                    metrics.LOG_RECORDS_DELIVERED,
                    metrics.LOG_RECORDS_DEAD_LETTERED,
                    metrics.LOG_RECORDS_DUPLICATES,
                ):
                    counter.labels(name)  # the series exist (at 0) before the first record
                sink = cfg.sinks[name]
                split = sink.nats.split_rejected if sink.chosen == "nats" else sink.http.split_rejected
                d = Delivery(name, cfg.spool, forwarder_factory(sink), split_rejected=split)
                self.deliveries[name] = d
                await d.start()
        except (OSError, SpoolError) as exc:
            await self.close()
            raise RuntimeError(f"cannot open the log spool in {cfg.spool.dir}: {exc}") from None

    async def close(self) -> None:
        for d in self.deliveries.values():
            await d.close()
        if self.committer is not None:
            await self.committer.close()

    def spooled_bytes(self) -> int:
        return sum(d.depth.bytes for d in self.deliveries.values())


@contextlib.asynccontextmanager
async def start_sinks(cfg: ProxyConfig) -> AsyncIterator[Sinks]:
    sinks = Sinks(cfg)
    await sinks.start()
    try:
        yield sinks
    finally:
        await sinks.close()
