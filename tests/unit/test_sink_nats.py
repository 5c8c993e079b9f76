"""The NATS JetStream forwarder: its error mapping (table tests), then against a real
``nats-server -js`` on 127.0.0.1 (no mocks): publish acks, de-duplication by ``Nats-Msg-Id``,
stream creation, the dead-letter cases, an unreachable server and the duplicate-window edge."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import nats.errors
import nats.js.errors
import pytest

from proxy.config import NatsSink, Sink
from proxy.sinks.forwarders import Outcome
from proxy.sinks.nats import NatsForwarder, _subject_matches, classify_publish_error, message_id
from proxy.sinks.records import encode_record, record_id_of
from proxy.sinks.spool import Row
from tests.helpers import free_port
from tests.nats_server import NatsServer, nats_server, read_stream, self_signed


def rows(*ns: int, pad: int = 0) -> list[Row]:
    return [Row(n, 1_700_000_000.0 + n, encode_record({"n": n, "pad": "x" * pad}, f"id{n:04d}")) for n in ns]


# ---- the mapping, without a server -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("exc", "kind", "split"),
    [
        (nats.js.errors.ServiceUnavailableError(code=503, err_code=10077, description="x"), "retry", True),
        (nats.js.errors.ServerError(code=500, err_code=10000), "retry", True),
        (nats.js.errors.APIError(code=429), "retry", True),
        (nats.js.errors.APIError(code=408), "retry", True),
        (nats.js.errors.BadRequestError(code=400, err_code=10054), "rejected", True),  # message too large
        (nats.js.errors.BadRequestError(code=400, err_code=10060), "rejected", False),  # another stream's subject
        (nats.js.errors.NotFoundError(code=404, err_code=10059), "rejected", False),  # stream not found
        (nats.js.errors.BadRequestError(code=400, err_code=12345), "rejected", True),  # other 4xx: as HTTP 4xx
        (nats.js.errors.NoStreamResponseError(), "rejected", False),  # settled by a stream check
        (nats.errors.MaxPayloadError(), "rejected", True),
        (nats.errors.TimeoutError(), "retry", True),
        (TimeoutError(), "retry", True),
        (nats.errors.ConnectionClosedError(), "retry", True),
        (nats.errors.OutboundBufferLimitError(), "retry", True),
        (ConnectionResetError(), "retry", True),
    ],
)
def test_publish_errors_map_like_the_http_sink(exc: BaseException, kind: str, split: bool) -> None:
    out = classify_publish_error(exc)
    assert (out.kind, out.split) == (kind, split)
    assert out.reason and " " not in out.reason.split(" ", 1)[0]


def test_message_id_is_the_record_id() -> None:
    for value in ({"a": 1}, {"message": 'quote " and \\ backslash'}, {"_record_id": "client-sent"}):
        body = encode_record(value, "0123abcd")
        assert message_id(body) == record_id_of(body) == "0123abcd"
    odd = b'{"_record_id":"x\\"y","n":1}'  # not our encoding: parsed
    assert message_id(odd) == 'x"y'
    assert message_id(b'{"n":1}').startswith("sha256-")
    assert message_id(b'{"n":1}') == message_id(b'{"n":1}')


def test_subject_matching() -> None:
    assert _subject_matches("logs.redacted", "logs.redacted")
    assert _subject_matches("logs.*", "logs.redacted")
    assert _subject_matches("logs.>", "logs.redacted.eu")
    assert not _subject_matches("logs.*", "logs.redacted.eu")
    assert not _subject_matches("logs.other", "logs.redacted")
    assert not _subject_matches("logs.>", "logs")  # ">" needs at least one more token


def test_nats_wins_over_every_other_sink() -> None:
    assert Sink(nats=NatsSink(url="nats://127.0.0.1:4222"), http={"url": "http://x"}, file={"path": "f"}).chosen == (
        "nats"
    )
    assert Sink(http={"url": "http://x"}, file={"path": "f"}).chosen == "http"
    assert Sink(nats=NatsSink(url=""), file={"path": "f"}).chosen == "file"


def test_nats_config_refuses_bad_names() -> None:
    with pytest.raises(ValueError, match="subject"):
        NatsSink(url="nats://x", subject="logs.*")
    with pytest.raises(ValueError, match="stream"):
        NatsSink(url="nats://x", stream="A.B")


def test_credentials_need_nkeys(tmp_path: Path) -> None:
    creds = str(tmp_path / "user.creds")
    if importlib.util.find_spec("nkeys") is None:
        with pytest.raises(ValueError, match="nkeys"):
            NatsSink(url="nats://x", credentials=creds)
    else:
        assert NatsSink(url="nats://x", credentials=creds).credentials == creds


# ---- against a real nats-server ------------------------------------------------------------------
@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    with nats_server(tmp_path / "js") as s:
        yield s


async def add_stream(url: str, **config: object) -> None:
    nc = await nats.connect(url, allow_reconnect=False)
    try:
        await nc.jetstream().add_stream(**config)
    finally:
        await nc.close()


async def test_a_batch_is_stored_once_in_order_and_a_resend_is_dropped(server: NatsServer) -> None:
    fw = NatsForwarder(NatsSink(url=server.url, subject="logs.t", stream="T"))
    try:
        first = await fw.send(rows(*range(1, 101)))
        assert first == Outcome("delivered")
        again = await fw.send(rows(*range(51, 111)))  # 50 already stored (a lost ack's redelivery)
        assert again.kind == "delivered" and again.duplicates == 50
    finally:
        await fw.close()
    stored = await read_stream(server.url, "T")
    assert [m.record["n"] for m in stored] == list(range(1, 111))
    assert all(m.msg_id == m.record["_record_id"] for m in stored)


async def test_the_stream_is_created_with_the_configured_window(server: NatsServer) -> None:
    fw = NatsForwarder(NatsSink(url=server.url, subject="logs.c", stream="CREATED", duplicate_window=42))
    try:
        assert (await fw.send(rows(1))).kind == "delivered"
    finally:
        await fw.close()
    nc = await nats.connect(server.url)
    try:
        info = await nc.jetstream().stream_info("CREATED")
    finally:
        await nc.close()
    assert info.config.subjects == ["logs.c"] and info.config.duplicate_window == 42
    assert info.state.messages == 1


async def test_a_stream_deleted_under_us_is_created_again(server: NatsServer) -> None:
    fw = NatsForwarder(NatsSink(url=server.url, subject="logs.d", stream="D"))
    try:
        assert (await fw.send(rows(1))).kind == "delivered"
        nc = await nats.connect(server.url)
        await nc.jetstream().delete_stream("D")
        await nc.close()
        out = await fw.send(rows(2))
        assert (out.kind, out.reason) == ("retry", "stream-created")
        assert (await fw.send(rows(2))).kind == "delivered"
    finally:
        await fw.close()
    assert [m.record["n"] for m in await read_stream(server.url, "D")] == [2]


async def test_no_stream_without_create_is_rejected_whole(server: NatsServer) -> None:
    fw = NatsForwarder(NatsSink(url=server.url, subject="logs.none", stream="NONE", create_stream=False))
    try:
        out = await fw.send(rows(1, 2, 3))
    finally:
        await fw.close()
    assert (out.kind, out.reason, out.split) == ("rejected", "no-stream", False)


async def test_a_stream_that_does_not_take_the_subject_is_rejected_whole(server: NatsServer) -> None:
    await add_stream(server.url, name="ELSE", subjects=["other.subject"])
    fw = NatsForwarder(NatsSink(url=server.url, subject="logs.unbound", stream="ELSE"))
    try:
        out = await fw.send(rows(1, 2))
    finally:
        await fw.close()
    assert (out.kind, out.reason, out.split) == ("rejected", "subject-not-bound", False)


async def test_a_subject_of_another_stream_is_rejected_whole(server: NatsServer) -> None:
    await add_stream(server.url, name="OWNER", subjects=["logs.owned"])
    await add_stream(server.url, name="MINE", subjects=["logs.mine"])
    fw = NatsForwarder(NatsSink(url=server.url, subject="logs.owned", stream="MINE"))
    try:
        out = await fw.send(rows(1))
    finally:
        await fw.close()
    assert (out.kind, out.split) == ("rejected", False) and out.reason == "jetstream 400 10060"
    assert await read_stream(server.url, "OWNER") == [], "never stored in a stream it was not meant for"


async def test_a_subject_taken_by_another_stream_is_not_created_twice(server: NatsServer) -> None:
    """The configured stream is missing and another stream takes the subject: creating it fails
    (subjects overlap), and the publishes are refused as another stream's subject: dead-letter."""
    await add_stream(server.url, name="THEIRS", subjects=["logs.>"])
    fw = NatsForwarder(NatsSink(url=server.url, subject="logs.redacted", stream="OURS"))
    try:
        out = await fw.send(rows(1, 2))
    finally:
        await fw.close()
    assert (out.kind, out.split, out.reason) == ("rejected", False, "jetstream 400 10060")
    assert await read_stream(server.url, "THEIRS") == []


async def test_a_record_over_the_streams_limit_is_rejected_alone(server: NatsServer) -> None:
    await add_stream(server.url, name="SMALL", subjects=["logs.small"], max_msg_size=200)
    fw = NatsForwarder(NatsSink(url=server.url, subject="logs.small", stream="SMALL"))
    try:
        batch = await fw.send([*rows(1, 2), *rows(3, pad=400), *rows(4)])
        assert (batch.kind, batch.split, batch.reason) == ("rejected", True, "jetstream 400 10054")
        alone = await fw.send(rows(3, pad=400))
        assert alone.kind == "rejected"
        rest = await fw.send(rows(4))
        assert rest.kind == "delivered"
    finally:
        await fw.close()
    assert [m.record["n"] for m in await read_stream(server.url, "SMALL")] == [1, 2, 4]


async def test_a_full_stream_is_a_retry(server: NatsServer) -> None:
    await add_stream(server.url, name="FULL", subjects=["logs.full"], max_msgs=2, discard="new")
    fw = NatsForwarder(NatsSink(url=server.url, subject="logs.full", stream="FULL"))
    try:
        out = await fw.send(rows(1, 2, 3))
    finally:
        await fw.close()
    assert (out.kind, out.reason) == ("retry", "jetstream 503 10077")


async def test_no_server_is_a_retry(tmp_path: Path) -> None:
    fw = NatsForwarder(NatsSink(url=f"nats://127.0.0.1:{free_port()}", timeout=30))
    try:
        out = await fw.send(rows(1))
    finally:
        await fw.close()
    # refused, not "connect-timeout": nats-py gives up on a refusing server instead of retrying it
    # until the timeout, so an outage shows in the retry metrics at once
    assert (out.kind, out.reason) == ("retry", "connect NoServersError")


async def test_a_server_paused_mid_batch_is_an_ack_timeout_then_a_clean_resend(server: NatsServer) -> None:
    fw = NatsForwarder(NatsSink(url=server.url, subject="logs.p", stream="P", timeout=1))
    try:
        assert (await fw.send(rows(1))).kind == "delivered"
        server.pause()
        try:
            out = await fw.send(rows(2, 3, 4))
        finally:
            server.resume()
        assert (out.kind, out.reason) == ("retry", "ack-timeout")
        out = await fw.send(rows(2, 3, 4))
        assert out.kind == "delivered"
    finally:
        await fw.close()
    assert [m.record["n"] for m in await read_stream(server.url, "P")] == [1, 2, 3, 4]


async def test_duplicate_window_edge_a_late_redelivery_is_stored_again(server: NatsServer) -> None:
    """What ops must size: within ``duplicate_window`` a redelivery is dropped, after it the same
    record (same ``_record_id``) is stored a second time."""
    fw = NatsForwarder(NatsSink(url=server.url, subject="logs.w", stream="W", duplicate_window=1.0))
    try:
        assert (await fw.send(rows(1, 2))).duplicates == 0
        assert (await fw.send(rows(1, 2))).duplicates == 2  # inside the window: dropped
        await asyncio.sleep(1.6)  # the server purges ids past the window on a timer
        late = await fw.send(rows(1, 2))
    finally:
        await fw.close()
    assert late.kind == "delivered" and late.duplicates == 0
    stored = await read_stream(server.url, "W")
    ids = [m.record["_record_id"] for m in stored]
    assert ids == ["id0001", "id0002", "id0001", "id0002"], json.dumps(ids)


async def test_tls_with_the_configured_ca_and_refused_without_it(tmp_path: Path) -> None:
    ca, cert, key = self_signed(tmp_path / "pki")
    with nats_server(tmp_path / "js", tls=(cert, key)) as server:
        trusting = NatsForwarder(NatsSink(url=server.url, subject="logs.tls", stream="TLS", tls={"ca_file": str(ca)}))
        plain = NatsForwarder(NatsSink(url=server.url, subject="logs.tls", stream="TLS", timeout=3))
        untrusting = NatsForwarder(NatsSink(url=f"tls://127.0.0.1:{server.port}", subject="logs.tls", stream="TLS"))
        try:
            assert (await trusting.send(rows(1, 2))).kind == "delivered"
            refused = await plain.send(rows(3))  # the server requires TLS; no TLS configured
            unverified = await untrusting.send(rows(3))  # TLS, but the system store lacks the test CA
        finally:
            for fw in (trusting, plain, untrusting):
                await fw.close()
        assert refused.kind == "retry" and refused.reason.startswith("connect")
        assert unverified.kind == "retry" and unverified.reason.startswith("connect")
        nc = await nats.connect(server.url, tls=ssl.create_default_context(cafile=str(ca)))
        try:
            info = await nc.jetstream().stream_info("TLS")
        finally:
            await nc.close()
        assert info.state.messages == 2, "only the records sent over verified TLS were stored"
