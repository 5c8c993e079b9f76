"""The batcher of DetectionService against a fake backend (the detector is the faked boundary):
results reach the right callers, batches respect their limits, every failure fails closed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from proxy.detection import DetectionService, DetectionTimeout
from recognizers.types import DetectionError, Finding


class FakeBackend:
    """Answers each text with one finding naming the text; records the batches it ran."""

    def __init__(self, delay: float = 0.0, fail: Callable[[list[str]], bool] | None = None) -> None:
        self.delay = delay
        self.fail = fail
        self.batches: list[list[str]] = []
        self.on_state: Callable[[bool], None] | None = None
        self.ready = False

    async def start(self) -> None:
        self.ready = True

    async def run(self, texts: list[str]) -> list[list[Finding]]:
        self.batches.append(list(texts))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail is not None and self.fail(texts):
            raise DetectionError("fake failure")
        return [[Finding(0, len(t), "ECHO", 1.0, t)] for t in texts]

    async def close(self) -> None:
        self.ready = False


async def service(backend: FakeBackend, **kw: float) -> DetectionService:
    svc = DetectionService(backend, **kw)  # type: ignore[arg-type]
    await svc.start()
    return svc


def names(results: list[list[Finding]]) -> list[str]:
    return [f.recognizer for found in results for f in found]


async def test_each_caller_gets_its_own_findings_in_order() -> None:
    backend = FakeBackend(delay=0.01)
    svc = await service(backend)
    try:
        payloads = [[f"p{i}-t{j}" for j in range(i % 4)] for i in range(40)]
        results = await asyncio.gather(*(svc.analyze(p) for p in payloads))
        for p, r in zip(payloads, results, strict=True):
            assert names(r) == p
        assert len(backend.batches) < len([p for p in payloads if p])  # they did share batches
    finally:
        await svc.close()


async def test_batches_are_bounded_by_texts_and_characters() -> None:
    backend = FakeBackend(delay=0.01)
    svc = await service(backend, max_batch=4, max_batch_chars=1024)
    try:
        small = [[f"s{i}" + "a" * 100] for i in range(12)]
        big = [["b" * 5000]]
        await asyncio.gather(*(svc.analyze(p) for p in [*small, *big, *small]))
        for batch in backend.batches:
            assert len(batch) <= 4
            assert len(batch) == 1 or sum(map(len, batch)) <= 1024
        assert ["b" * 5000] in backend.batches  # a payload over the limit goes alone
    finally:
        await svc.close()


async def test_a_caller_that_gave_up_is_not_analysed() -> None:
    backend = FakeBackend(delay=0.3)
    svc = await service(backend, deadline=0.1, kill_after=5.0)
    try:
        first = asyncio.ensure_future(svc.analyze(["first"]))
        await asyncio.sleep(0.01)  # "first" runs now; "late" waits behind it past its deadline
        with pytest.raises(DetectionTimeout):
            await svc.analyze(["late"])
        with pytest.raises(DetectionTimeout):
            await first
        await asyncio.sleep(0.4)
        assert ["late"] not in backend.batches
    finally:
        await svc.close()


async def test_a_batch_past_the_kill_limit_fails_closed_and_the_next_one_runs() -> None:
    backend = FakeBackend(delay=0.5)
    svc = await service(backend, deadline=0.1, kill_after=0.2)
    try:
        with pytest.raises(DetectionTimeout):
            await svc.analyze(["stuck"])
        backend.delay = 0.0
        await asyncio.sleep(0.2)
        assert names(await svc.analyze(["next"])) == ["next"]
    finally:
        await svc.close()


async def test_a_failing_batch_fails_all_its_callers_and_only_them() -> None:
    backend = FakeBackend(delay=0.02, fail=lambda texts: "poison" in texts)
    svc = await service(backend)
    try:
        blocker = asyncio.ensure_future(svc.analyze(["blocker"]))
        await asyncio.sleep(0.005)
        together = [asyncio.ensure_future(svc.analyze([t])) for t in ("poison", "bystander")]
        assert names(await blocker) == ["blocker"]
        for fut in together:  # one batch: the bystander fails closed with the poison
            with pytest.raises(DetectionError):
                await fut
        assert names(await svc.analyze(["after"])) == ["after"]
    finally:
        await svc.close()


async def test_not_ready_fails_at_once() -> None:
    backend = FakeBackend()
    svc = await service(backend)
    backend.ready = False  # e.g. the detection process is restarting
    try:
        with pytest.raises(DetectionError):
            await asyncio.wait_for(svc.analyze(["x"]), 0.5)
    finally:
        await svc.close()
