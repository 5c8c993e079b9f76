"""The log spool across a config reload: SIGHUP replaces the workers one by one (each new one
opens the spool, each old one closes it) while clients keep posting, and every record answered
``202`` must still reach the sink, in the order accepted, before the proxy is stopped.

The real proxy process (2 workers) and a real HTTP sink on 127.0.0.1. Records are synthetic
(``{"n": 17, "message": "record 17"}``): nothing here is PII, and failures print counts only.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.helpers import ProxyProcess
from tests.integration.test_logs import (
    Sink,
    fresh_session,
    metric,
    ndjson,
    post,
    proxy_running,
    sink_server,
    until,
    until_metric,
    write_config,
)

PER_REQUEST = 2
BEFORE = 10  # requests before the SIGHUP
AFTER = 10  # requests once the reload is done
RELOAD_TIMEOUT = 240.0  # two workers to replace, each loads the model on a shared 2-core machine
DELIVERY_TIMEOUT = 60.0


@dataclass
class Client:
    """Posts records one request after another (so the order of the 202s is the order of ``n``),
    resending a request until it gets its 202."""

    proxy: ProxyProcess
    next_n: int = 0
    accepted: list[int] = field(default_factory=list)
    #: ``n`` of records whose request got no answer at all: spooled or not, the client cannot
    #: know, so its resend may reach the sink a second time under another ``_record_id``.
    unanswered: set[int] = field(default_factory=set)
    refused: int = 0

    async def post_one(self, deadline: float) -> None:
        ns = list(range(self.next_n, self.next_n + PER_REQUEST))
        body = ndjson([{"n": n, "message": f"record {n}"} for n in ns])
        while True:
            assert time.monotonic() < deadline, f"no 202 in time ({len(self.accepted)} records accepted so far)"
            try:
                async with fresh_session() as s:
                    status, payload, _ = await post(s, self.proxy, body)
            except (aiohttp.ClientError, TimeoutError):
                self.unanswered.update(ns)  # e.g. the connection landed on a worker closing its socket
            else:
                if status == 202:
                    assert payload["accepted"] == PER_REQUEST
                    break
                self.refused += 1  # 503 while a worker drains: nothing of it was spooled
            await asyncio.sleep(0.05)
        self.accepted.extend(ns)
        self.next_n += PER_REQUEST


def check_delivery(records: list[dict[str, Any]], accepted: list[int], unanswered: set[int]) -> None:
    """Every accepted record at least once; first deliveries in the order accepted; a record
    delivered twice keeps its ``_record_id`` (unless its first request got no answer)."""
    first: dict[int, str] = {}
    order: list[int] = []
    for r in records:
        rid = r.get("_record_id")
        assert isinstance(rid, str) and rid, "every delivered record has a string _record_id"
        n = r["n"]
        assert isinstance(n, int), "the record number survives redaction"
        if n in first:
            assert first[n] == rid or n in unanswered, f"record {n} came again under another _record_id"
        else:
            first[n] = rid
            order.append(n)
    missing = sorted(set(accepted) - set(first))
    assert not missing, f"{len(missing)} of {len(accepted)} accepted records never reached the sink"
    assert not set(first) - set(accepted), "the sink got records that were never accepted"
    late = sum(1 for a, b in itertools.pairwise(order) if b < a)
    assert order == accepted, f"{late} record(s) delivered out of the order accepted"


async def reloaded(proxy: ProxyProcess, generation: int) -> bool:
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as s,
            s.get(proxy.admin + "/readyz") as r,
        ):
            state = await r.json()
            return bool(r.status == 200 and state["generation"] == generation)
    except (aiohttp.ClientError, TimeoutError):
        return False


async def reload_while_posting(proxy: ProxyProcess, client: Client, deadline: float) -> int:
    """SIGHUP (the same config: a reload replaces every worker all the same), posting one request
    after another until the new generation serves; then ``AFTER`` more. Returns the requests
    posted during the reload."""
    proxy.proc.send_signal(signal.SIGHUP)
    reload_deadline = time.monotonic() + RELOAD_TIMEOUT
    during = 0
    while not await reloaded(proxy, 1):
        assert time.monotonic() < reload_deadline, "the reload did not finish in time"
        assert proxy.proc.poll() is None, "the proxy exited during the reload"
        await client.post_one(deadline)
        during += 1
    assert during > 0, "no request was posted during the reload"
    for _ in range(AFTER):
        await client.post_one(deadline)
    return during


async def all_delivered(sink: Sink, client: Client, during: int) -> None:
    want = set(client.accepted)
    try:
        await until(lambda: want <= {r["n"] for r in sink.records}, DELIVERY_TIMEOUT, "the sink")
    except AssertionError:
        got = want & {r["n"] for r in sink.records}
        raise AssertionError(
            f"{len(want) - len(got)} of {len(want)} accepted records not delivered in {DELIVERY_TIMEOUT:.0f}s "
            f"after the reload ({during} requests posted during it)"
        ) from None
    check_delivery(sink.records, client.accepted, client.unanswered)


async def stop_exits_0(proxy: ProxyProcess) -> None:
    proxy.proc.send_signal(signal.SIGTERM)
    code = await asyncio.get_running_loop().run_in_executor(None, proxy.proc.wait, 60)
    assert code == 0


async def test_records_posted_around_a_reload_are_all_delivered_in_order(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "cfg", retry_initial=0.1, retry_max=1.0)
    async with sink_server(Sink()) as sink:
        with proxy_running(tmp_path, config=cfg, env={"LOG_SINK_URL": sink.url}, workers=2) as proxy:
            client = Client(proxy)
            deadline = time.monotonic() + RELOAD_TIMEOUT + 60
            for _ in range(BEFORE):
                await client.post_one(deadline)
            during = await reload_while_posting(proxy, client, deadline)
            # everything accepted reaches the sink, in order, while the proxy still runs
            await all_delivered(sink, client, during)
            await until_metric(proxy, "proxy_log_spool_depth_records", lambda v: v == 0)
            await until_metric(proxy, "proxy_log_forwarder_leader", lambda v: v == 1)
            await stop_exits_0(proxy)


async def test_a_backlog_left_by_the_old_workers_is_delivered_by_the_new_ones(tmp_path: Path) -> None:
    """The sink is down across the whole reload: the old leader leaves a backlog, and a worker of
    the new generation takes the lead over and delivers all of it, in order, once the sink is up."""
    cfg = write_config(tmp_path / "cfg", retry_initial=0.1, retry_max=1.0)
    async with sink_server(Sink()) as sink:
        with proxy_running(tmp_path, config=cfg, env={"LOG_SINK_URL": sink.url}, workers=2) as proxy:
            client = Client(proxy)
            deadline = time.monotonic() + RELOAD_TIMEOUT + 60
            for _ in range(BEFORE):
                await client.post_one(deadline)
            first = set(client.accepted)
            await until(lambda: first <= {r["n"] for r in sink.records}, DELIVERY_TIMEOUT, "the first records")
            await sink.stop()
            during = await reload_while_posting(proxy, client, deadline)
            # the new generation's view of the spool: exactly the records the sink has not had
            waiting = len(client.accepted) - len(first)
            try:
                await until_metric(proxy, "proxy_log_spool_depth_records", lambda v: v == waiting)
            except AssertionError:
                depth = await asyncio.to_thread(metric, proxy, "proxy_log_spool_depth_records")
                raise AssertionError(f"the spool shows {depth:.0f} records waiting, {waiting} were accepted") from None
            await sink.start()
            await all_delivered(sink, client, during)
            await until_metric(proxy, "proxy_log_spool_depth_records", lambda v: v == 0)
            await until_metric(proxy, "proxy_log_forwarder_leader", lambda v: v == 1)
            await stop_exits_0(proxy)
