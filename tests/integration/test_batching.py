"""Batching never mixes messages up: hundreds of concurrent different messages come back exactly
as each does alone."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import aiohttp

from tests.helpers import running_proxy
from tests.integration.conftest import make_config

FIRST = ["Maria", "Kwame", "Yuki", "Olga", "Pierre", "Aisha", "Liam", "Chen", "Fatima", "Diego"]
LAST = ["Garcia", "Mensah", "Tanaka", "Ivanova", "Dubois", "Khan", "Murphy", "Wei", "Haddad", "Lopez"]


def message(i: int) -> dict[str, Any]:
    name = f"{FIRST[i % 10]} {LAST[(i // 10) % 10]}"
    mail = f"user{i}@example{i % 7}.com"
    return {
        "conversation_id": f"c-{i}",
        "text": f"msg {i}: I am {name}, write to {mail}, I am {20 + i % 60} years old, zip {10000 + i}",
        "survey": {"age": 20 + i % 60},
    }


def batch_stats(metrics: str) -> tuple[float, float]:
    count = float(re.search(r"^proxy_detection_batch_texts_count (\S+)$", metrics, re.M).group(1))  # type: ignore[union-attr]
    total = float(re.search(r"^proxy_detection_batch_texts_sum (\S+)$", metrics, re.M).group(1))  # type: ignore[union-attr]
    return count, total


async def test_concurrent_messages_come_back_as_alone(tmp_path: Path) -> None:
    def edit(d: dict[str, Any]) -> None:
        d["detection"]["batch_window_ms"] = 5
        d["detection"]["max_batch"] = 64

    cfg = make_config(tmp_path / "cfg", edit)
    n = 300
    with running_proxy(tmp_path, config=cfg, workers=1) as p:  # demo echo upstream answers with what it got
        async with aiohttp.ClientSession() as s:

            async def send(i: int) -> str:
                async with s.post(p.url + "/chat/m", json=message(i)) as r:
                    assert r.status == 200
                    return await r.text()

            alone = [await send(i) for i in range(n)]
            async with s.get(p.admin + "/metrics") as r:
                count_before, total_before = batch_stats(await r.text())
            together = await asyncio.gather(*(send(i) for i in range(n)))
            async with s.get(p.admin + "/metrics") as r:
                count_after, total_after = batch_stats(await r.text())
    assert together == alone
    for i, out in enumerate(alone):
        assert f"msg {i}:" in out
        assert f"user{i}@" not in out
        assert "<EMAIL_ADDRESS>" in out
    # the concurrent run really went through shared batches
    assert total_after - total_before == n
    assert count_after - count_before < n / 2
