"""deploy/grafana/pii-proxy.json: every metric its queries name is one the proxy really exports.

A real proxy is started and driven through every path that makes a series appear (a redacted
chat message, an unreachable upstream, a payload over its detection budget, log records to a
sink that is down), then its admin ``/metrics`` is scraped and each ``proxy_*`` name of every
query must be a sample name there (histograms as ``_bucket``/``_sum``/``_count``)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import ROOT, free_port, running_proxy, upstream_server
from tests.integration.conftest import make_config

DASHBOARD = ROOT / "deploy" / "grafana" / "pii-proxy.json"
METRIC = re.compile(r"\b(proxy_[a-z0-9_]+)\b")


def dashboard_queries() -> list[tuple[str, str]]:
    dash = json.loads(DASHBOARD.read_text())
    out = []
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            out.append((panel["title"], target["expr"]))
    return out


def test_dashboard_covers_what_ops_look_at() -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] == "pii-proxy" and dash["templating"]["list"][0]["type"] == "datasource"
    panels = [p for p in dash["panels"] if p["type"] != "row"]
    assert all(p.get("targets") for p in panels), "every panel queries something"
    used = {m for _, expr in dashboard_queries() for m in METRIC.findall(expr)}
    for wanted in (
        "proxy_requests_total",  # request rate by route
        "proxy_request_duration_seconds_bucket",  # latency by route
        "proxy_detection_seconds_bucket",  # detection time
        "proxy_detection_batch_texts_bucket",  # batch size
        "proxy_findings_total",  # findings by entity
        "proxy_log_spool_depth_records",
        "proxy_log_spool_oldest_age_seconds",
        "proxy_log_records_delivered_total",  # sink delivery
        "proxy_detection_restarts_total",
    ):
        assert wanted in used, f"the dashboard has no query on {wanted}"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"


def scrape_names(admin: str) -> set[str]:
    import urllib.request

    with urllib.request.urlopen(admin + "/metrics", timeout=10) as r:
        text = r.read().decode()
    return {s.name for fam in text_string_to_metric_families(text) for s in fam.samples}


def edit(data: dict[str, Any], dead_upstream: str) -> None:
    data["upstreams"]["dead"] = {"url": dead_upstream}
    chat = next(r for r in data["routes"] if r["path"] == "/chat/")
    data["routes"].insert(0, {**chat, "path": "/dead/", "upstream": "dead", "strip_prefix": "/dead"})
    data["timeouts"]["detection_budget"] = 0.05  # a large payload fails closed alone
    data["spool"].update(retry_initial=0.05, retry_max=0.2)


async def test_every_metric_in_the_dashboard_is_exported(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with upstream_server() as up:
        config = make_config(tmp_path / "cfg", lambda d: edit(d, dead))
        env = {"CHAT_PARTNER_URL": up.url, "LOG_SINK_URL": dead + "/ingest"}
        with running_proxy(tmp_path, config=config, env=env, workers=1) as p:
            message = {"conversation_id": "c-1", "text": "I am John Smith, mail john.smith@example.com"}
            timeout = aiohttp.ClientTimeout(total=30)
            async with aiohttp.ClientSession(timeout=timeout) as s:
                ok = 0
                for _ in range(10):  # a loaded machine can push a small payload past the budget too
                    async with s.post(p.url + "/chat/m", json=message) as r:
                        ok += r.status == 200
                    if ok:
                        break
                assert ok, "a chat message went through"
                async with s.post(p.url + "/dead/m", json=message) as r:
                    assert r.status in (502, 503)
                big = {"conversation_id": "c-2", "text": "Call John Smith at 415-555-0134. " * 20000}
                async with s.post(p.url + "/chat/m", json=big) as r:
                    assert r.status == 503, "over its detection budget: fail closed"
                body = b"".join(
                    json.dumps({"message": f"user {i} john{i}@example.com"}).encode() + b"\n" for i in range(5)
                )
                async with s.post(p.url + "/logs/", data=body, headers={"Content-Type": "application/x-ndjson"}) as r:
                    assert r.status == 202
            deadline = time.monotonic() + 30
            missing: set[tuple[str, str]] = set()
            while time.monotonic() < deadline:
                names = await asyncio.to_thread(scrape_names, p.admin)
                missing = {(t, m) for t, e in dashboard_queries() for m in METRIC.findall(e) if m not in names}
                if not missing:
                    break
                await asyncio.sleep(0.5)
    assert not missing, f"dashboard queries name metrics the proxy does not export: {sorted(missing)}"
