"""The admin port, served by the supervisor: one per proxy whatever the number of workers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, Protocol

from aiohttp import web


class Supervised(Protocol):
    metrics_dir: str
    #: Successful SIGHUP reloads so far (0 at start).
    loaded_generation: int
    reloads_refused: int

    def readiness(self) -> tuple[bool, dict[str, Any]]: ...

    def worker_pids(self) -> list[tuple[int, int]]: ...


SUPERVISOR = web.AppKey("supervisor", object)
DETECTION_CHILD = b"proxy.detection_child"
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def proc_stat(pid: int) -> tuple[int, float] | None:
    """``(parent pid, CPU seconds user + system)`` of a process from ``/proc/<pid>/stat``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = raw[raw.rindex(b")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _CLK_TCK


def proc_rss(pid: int) -> int | None:
    """Resident memory in bytes, from ``VmRSS`` in ``/proc/<pid>/status``."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def detection_children(parents: set[int]) -> dict[int, list[int]]:
    """The detection processes (``proxy.detection_child``) whose parent is one of ``parents``."""
    found: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:  # pragma: no cover - not Linux
        return found
    for name in entries:
        if not name.isdigit():
            continue
        pid = int(name)
        stat = proc_stat(pid)
        if stat is None or stat[0] not in parents:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if DETECTION_CHILD in argv:
            found.setdefault(stat[0], []).append(pid)
    return found


class SupervisorCollector:
    """What only the supervisor knows, read when /metrics is scraped: the config generation,
    refused reloads, and the memory and CPU of each worker and its detection process
    (prometheus_client's ProcessCollector does not work across processes in multiprocess mode)."""

    def __init__(self, sup: Supervised) -> None:
        self.sup = sup

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        sup = self.sup
        yield GaugeMetricFamily(
            "proxy_config_generation",
            "Config generation the workers serve: 1 at start, +1 per successful SIGHUP reload",
            value=sup.loaded_generation + 1,
        )
        yield CounterMetricFamily(
            "proxy_config_reloads_refused",
            "SIGHUP reloads refused (invalid config, key missing, a new worker failed): the old config kept serving",
            value=sup.reloads_refused,
        )
        rss = GaugeMetricFamily(
            "proxy_worker_resident_memory_bytes",
            "Resident memory of each worker process and of its detection process",
            labels=["worker", "process"],
        )
        cpu = CounterMetricFamily(
            "proxy_worker_cpu_seconds",
            "User + system CPU seconds of each worker process and of its detection process (restarts reset it)",
            labels=["worker", "process"],
        )
        workers = sup.worker_pids()
        children = detection_children({pid for _, pid in workers})
        for index, pid in workers:
            for kind, p in [("worker", pid), *(("detection", c) for c in children.get(pid, []))]:
                stat, mem = proc_stat(p), proc_rss(p)
                if stat is None or mem is None:
                    continue  # gone since
                rss.add_metric([str(index), kind], mem)
                cpu.add_metric([str(index), kind], stat[1])
        yield rss
        yield cpu


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    sup: Supervised = request.app[SUPERVISOR]  # type: ignore[assignment]
    ok, detail = sup.readiness()
    return web.json_response({"ready": ok, **detail}, status=200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

    sup: Supervised = request.app[SUPERVISOR]  # type: ignore[assignment]
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=sup.metrics_dir)
    registry.register(SupervisorCollector(sup))  # type: ignore[arg-type]
    body = generate_latest(registry)
    resp = web.Response(body=body)
    resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return resp


async def start_admin(sup: Supervised, host: str, port: int) -> web.AppRunner:
    app = web.Application()
    app[SUPERVISOR] = sup
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError:
        await runner.cleanup()
        raise
    return runner
