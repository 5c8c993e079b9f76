"""The delivery loop: a real spool on disk and a real HTTP sink on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from proxy.config import HttpSink
from proxy.config import Spool as SpoolConfig
from proxy.sinks.delivery import Delivery, backoff_delay
from proxy.sinks.forwarders import HttpForwarder
from proxy.sinks.records import encode_record
from proxy.sinks.spool import Spool
from tests.unit.test_sink_forwarders import http_sink


def spool_cfg(tmp_path: Path) -> SpoolConfig:
    return SpoolConfig(dir=str(tmp_path), retry_initial=0.01, retry_max=0.05, poll_interval=0.02)


def fill(tmp_path: Path, ns: range, bad: set[int] | None = None) -> None:
    sp = Spool(tmp_path, 1 << 24)
    for n in ns:
        sp.append("logs", [encode_record({"n": n, "bad": n in (bad or set())}, f"id-{n}")])
    sp.close()


def numbers(bodies: list[bytes]) -> list[int]:
    return [json.loads(line)["n"] for b in bodies for line in b.splitlines()]


def delivery(tmp_path: Path, url: str, batch_max: int = 500, split: bool = True) -> Delivery:
    sink = HttpSink(url=url, batch_max=batch_max, timeout=2)
    return Delivery("logs", spool_cfg(tmp_path), lambda _ex: HttpForwarder(sink), split_rejected=split)


async def until(pred: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    assert backoff_delay(1, 0.5, 30, rng=lambda: 0.0) == 0.25
    assert backoff_delay(1, 0.5, 30, rng=lambda: 1.0) == 0.5
    assert backoff_delay(3, 0.5, 30, rng=lambda: 1.0) == 2.0
    assert backoff_delay(50, 0.5, 30, rng=lambda: 1.0) == 30
    assert 15 <= backoff_delay(10_000, 0.5, 30) <= 30


async def test_delivers_everything_in_order_in_batches(tmp_path: Path) -> None:
    fill(tmp_path, range(30))
    async with http_sink(lambda b: None) as (url, got):
        d = delivery(tmp_path, url, batch_max=7)
        await d.start()
        await until(lambda: len(numbers(got)) == 30)
        await d.close()
    assert numbers(got) == list(range(30))
    assert max(len(b.splitlines()) for b in got) <= 7
    sp = Spool(tmp_path, 1 << 24)
    assert sp.depth("logs").records == 0
    sp.close()


async def test_retries_until_the_sink_takes_them(tmp_path: Path) -> None:
    fill(tmp_path, range(10))
    answers = [503, 500, 429]

    def answer(_: bytes) -> web.Response | None:
        return web.Response(status=answers.pop(0)) if answers else None

    async with http_sink(answer) as (url, got):
        d = delivery(tmp_path, url)
        await d.start()
        await until(lambda: not answers and len(got) == 4)
        await asyncio.sleep(0.1)
        await d.close()
    assert [numbers([b]) for b in got] == [list(range(10))] * 4  # the same batch, head first, every time
    assert d.failures == 0


async def test_a_rejected_record_goes_to_dead_letter_alone(tmp_path: Path) -> None:
    fill(tmp_path, range(20), bad={13})

    def answer(body: bytes) -> web.Response | None:
        return web.Response(status=400) if b'"bad":true' in body else None

    async with http_sink(answer) as (url, got):
        d = delivery(tmp_path, url, batch_max=8)
        await d.start()

        def delivered() -> list[int]:
            return [n for b in got if b'"bad":true' not in b for n in numbers([b])]

        # the last record taken by the sink, not merely sent in a batch it refused
        await until(lambda: (tmp_path / "dead-letter.ndjson").exists() and 19 in delivered())
        await d.close()
    assert delivered() == [n for n in range(20) if n != 13]
    dead = (tmp_path / "dead-letter.ndjson").read_text().splitlines()
    assert [json.loads(x)["_record_id"] for x in dead] == ["id-13"]


async def test_without_splitting_the_whole_rejected_batch_is_dead_lettered(tmp_path: Path) -> None:
    fill(tmp_path, range(6), bad={2})

    def answer(body: bytes) -> web.Response | None:
        return web.Response(status=422) if b'"bad":true' in body else None

    async with http_sink(answer) as (url, _):
        d = delivery(tmp_path, url, batch_max=4, split=False)
        await d.start()
        await until(lambda: (tmp_path / "dead-letter.ndjson").exists())
        await d.close()
    dead = (tmp_path / "dead-letter.ndjson").read_text().splitlines()
    assert [json.loads(x)["n"] for x in dead] == [0, 1, 2, 3]


async def test_one_leader_among_workers_and_takeover(tmp_path: Path) -> None:
    fill(tmp_path, range(5))
    async with http_sink(lambda b: None) as (url, got):
        a, b = delivery(tmp_path, url), delivery(tmp_path, url)
        await a.start()
        await until(lambda: a.lock.held)
        await b.start()
        await until(lambda: len(numbers(got)) == 5)
        assert a.lock.held and not b.lock.held
        await a.close()  # the leader goes away: the other one takes over
        fill(tmp_path, range(5, 8))
        await until(lambda: len(numbers(got)) == 8)
        assert b.lock.held
        await b.close()
    assert numbers(got) == list(range(8))
