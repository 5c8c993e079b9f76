"""``serve``: a small supervisor, N worker processes sharing the port, one admin port.

Why not gunicorn's ``GunicornUVLoopWebWorker``: the admin port must answer for all workers from
one place (``/readyz`` = every worker has its model loaded; ``/metrics`` aggregated), and a
SIGHUP must validate the new config *before* touching any worker and keep the old workers
serving when it is invalid or when a new worker fails to load it. Gunicorn's master runs no
event loop for an admin app, and a worker that fails to boot after a reload halts its arbiter.
The supervisor here does exactly what we need and no more:

* workers bind the same port with ``SO_REUSEPORT`` (the kernel spreads connections) and write a
  ready file once their model is loaded and their socket listens;
* a worker that dies is restarted (with back-off);
* SIGHUP: validate, then replace workers one by one, each new one ready before its old one
  drains; an invalid config or a new worker that fails keeps the old ones serving;
* SIGTERM/SIGINT: every worker drains its in-flight requests, then the supervisor exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proxy.checks import config_problems, usable_cpus
from proxy.config import ProxyConfig, load_config
from proxy.yamlload import ConfigError

log = logging.getLogger("proxy.serve")

READY_TIMEOUT = 180.0


def _install_uvloop() -> None:
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover - uvloop is a locked dependency
        log.warning("uvloop not available; using asyncio's default loop")


def missing_key(cfg: ProxyConfig) -> list[str]:
    """The destinations in use that hash values while the pseudonym key's variable is unset:
    ``serve`` refuses to start then, and ``check-config`` warns."""
    need = cfg.destinations_needing_key()
    return need if need and not os.environ.get(cfg.secrets.pseudonym_key_env) else []


def _refusal(cfg: ProxyConfig) -> str | None:
    from proxy.vault import key_problem

    need = missing_key(cfg)
    if need:
        return (
            f"refusing to start: destination(s) {', '.join(need)} hash values with a keyed hash, "
            f"but {cfg.secrets.pseudonym_key_env} is not set"
        )
    vault = key_problem(cfg)
    return f"refusing to start: {vault[0]}" if vault else None


def serve(args: argparse.Namespace) -> int:
    problems = config_problems(args.config)
    if problems:
        for p in problems:
            print(p, file=sys.stderr)
        print("refusing to start: the config is invalid", file=sys.stderr)
        return 2
    cfg = load_config(args.config)
    refusal = _refusal(cfg)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    workers = args.workers if args.workers is not None else usable_cpus()
    if workers < 1:
        print("--workers must be at least 1", file=sys.stderr)
        return 2
    host = args.host or cfg.listen.host
    port = args.port if args.port is not None else cfg.listen.port
    admin_port = args.admin_port if args.admin_port is not None else cfg.listen.admin_port
    if port == 0:
        print("--port must be a fixed port (workers share it)", file=sys.stderr)
        return 2
    if cfg.presidio.port is not None and cfg.presidio.port in (port, admin_port):
        # both listeners bind with SO_REUSEPORT: the kernel would split one port's connections
        print("the Presidio face's port (PRESIDIO_PORT) must differ from --port and --admin-port", file=sys.stderr)
        return 2
    own_dir = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="proxy-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    _install_uvloop()
    sup = Supervisor(args.config, host, port, cfg.listen.admin_host, admin_port, workers, metrics_dir, cfg)
    try:
        return asyncio.run(sup.run())
    finally:
        if own_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


@dataclass
class Worker:
    index: int
    proc: subprocess.Popen[bytes]
    ready_file: Path
    generation: int
    stopping: bool = False
    started: float = field(default_factory=time.monotonic)

    @property
    def ready(self) -> bool:
        return self.proc.poll() is None and self.ready_file.exists()


class Supervisor:
    def __init__(
        self,
        config_path: str,
        host: str,
        port: int,
        admin_host: str,
        admin_port: int,
        n: int,
        metrics_dir: str,
        cfg: ProxyConfig,
    ) -> None:
        self.config_path = config_path
        self.host, self.port = host, port
        self.admin_host, self.admin_port = admin_host, admin_port
        self.n = n
        self.metrics_dir = metrics_dir
        self.cfg = cfg
        self.run_dir = Path(tempfile.mkdtemp(prefix="proxy-run-"))
        self.workers: dict[int, Worker] = {}
        self.generation = 0
        #: The generation every worker runs: bumped only when a reload has fully succeeded.
        self.loaded_generation = 0
        self.stopping = False
        self.reloading = False
        #: Set once every first worker is ready and dead workers are restarted: /readyz says
        #: ready only from then on (before it, a worker that dies makes the proxy refuse to serve).
        self.started = False
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.restarts = 0
        #: SIGHUPs whose config was refused (invalid, key missing, a new worker failed to start).
        self.reloads_refused = 0

    # ---- workers -------------------------------------------------------------------------
    def _spawn(self, index: int) -> Worker:
        ready = self.run_dir / f"ready-{index}-{self.generation}-{time.monotonic_ns()}"
        cmd = [
            sys.executable, "-m", "proxy", "_worker", "--config", self.config_path,
            "--host", self.host, "--port", str(self.port), "--ready-file", str(ready), "--index", str(index),
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
        log.info("worker %d started (pid %d)", index, proc.pid)
        return Worker(index, proc, ready, self.generation)

    async def _wait_ready(self, w: Worker, timeout: float = READY_TIMEOUT) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if w.proc.poll() is not None:
                return False
            if w.ready_file.exists():
                return True
            await asyncio.sleep(0.05)
        return False

    async def _stop_worker(self, w: Worker) -> None:
        w.stopping = True
        if w.proc.poll() is None:
            w.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.cfg.timeouts.drain + 5
        while w.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if w.proc.poll() is None:
            log.warning("worker %d (pid %d) did not drain in time: killing it", w.index, w.proc.pid)
            w.proc.kill()
            w.proc.wait()
        self._dead(w)

    def _dead(self, w: Worker) -> None:
        with contextlib.suppress(FileNotFoundError):
            w.ready_file.unlink()
        try:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(w.proc.pid, self.metrics_dir)
        except Exception:  # pragma: no cover - metrics housekeeping only
            pass

    async def _watch(self) -> None:
        """Restart workers that die on their own."""
        backoff: dict[int, float] = {}
        while not self.stopping:
            await asyncio.sleep(0.2)
            if self.reloading:
                continue  # a reload replaces every worker anyway, dead ones included
            for index, w in list(self.workers.items()):
                if w.stopping or w.proc.poll() is None:
                    continue
                code = w.proc.returncode
                self._dead(w)
                if self.stopping:
                    break
                delay = backoff.get(index, 0.5)
                log.error("worker %d (pid %d) exited with %s: restarting in %.1fs", index, w.proc.pid, code, delay)
                w.stopping = True
                await asyncio.sleep(delay)
                if self.stopping:
                    break
                backoff[index] = min(delay * 2, 30.0) if time.monotonic() - w.started < 60 else 0.5
                self.workers[index] = self._spawn(index)
                self.restarts += 1

    # ---- reload --------------------------------------------------------------------------
    async def reload(self) -> bool:
        if self.reloading or self.stopping:
            return False
        self.reloading = True
        try:
            # off the supervisor's loop: checking ops rules times their regexes (seconds for a bad one),
            # and the admin port (/healthz, /readyz, /metrics) must keep answering meanwhile
            problems = await asyncio.to_thread(config_problems, self.config_path)
            if problems:
                log.error("SIGHUP: new config refused, the old one keeps serving:\n%s", "\n".join(problems))
                self.reloads_refused += 1
                return False
            try:
                cfg = load_config(self.config_path)
            except ConfigError as exc:  # pragma: no cover - config_problems saw it already
                log.error("SIGHUP: new config refused: %s", exc)
                self.reloads_refused += 1
                return False
            refusal = _refusal(cfg)
            if refusal:
                log.error("SIGHUP: %s; the old config keeps serving", refusal)
                self.reloads_refused += 1
                return False
            self.generation += 1
            for index in sorted(self.workers):
                old = self.workers[index]
                new = self._spawn(index)
                new.stopping = True  # not watched until it is ready
                if not await self._wait_ready(new):
                    log.error("SIGHUP: worker %d failed to start with the new config; keeping the old one", index)
                    await self._stop_worker(new)
                    self.reloads_refused += 1
                    return False
                new.stopping = False
                self.workers[index] = new
                await self._stop_worker(old)
            self.cfg = cfg
            self.loaded_generation = self.generation
            log.info("SIGHUP: config reloaded (generation %d)", self.generation)
            return True
        finally:
            self.reloading = False

    def _spawn_task(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- admin ---------------------------------------------------------------------------
    def worker_pids(self) -> list[tuple[int, int]]:
        """``(index, pid)`` of every worker serving now (for /metrics' per-process gauges)."""
        return [(i, w.proc.pid) for i, w in sorted(self.workers.items()) if w.proc.poll() is None]

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        ready = sum(1 for w in self.workers.values() if w.ready)
        ok = self.started and not self.stopping and len(self.workers) == self.n and ready == self.n
        return ok, {
            "workers": self.n,
            "workers_ready": ready,
            "generation": self.loaded_generation,
            "restarts": self.restarts,
        }

    async def run(self) -> int:
        from proxy.http.admin import start_admin

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn_task(self.reload()))
        try:
            admin = await start_admin(self, self.admin_host, self.admin_port)
        except OSError as exc:
            log.error("cannot listen on the admin port %s:%d: %s", self.admin_host, self.admin_port, exc.strerror)
            return 1
        for i in range(self.n):
            self.workers[i] = self._spawn(i)
        started = await asyncio.gather(*(self._wait_ready(w) for w in self.workers.values()))
        if not all(started):
            log.error("refusing to serve: %d of %d worker(s) failed to start", started.count(False), self.n)
            self.stopping = True
            await asyncio.gather(*(self._stop_worker(w) for w in self.workers.values()))
            await admin.cleanup()
            return 1
        watcher = loop.create_task(self._watch())
        self.started = True
        log.info("serving on http://%s:%d (admin %s:%d), %d worker(s)", self.host, self.port, self.admin_host,
                 self.admin_port, self.n)  # fmt: skip
        await self._stop.wait()
        log.info("stopping: draining in-flight requests")
        self.stopping = True
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await asyncio.gather(*(self._stop_worker(w) for w in self.workers.values()))
        await admin.cleanup()
        shutil.rmtree(self.run_dir, ignore_errors=True)
        log.info("stopped")
        return 0


# ---- worker process -----------------------------------------------------------------------
def worker_main(args: argparse.Namespace) -> int:
    _install_uvloop()
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        for p in exc.problems:
            print(p, file=sys.stderr)
        return 2
    return asyncio.run(_worker(cfg, args.host, args.port, Path(args.ready_file)))


async def _worker(cfg: ProxyConfig, host: str, port: int, ready_file: Path) -> int:
    from proxy.http.app import RUNTIME, AccessLogger, build_app
    from proxy.http.server import TransportLimits, limits_from_env, serve_app

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: None)  # the supervisor handles reloads
    app = build_app(cfg)
    try:
        # Header-read and keep-alive timeouts, connection cap: the config's, which
        # PROXY_HEADER_TIMEOUT / PROXY_KEEPALIVE_TIMEOUT / PROXY_MAX_CONNECTIONS override.
        from_config = TransportLimits(
            header_timeout=cfg.timeouts.header_read,
            keepalive_timeout=cfg.timeouts.keepalive_idle,
            max_connections=cfg.limits.max_connections,
        )
        runner = await serve_app(
            app,
            host,
            port,
            limits=limits_from_env(defaults=from_config),
            reuse_port=True,
            access_log_class=AccessLogger,
            access_log=logging.getLogger("proxy.access") if cfg.listen.access_log else None,
            shutdown_timeout=cfg.timeouts.drain,
            handle_signals=False,
            auto_decompress=False,  # we decode ourselves, with the body limit applied to the decoded size
        )
    except Exception as exc:
        log.error("worker could not start: %s: %s", exc.__class__.__name__, exc)
        return 1
    presidio = await _start_presidio(cfg, app[RUNTIME], limits_from_env(defaults=from_config))
    if presidio is False:
        await runner.cleanup()
        return 1
    ready_file.write_text(str(os.getpid()))
    # /readyz follows the detection process (not ready while it restarts) and the event loop (not
    # ready while it stalls: a watchdog thread sees the loop's heartbeat go stale, which the loop
    # itself could not report).
    up = {"detection": True, "loop": True}
    lock = threading.Lock()
    beat = [time.monotonic()]
    done = threading.Event()

    def publish(what: str, ok: bool) -> None:
        with lock:
            up[what] = ok
            if stop.is_set() or done.is_set():
                return
            if all(up.values()):
                ready_file.write_text(str(os.getpid()))
            else:
                ready_file.unlink(missing_ok=True)

    async def heartbeat() -> None:
        while True:
            beat[0] = time.monotonic()
            await asyncio.sleep(0.05)

    def watchdog(max_lag: float) -> None:
        while not done.wait(0.05):
            stalled = time.monotonic() - beat[0] > max_lag
            if stalled == up["loop"]:
                if stalled:
                    log.warning("event loop stalled for more than %gs: not ready until it runs again", max_lag)
                publish("loop", not stalled)

    app[RUNTIME].detection.backend.on_state = lambda ok: publish("detection", ok)
    beating = loop.create_task(heartbeat(), name="loop-heartbeat")
    threading.Thread(target=watchdog, args=(cfg.timeouts.max_loop_lag,), name="loop-watchdog", daemon=True).start()
    await stop.wait()
    done.set()
    beating.cancel()
    with lock, contextlib.suppress(FileNotFoundError):
        ready_file.unlink()
    if presidio is not None:
        await presidio.cleanup()
    await runner.cleanup()
    return 0


async def _start_presidio(cfg: ProxyConfig, rt: Any, limits: Any) -> Any:
    """The Presidio-compatible face (``presidio.port``), on the same Runtime: its runner, None
    when it is off, False when it cannot listen."""
    if cfg.presidio.port is None:
        return None
    from proxy.http.presidio import build_presidio_app
    from proxy.http.server import serve_app

    try:
        return await serve_app(
            build_presidio_app(rt, cfg.presidio),
            cfg.presidio.host,
            cfg.presidio.port,
            limits=limits,
            reuse_port=True,
            access_log=None,
            shutdown_timeout=cfg.timeouts.drain,
            handle_signals=False,
        )
    except Exception as exc:
        log.error("worker could not start the Presidio face: %s: %s", exc.__class__.__name__, exc)
        return False
