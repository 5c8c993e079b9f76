"""Seams between the transport and the redaction core, for real: the direction check lives in
the core (an NDJSON upload to a destination that does not redact requests passes unchanged),
every body path uses one content decoder (a truncated gzip stream is refused), and the bytes
held by stream redactors are accounted per stream (the gauge returns to 0)."""

from __future__ import annotations

import asyncio
import gzip
import io
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.helpers import ProxyProcess, serve_app, start_proxy
from tests.integration.conftest import make_config

HELD = 700  # bytes of an unfinished NDJSON line the partner sends before it stops


class Partner:
    """An upstream that records how each request body ended, and streams NDJSON answers that
    stop in the middle of a line until released."""

    def __init__(self) -> None:
        self.url = ""
        self.bodies: list[tuple[str, bytes]] = []  # (how it ended, what arrived)
        self.release = asyncio.Event()
        self.holding = 0

    async def upload(self, request: web.Request) -> web.StreamResponse:
        got = bytearray()
        try:
            async for chunk in request.content.iter_any():
                got += chunk
        except (aiohttp.ClientPayloadError, ConnectionResetError, asyncio.CancelledError):
            self.bodies.append(("aborted", bytes(got)))
            raise
        self.bodies.append(("complete" if request.content.is_eof() else "aborted", bytes(got)))
        return web.Response(body=bytes(got), content_type="application/x-ndjson")

    async def held(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await resp.prepare(request)
        await resp.write(b'{"text": "ok"}\n{"text": "' + b"x" * (HELD - 11))
        self.holding += 1
        await self.release.wait()
        assert request.transport is not None
        request.transport.close()  # the line never ends: the proxy's stream fails there
        return resp


@pytest.fixture(scope="module")
async def partner() -> AsyncIterator[Partner]:
    p = Partner()
    app = web.Application()
    app.router.add_post("/upload", p.upload)
    app.router.add_get("/held", p.held)
    async with serve_app(app) as p.url:
        yield p


@pytest.fixture(scope="module")
def shipped(partner: Partner, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    p = start_proxy(tmp_path_factory.mktemp("shipped"), env={"CHAT_PARTNER_URL": partner.url})
    yield p
    p.stop()


@pytest.fixture(scope="module")
def answers_only(partner: Partner, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    """``chat_partner`` redacting what comes back only (requests pass as they are)."""
    tmp = tmp_path_factory.mktemp("answers")

    def edit(d: dict[str, Any]) -> None:
        d["destinations"]["chat_partner"]["directions"] = ["response"]

    p = start_proxy(tmp, config=make_config(tmp / "cfg", edit), env={"CHAT_PARTNER_URL": partner.url})
    yield p
    p.stop()


async def post(url: str, data: bytes, **headers: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession(auto_decompress=False) as s:
        resp = await s.post(url, data=io.BytesIO(data), headers=headers)
        return resp.status, await resp.read()


async def test_ndjson_upload_passes_unchanged_where_requests_are_not_redacted(
    answers_only: ProxyProcess, partner: Partner
) -> None:
    partner.bodies.clear()
    body = b'{"text": "hi Maria Garcia", "extra": 1}\n\n{"text": "mail maria.garcia@example.com"}\n'
    status, _ = await post(answers_only.url + "/chat/upload", body, **{"Content-Type": "application/x-ndjson"})
    assert status == 200
    assert partner.bodies == [("complete", body)]  # byte for byte, as a JSON body on the same route


async def test_ndjson_upload_is_redacted_where_requests_are(shipped: ProxyProcess, partner: Partner) -> None:
    partner.bodies.clear()
    body = b'{"text": "hi Maria Garcia", "extra": 1}\n'
    status, _ = await post(shipped.url + "/chat/upload", body, **{"Content-Type": "application/x-ndjson"})
    assert status == 200
    assert partner.bodies == [("complete", b'{"text":"hi <PERSON>"}\n')]


async def test_truncated_gzip_upload_is_refused_and_the_upstream_request_aborted(
    shipped: ProxyProcess, partner: Partner
) -> None:
    partner.bodies.clear()
    lines = b"".join(b'{"text": "line %d"}\n' % i for i in range(300))
    z = gzip.compress(lines)
    status, answer = await post(
        shipped.url + "/chat/upload",
        z[: len(z) - 12],  # the end of the deflate stream and the gzip trailer are missing
        **{"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"},
    )
    assert status == 400
    assert b"truncated gzip body" in answer
    for _ in range(50):
        if partner.bodies:
            break
        await asyncio.sleep(0.1)
    assert [how for how, _ in partner.bodies] == ["aborted"]
    assert len(partner.bodies[0][1]) > 0  # lines before the end were streamed on, then cut


def held_gauge(admin: str) -> float:
    import urllib.request

    with urllib.request.urlopen(admin + "/metrics", timeout=5) as r:
        text = r.read().decode()
    m = re.search(r"^proxy_stream_bytes_held\s+(\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


async def test_bytes_held_is_per_stream_and_returns_to_zero(answers_only: ProxyProcess, partner: Partner) -> None:
    partner.release.clear()
    partner.holding = 0

    async def fetch(s: aiohttp.ClientSession) -> None:
        resp = await s.get(answers_only.url + "/chat/held")
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()

    async with aiohttp.ClientSession() as s:
        tasks = [asyncio.create_task(fetch(s)) for _ in range(3)]
        for _ in range(100):
            if partner.holding == 3:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        during = await asyncio.to_thread(held_gauge, answers_only.admin)
        partner.release.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 20)
    after = 0.0
    for _ in range(50):
        after = await asyncio.to_thread(held_gauge, answers_only.admin)
        if after == 0:
            break
        await asyncio.sleep(0.1)
    assert during >= 3 * (HELD - 16)  # every stream's unfinished line counts, not the last writer's
    assert after == 0
