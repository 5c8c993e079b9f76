"""What an SRE reads first on /metrics, against a real proxy (2 workers): request latency by
route, upstream latency by upstream, the config generation and refused reloads, memory and CPU
of every worker and detection process. Also the newcomer's side of the command line: ``--help``
without the internal ``_worker`` command, ``check-config`` warning about a missing key."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import ROOT, TEST_KEY, TEST_VAULT_KEY, ProxyProcess, Upstream, start_proxy, upstream_server
from tests.integration.conftest import make_config

#: Synthetic values only; the canary must never reach a metric label.
EMAIL = "test.person@example.com"
PATH_CANARY = "pathcanary7f3a"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(p: ProxyProcess) -> tuple[str, Samples]:
    async with aiohttp.ClientSession() as s:
        r = await s.get(p.admin + "/metrics", timeout=aiohttp.ClientTimeout(total=10))
        assert r.status == 200
        text = await r.text()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return text, samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def matching(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


async def wait_for(cond: Callable[[], Awaitable[bool]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await cond():
            return
        await asyncio.sleep(0.2)
    raise AssertionError("condition not reached in time")


@pytest.fixture(scope="module")
async def ops_upstream() -> AsyncIterator[Upstream]:
    async with upstream_server() as up:
        yield up


@pytest.fixture(scope="module")
def ops_proxy(ops_upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    workdir = tmp_path_factory.mktemp("ops")
    cfg = make_config(workdir / "cfg", lambda d: None)
    p = start_proxy(workdir, config=cfg, env={"CHAT_PARTNER_URL": ops_upstream.url}, workers=2)
    p.env["TEST_CONFIG"] = str(cfg)
    try:
        yield p
    finally:
        p.stop()


async def test_request_and_upstream_latency_histograms(ops_proxy: ProxyProcess) -> None:
    p = ops_proxy
    async with aiohttp.ClientSession() as s:
        for i in range(5):
            r = await s.post(f"{p.url}/chat/{PATH_CANARY}/{i}", json={"conversation_id": "c", "text": f"mail {EMAIL}"})
            assert r.status == 200
            await r.read()
        for _ in range(2):
            r = await s.get(f"{p.url}/nowhere/{PATH_CANARY}")
            assert r.status == 404
            await r.read()
    text, samples = await scrape(p)

    # Counts by the config route's path (summed over both workers), never the request's path.
    assert value(samples, "proxy_request_duration_seconds_count", route="/chat/") == 5
    assert value(samples, "proxy_request_duration_seconds_count", route="-") == 2
    assert value(samples, "proxy_request_duration_seconds_bucket", route="/chat/", le="+Inf") == 5
    assert value(samples, "proxy_request_duration_seconds_bucket", route="/chat/", le="60.0") == 5
    assert (value(samples, "proxy_request_duration_seconds_sum", route="/chat/") or 0) > 0
    routes = {dict(labels)["route"] for labels in matching(samples, "proxy_request_duration_seconds_count")}
    assert routes == {"/chat/", "-"}
    # The counter by status is still there and agrees.
    assert value(samples, "proxy_requests_total", route="/chat/", status="200") == 5
    assert value(samples, "proxy_requests_total", route="-", status="404") == 2

    # Upstream latency by the config's upstream name; the 404s never went upstream.
    assert value(samples, "proxy_upstream_duration_seconds_count", upstream="chat_partner") == 5
    assert value(samples, "proxy_upstream_duration_seconds_bucket", upstream="chat_partner", le="+Inf") == 5
    upstreams = matching(samples, "proxy_upstream_duration_seconds_count")
    assert {dict(labels)["upstream"] for labels in upstreams} == {"chat_partner"}
    # Upstream time is part of the request time.
    up_sum = value(samples, "proxy_upstream_duration_seconds_sum", upstream="chat_partner") or 0
    assert 0 < up_sum <= (value(samples, "proxy_request_duration_seconds_sum", route="/chat/") or 0)

    # Request data never becomes a label value.
    assert PATH_CANARY not in text
    assert EMAIL not in text and "example.com" not in text


async def test_upstream_errors_counted_by_upstream(tmp_path: Path) -> None:
    """``proxy_upstream_errors_total`` (already there) has the upstream's name and the kind."""
    async with upstream_server() as up:
        dead_url = up.url  # closed below: the proxy then finds nothing listening there
    p = start_proxy(tmp_path, env={"CHAT_PARTNER_URL": dead_url}, workers=1)
    try:
        async with aiohttp.ClientSession() as s:
            r = await s.post(p.url + "/chat/m", json={"conversation_id": "c"})
            assert r.status == 502
            await r.read()
        _, samples = await scrape(p)
        assert value(samples, "proxy_upstream_errors_total", upstream="chat_partner", kind="unreachable") == 1
        assert value(samples, "proxy_request_duration_seconds_count", route="/chat/") == 1
        assert value(samples, "proxy_requests_total", route="/chat/", status="502") == 1
        assert value(samples, "proxy_upstream_duration_seconds_count", upstream="chat_partner") is None
    finally:
        assert p.stop() == 0


async def test_memory_and_cpu_of_every_worker_and_detection_process(ops_proxy: ProxyProcess) -> None:
    _, samples = await scrape(ops_proxy)
    rss = matching(samples, "proxy_worker_resident_memory_bytes")
    cpu = matching(samples, "proxy_worker_cpu_seconds_total")
    expected = {frozenset({("worker", w), ("process", k)}) for w in ("0", "1") for k in ("worker", "detection")}
    assert set(rss) == expected
    assert set(cpu) == expected
    for labels in expected:
        # A worker or a detection process with a model loaded: well over a few MB.
        assert rss[labels] > 10 * 1024 * 1024, dict(labels)
        assert cpu[labels] > 0, dict(labels)


async def test_config_generation_and_refused_reloads(ops_proxy: ProxyProcess) -> None:
    p = ops_proxy
    cfg = Path(p.env["TEST_CONFIG"])
    good = cfg.read_text()
    _, samples = await scrape(p)
    assert value(samples, "proxy_config_generation") == 1
    assert value(samples, "proxy_config_reloads_refused_total") == 0

    async def metric_is(name: str, want: float) -> bool:
        _, now = await scrape(p)
        return value(now, name) == want

    # An invalid config: refused, counted, the generation stays.
    cfg.write_text(good.replace("default_field: drop", "default_field: dorp"))
    p.proc.send_signal(signal.SIGHUP)
    await wait_for(lambda: metric_is("proxy_config_reloads_refused_total", 1), 60)
    _, samples = await scrape(p)
    assert value(samples, "proxy_config_generation") == 1

    # A valid one: generation 2 once every worker runs it; the refused count stays.
    data = yaml.safe_load(good)
    data["destinations"]["chat_partner"]["entities"]["EMAIL_ADDRESS"] = "mask"
    cfg.write_text(yaml.safe_dump(data, sort_keys=False))
    p.proc.send_signal(signal.SIGHUP)
    await wait_for(lambda: metric_is("proxy_config_generation", 2), 180)
    _, samples = await scrape(p)
    assert value(samples, "proxy_config_reloads_refused_total") == 1

    # The new workers (and their detection processes) are the ones measured.
    rss = matching(samples, "proxy_worker_resident_memory_bytes")
    assert len(rss) == 4 and all(v > 0 for v in rss.values())


# ---- the command line -------------------------------------------------------------------------
def run_cli(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("PSEUDONYM_KEY", "VAULT_KEY")}
    full["PYTHONPATH"] = str(ROOT)
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "proxy", *args], capture_output=True, text=True, cwd=ROOT, env=full, timeout=120
    )


def test_help_lists_public_commands_only() -> None:
    r = run_cli(["--help"])
    assert r.returncode == 0
    for command in ("serve", "redact", "check-config", "explain"):
        assert command in r.stdout
    assert "_worker" not in r.stdout
    assert "SUPPRESS" not in r.stdout
    # The supervisor's internal command still parses.
    from proxy.cli import parser

    args = parser().parse_args(["_worker", "--config", "c.yaml", "--host", "h", "--port", "1", "--ready-file", "f"])
    assert args.command == "_worker"


def test_check_config_warns_when_the_key_is_unset() -> None:
    r = run_cli(["check-config", "config/proxy.yaml"])
    assert r.returncode == 0
    assert r.stdout.strip() == "ok"
    assert r.stderr.startswith("warning: ")
    assert "chat_partner" in r.stderr
    assert "PSEUDONYM_KEY is unset: serve will refuse to start" in r.stderr

    r = run_cli(["check-config", "config/proxy.yaml"], {"PSEUDONYM_KEY": TEST_KEY, "VAULT_KEY": TEST_VAULT_KEY})
    assert (r.returncode, r.stdout.strip(), r.stderr) == (0, "ok", "")


def test_check_config_no_warning_without_a_hashing_destination(tmp_path: Path) -> None:
    def no_hash(d: dict[str, Any]) -> None:
        for dest in d["destinations"].values():
            for name, rule in list(dest.get("fields", {}).items()):
                if rule == "hash" or (isinstance(rule, dict) and rule.get("operator") == "hash"):
                    dest["fields"][name] = "drop"
            for name, op in list(dest.get("entities", {}).items()):
                if op in ("hash", "pseudonym"):  # pseudonyms need keys too (the vault's)
                    dest["entities"][name] = "tag"
            dest.pop("unmask", None)

    cfg = make_config(tmp_path, no_hash)
    r = run_cli(["check-config", str(cfg)])
    assert (r.returncode, r.stdout.strip(), r.stderr) == (0, "ok", "")


def test_check_config_invalid_file_still_exit_2(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, lambda d: d["destinations"]["chat_partner"].update(default_field="dorp"))
    r = run_cli(["check-config", str(cfg)])
    assert r.returncode == 2
    assert "warning" not in r.stderr
    assert str(cfg) in r.stdout
