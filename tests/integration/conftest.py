"""Real servers for the integration tests: one recording upstream and one proxy per module."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import ROOT, ProxyProcess, Upstream, start_proxy, upstream_server


def make_config(tmp: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """The shipped proxy.yaml with ``edit`` applied, written under ``tmp``."""
    data = yaml.safe_load((ROOT / "config" / "proxy.yaml").read_text())
    data["detection"]["recognizers"] = str(ROOT / "config" / "recognizers.yaml")
    edit(data)
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "proxy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
async def upstream() -> AsyncIterator[Upstream]:
    async with upstream_server() as up:
        yield up


@pytest.fixture(scope="module")
def proxy(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    workdir = tmp_path_factory.mktemp("proxy")
    p = start_proxy(workdir, env={"CHAT_PARTNER_URL": upstream.url})
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture
def clean(upstream: Upstream) -> Upstream:
    upstream.received.clear()
    upstream.handler = None
    return upstream
