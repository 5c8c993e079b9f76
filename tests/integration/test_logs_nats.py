"""``POST /logs/`` into NATS JetStream end to end: the real proxy process and a real
``nats-server -js`` (Debian's) on 127.0.0.1 with a temporary store. The stream is read back with a
JetStream consumer: every accepted record is in it exactly once (by ``_record_id``, which is also
its ``Nats-Msg-Id``) and in the order accepted, across a sink that starts late, a SIGKILL of the
proxy after a 202 (with the sink holding the batch) and a kill and restart of nats-server while
batches are in flight.

Assertions on PII are counts, so a failure never prints a raw value.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import aiohttp
import nats
import yaml

from tests.helpers import ROOT, start_proxy
from tests.integration.test_logs import (
    fresh_session,
    metric,
    ndjson,
    pii_record,
    post,
    proxy_running,
    raw_values,
    sigkill_all,
    until_metric,
)
from tests.nats_server import NatsServer, StoredMessage, nats_server, read_stream

STREAM, SUBJECT = "REDACTED_LOGS", "logs.redacted"  # the shipped defaults


def write_config(workdir: Path, **nats_cfg: Any) -> Path:
    data = yaml.safe_load((ROOT / "config" / "proxy.yaml").read_text())
    data["detection"]["recognizers"] = str(ROOT / "config" / "recognizers.yaml")
    data["spool"].update(retry_initial=0.05, retry_max=0.5)
    data["sinks"]["log_sink"]["nats"].update(nats_cfg)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "proxy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


async def stored_count(url: str) -> int:
    try:
        nc = await nats.connect(url, allow_reconnect=False, connect_timeout=2)
    except Exception:
        return -1
    try:
        return (await nc.jetstream(timeout=2).stream_info(STREAM)).state.messages
    except Exception:
        return -1
    finally:
        await nc.close()


async def until_stored(server: NatsServer, n: int, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (got := await stored_count(server.url)) < n:
        assert asyncio.get_running_loop().time() < deadline, f"timed out: {got} of {n} records in the stream"
        await asyncio.sleep(0.2)


def assert_exactly_once_in_order(stored: list[StoredMessage], key: Any) -> list[Any]:
    ids = [m.record.get("_record_id") for m in stored]
    assert all(isinstance(i, str) and i for i in ids), "every stored record has a _record_id"
    assert len(set(ids)) == len(ids), f"{len(ids) - len(set(ids))} record(s) stored more than once"
    assert all(m.msg_id == m.record["_record_id"] for m in stored), "Nats-Msg-Id is the record's _record_id"
    keys = [key(m.record) for m in stored]
    assert len(set(keys)) == len(keys), "one record, one _record_id"
    return keys


async def test_nats_down_then_up_gets_every_record_once_in_order(tmp_path: Path) -> None:
    with nats_server(tmp_path / "js", start=False) as server:
        config = write_config(tmp_path)
        env = {"LOG_SINK_NATS_URL": server.url}
        with proxy_running(tmp_path, config=config, workers=2, env=env) as proxy:
            sent: list[dict[str, Any]] = []
            async with fresh_session() as s:
                for k in range(12):
                    batch = [pii_record(k * 5 + j) for j in range(5)]
                    status, body, _ = await post(s, proxy, ndjson(batch))
                    assert status == 202 and body["accepted"] == 5
                    sent.extend(batch)
            await until_metric(proxy, "proxy_log_spool_depth_records", lambda v: v == 60)
            await until_metric(proxy, "proxy_log_records_retried_total", lambda v: v > 0)
            assert metric(proxy, "proxy_log_sink_up") == 0
            assert metric(proxy, "proxy_log_forwarder_leader") == 1

            server.start()  # the stream does not exist yet: the proxy creates it
            await until_stored(server, 60, 30)
            await until_metric(proxy, "proxy_log_spool_depth_records", lambda v: v == 0)
            assert metric(proxy, "proxy_log_sink_up") == 1
            assert metric(proxy, "proxy_log_records_delivered_total") >= 60
        stored = await read_stream(server.url, STREAM, SUBJECT)
    keys = assert_exactly_once_in_order(stored, lambda r: r["n"])
    assert keys == [r["n"] for r in sent]
    leaks = sum(raw in json.dumps([m.record for m in stored]) for raw in raw_values(sent))
    assert leaks == 0, "raw values reached the stream"


async def test_sigkill_of_the_proxy_after_202_with_the_batch_at_the_sink(tmp_path: Path) -> None:
    """nats-server is paused: it holds the batch the leader published (no acknowledgement); the
    proxy is SIGKILLed right after a 202; the server is resumed and stores what it had; the
    restarted proxy sends those records again and JetStream drops them by ``Nats-Msg-Id``."""
    with nats_server(tmp_path / "js") as server:
        config = write_config(tmp_path, timeout=30)  # the held batch stays in flight until the kill
        env = {"LOG_SINK_NATS_URL": server.url}
        metrics_dir = tmp_path / "metrics-killed"
        metrics_dir.mkdir()
        proxy = start_proxy(
            tmp_path, config=config, workers=2, env={**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
        )
        accepted: list[tuple[int, int]] = []
        unknown: list[tuple[int, int]] = []
        killed = asyncio.Event()
        try:
            async with fresh_session() as s:  # the stream exists and one batch went through
                status, _, _ = await post(s, proxy, ndjson([{"sender": 9, "k": 0, "j": j} for j in range(4)]))
                assert status == 202
            await until_stored(server, 4, 30)
            server.pause()

            async def sender(sid: int) -> None:
                async with fresh_session() as s:
                    for k in range(200):
                        if killed.is_set():
                            return
                        body = ndjson([{"sender": sid, "k": k, "j": j, "message": f"event {j} of {k}"}
                                       for j in range(4)])  # fmt: skip
                        try:
                            status, _, _ = await post(s, proxy, body)
                        except (aiohttp.ClientError, TimeoutError):
                            unknown.append((sid, k))
                            return
                        assert status == 202
                        accepted.append((sid, k))
                        if not killed.is_set() and len(accepted) >= 12:
                            await asyncio.sleep(0.5)  # the leader publishes what it has: no ack comes
                            sigkill_all(proxy)  # right after a 202
                            killed.set()
                            return

            await asyncio.wait_for(asyncio.gather(sender(0), sender(1)), 60)
        finally:
            if not killed.is_set():
                proxy.stop(signal.SIGKILL)
            server.resume()
        assert killed.is_set(), "the proxy was not killed"
        await asyncio.sleep(0.5)
        held = await stored_count(server.url)
        assert held > 4, "the paused server stored the batch it was holding"

        with proxy_running(tmp_path, config=config, env=env) as again:  # the same SPOOL_DIR
            want = 4 + 4 * len(accepted)
            await until_stored(server, want, 60)
            await until_metric(again, "proxy_log_spool_depth_records", lambda v: v == 0, 30)
            dups = metric(again, "proxy_log_records_duplicates_total")
            assert dups > 0, "the held batch was sent again and dropped by JetStream"
        stored = await read_stream(server.url, STREAM, SUBJECT)
    keys = assert_exactly_once_in_order(stored, lambda r: (r["sender"], r["k"], r["j"]))
    for sid in (0, 1):
        mine = [k for k in keys if k[0] == sid]
        assert mine == sorted(mine), "each sender's records in the order accepted"
    per_request: dict[tuple[int, int], int] = {}
    for sid, k, _ in keys:
        per_request[(sid, k)] = per_request.get((sid, k), 0) + 1
    assert all(v == 4 for v in per_request.values()), "a request is stored whole or not at all"
    assert {(s, k) for s, k in accepted} <= set(per_request), "every 202 is in the stream"
    assert set(per_request) - {(9, 0)} <= set(accepted) | set(unknown), "nothing that was never sent"


async def test_nats_server_killed_and_restarted_mid_batch(tmp_path: Path) -> None:
    with nats_server(tmp_path / "js") as server:
        config = write_config(tmp_path, batch_max=50)
        env = {"LOG_SINK_NATS_URL": server.url}
        with proxy_running(tmp_path, config=config, workers=2, env=env) as proxy:
            sent: list[dict[str, Any]] = []
            outage = asyncio.Event()

            async def client() -> None:
                async with fresh_session() as s:
                    for k in range(60):
                        batch = [{"n": k * 25 + j, "message": f"event {k * 25 + j}"} for j in range(25)]
                        status, _, _ = await post(s, proxy, ndjson(batch))
                        assert status == 202
                        sent.extend(batch)
                        if k == 40:
                            await outage.wait()  # the last third goes in after the restart

            async def chaos() -> None:
                await until_stored(server, 200, 60)
                server.kill(signal.SIGKILL)  # while the leader has batches in flight
                await until_metric(proxy, "proxy_log_records_retried_total", lambda v: v > 0, 30)
                assert metric(proxy, "proxy_log_sink_up") == 0
                await asyncio.sleep(1.0)
                server.start()  # same port, same store
                outage.set()

            await asyncio.wait_for(asyncio.gather(client(), chaos()), 120)
            await until_stored(server, len(sent), 60)
            await until_metric(proxy, "proxy_log_spool_depth_records", lambda v: v == 0, 30)
            assert metric(proxy, "proxy_log_sink_up") == 1
        stored = await read_stream(server.url, STREAM, SUBJECT)
    assert len(sent) == 1500
    keys = assert_exactly_once_in_order(stored, lambda r: r["n"])
    assert keys == [r["n"] for r in sent], "every record once, in the order accepted"
