"""The admin port, served by the supervisor: one per proxy whatever the number of workers."""

from __future__ import annotations

import hmac
import json
import logging
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

if TYPE_CHECKING:
    from proxy.config import ProxyConfig
    from proxy.vault import Vault

log = logging.getLogger("proxy.admin")


class Supervised(Protocol):
    metrics_dir: str
    #: Successful SIGHUP reloads so far (0 at start).
    loaded_generation: int
    reloads_refused: int
    #: The config the workers serve (the admin's /subjects/... use its vault and audit file).
    cfg: ProxyConfig

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


# ---- erasure and access: POST /subjects/erase, POST /subjects/lookup ---------------------------------
#: The admin's vault, opened on the first request for the config it was opened for.
_VAULT = web.AppKey("vault", dict)
_MAX_BODY = 16 * 1024


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"status": status, "code": code, "message": message}}, status=status,
                             headers=headers)  # fmt: skip


async def _vault(app: web.Application, cfg: ProxyConfig) -> Vault | None:
    """The vault of the config served now (a SIGHUP may have changed it: then reopened)."""
    from proxy.http.runtime import build_vault

    held: dict[str, Any] = app[_VAULT]
    if held.get("cfg") is not cfg:
        old = held.pop("vault", None)
        if old is not None:
            await old.close()
        held["vault"] = build_vault(cfg)
        held["cfg"] = cfg
    vault: Vault | None = held["vault"]
    return vault


async def _close_vault(app: web.Application) -> None:
    vault = app[_VAULT].pop("vault", None)
    if vault is not None:
        await vault.close()


async def subjects(request: web.Request) -> web.Response:
    """Erase or look up one person's pseudonym tokens. 404 unless ``ADMIN_TOKEN`` is set; 401
    unless the request carries it as a bearer token (compared in constant time)."""
    from proxy.audit import AuditLog
    from proxy.errors import VaultError
    from proxy.vault.subjects import SubjectRequestError, parse_request, run_request
    from proxy.yamlload import ConfigError

    sup: Supervised = request.app[SUPERVISOR]  # type: ignore[assignment]
    cfg = sup.cfg
    token = os.environ.get(cfg.secrets.admin_token_env, "")
    if not token:
        return _error(404, "not_found", "not found")
    given = request.headers.get("Authorization", "").encode()
    if not hmac.compare_digest(given, b"Bearer " + token.encode()):
        return _error(401, "unauthorized", "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})
    op = request.match_info["op"]
    if request.content_length is not None and request.content_length > _MAX_BODY:
        return _error(413, "payload_too_large", f"body larger than {_MAX_BODY} bytes")
    raw = await request.content.read(_MAX_BODY + 1)
    if len(raw) > _MAX_BODY:
        return _error(413, "payload_too_large", f"body larger than {_MAX_BODY} bytes")
    try:
        entity, value = parse_request(json.loads(raw))
    except (ValueError, UnicodeDecodeError) as exc:  # JSON errors quote no value; ours never do
        message = str(exc) if isinstance(exc, SubjectRequestError) else "malformed JSON"
        return _error(400, "bad_request", message)
    try:
        vault = await _vault(request.app, cfg)
    except ConfigError:
        return _error(503, "vault_unavailable", "the vault's keys are not set")
    if vault is None:
        return _error(404, "not_found", "no destination in use pseudonymises: there is no vault")
    audit = AuditLog(cfg.audit.file if cfg.audit.enabled else None)
    try:
        result = await run_request(vault, audit, "erase" if op == "erase" else "lookup", entity, value, via="admin")
    except VaultError:
        log.warning("subjects/%s: the vault is unavailable", op)
        return _error(503, "vault_unavailable", "the pseudonym vault is unavailable; nothing was done")
    finally:
        audit.close()
    return web.json_response(result)


async def start_admin(sup: Supervised, host: str, port: int) -> web.AppRunner:
    app = web.Application()
    app[SUPERVISOR] = sup
    app[_VAULT] = {}
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_post(r"/subjects/{op:erase|lookup}", subjects)
    app.on_cleanup.append(_close_vault)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError:
        await runner.cleanup()
        raise
    return runner
