"""The core with a vault injected: pseudonyms resolved in one vault round-trip per plan, tokens
un-masked in answers (JSON, text, NDJSON, SSE, WebSocket), stream-safe. A fake detector (as in
test_core); the vault is the real one on SQLite in a temp dir, counted per call."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.config import Destination
from proxy.errors import PolicyError
from proxy.policy import Policy
from proxy.redaction import Limits, Redaction, run
from proxy.redaction.stream import Passthrough
from proxy.redaction.unmask import MAX_TOKEN, StreamUnmasker
from proxy.vault import TOKEN, Vault
from proxy.vault.sqlite_store import SqliteStore
from recognizers.types import Finding

NAME, EMAIL = "Ottoline Brackenbury", "ob.canary.4410@example.net"
RX = re.compile(rf"(?P<PERSON>{NAME})|(?P<EMAIL_ADDRESS>{re.escape(EMAIL)})", re.IGNORECASE)


class CountingVault(Vault):
    def __init__(self, path: Path) -> None:
        super().__init__(SqliteStore(path), b"index-key", bytes(range(32)), 3600)
        self.issues = 0
        self.reveals = 0

    async def pseudonymize_many(self, items: Sequence[tuple[str, str, str]]) -> list[str]:
        self.issues += 1
        return await super().pseudonymize_many(items)

    async def reveal(self, tokens: Sequence[str]) -> dict[str, str]:
        self.reveals += 1
        return await super().reveal(tokens)


async def detect(texts: list[str]) -> list[list[Finding]]:
    return [[Finding(m.start(), m.end(), m.lastgroup or "X", 0.9, "fake") for m in RX.finditer(t)] for t in texts]


@pytest.fixture
async def vault(tmp_path: Path) -> AsyncIterator[CountingVault]:
    v = CountingVault(tmp_path / "vault")
    yield v
    await v.close()


def assist(vault: Vault | None, scope: str = "conversation") -> Redaction:
    dest = Destination.model_validate(
        {
            "directions": ["request"],
            "unmask": ["response"],
            "default_field": "drop",
            "fields": {"conversation_id": "keep", "text": "scan"},
            "entities": {"default": "pseudonym"},
            "pseudonyms": {"scope": scope},
        }
    )
    return Redaction(Policy("assist", dest, b"k"), Limits(max_message_bytes=4096, stream_window_bytes=64), vault)


def msg(conv: str, text: str) -> bytes:
    return json.dumps({"conversation_id": conv, "text": text}).encode()


async def test_pseudonyms_in_one_round_trip_same_token_per_conversation(vault: CountingVault) -> None:
    red = assist(vault)
    body = msg("c-1", f"I am {NAME}, mail {EMAIL}; again {NAME.lower()}")
    plan = red.plan_request(query=[("q", NAME)], headers=[], ctype="application/json", charset=None, body=body)
    parts, events = await run(plan, detect)
    assert vault.issues == 1  # query and body, three findings: one vault call
    out = json.loads(parts.body or b"")
    assert NAME not in out["text"] and EMAIL not in out["text"] and NAME.lower() not in out["text"]
    tokens = TOKEN.findall(out["text"])
    assert len(tokens) == 3 and tokens[0] == tokens[2] and tokens[1].startswith("<EMAIL_ADDRESS_")
    assert parts.query[0][1] == tokens[0]  # the query is in the body's conversation
    assert [e.operator for e in events if e.entity] == ["pseudonym"] * 4
    assert all(NAME not in json.dumps(e.as_dict()) for e in events)
    # the same conversation later: the same token; another conversation: another one
    again, _ = await run(red.plan_line(msg("c-1", f"{NAME} here")), detect)
    other, _ = await run(red.plan_line(msg("c-2", f"{NAME} here")), detect)
    assert TOKEN.findall(again.decode())[0] == tokens[0]
    assert TOKEN.findall(other.decode())[0] != tokens[0]


async def test_scope_from_the_transport_and_global(vault: CountingVault) -> None:
    red = assist(vault)
    a, _ = await run(red.plan_message(NAME, scope="hdr-1"), detect)
    b, _ = await run(red.plan_message(f"hi {NAME}", scope="hdr-1"), detect)
    c, _ = await run(red.plan_message(NAME), detect)  # no conversation known: a scope of its own
    assert TOKEN.findall(str(a)) == TOKEN.findall(str(b)) != TOKEN.findall(str(c))
    g = assist(vault, scope="global")
    x, _ = await run(g.plan_line(msg("c-1", NAME)), detect)
    y, _ = await run(g.plan_line(msg("c-9", NAME)), detect)
    assert TOKEN.findall(x.decode()) == TOKEN.findall(y.decode())


async def test_no_vault_fails_closed() -> None:
    red = assist(None)
    with pytest.raises(PolicyError):
        await run(red.plan_line(msg("c-1", NAME)), detect)


async def test_streams_pseudonymise_with_one_vault_call_per_chunk(vault: CountingVault) -> None:
    red = assist(vault)
    s = red.stream("application/x-ndjson", "request", detect, lambda e: None, scope="c-5")
    out = await s.feed(msg("c-5", NAME) + b"\n" + json.dumps({"text": NAME}).encode() + b"\n")
    out += await s.flush()
    assert vault.issues == 1
    lines = [json.loads(x) for x in out.decode().splitlines()]
    assert TOKEN.findall(lines[0]["text"]) == TOKEN.findall(lines[1]["text"])
    m = red.messages("request", detect, lambda e: None, scope="ws-1")
    got = await m.feed(f"hello {NAME}".encode())
    assert NAME.encode() not in got and TOKEN.search(got.decode())
    t = red.stream("text/plain", "request", detect, lambda e: None, scope="c-5")
    text = (f"{NAME} wrote a long letter " * 6).encode()
    res = await t.feed(text[:50]) + await t.feed(text[50:]) + await t.flush()
    assert NAME.encode() not in res and len(set(TOKEN.findall(res.decode()))) == 1


async def test_unmask_json_text_ndjson_sse_and_messages(vault: CountingVault) -> None:
    red = assist(vault)
    body, _ = await run(red.plan_line(msg("c-1", f"{NAME} <{EMAIL}>")), detect)
    name_t, mail_t = TOKEN.findall(body.decode())
    forged = "<PERSON_00112233445566aa>"
    assert red.response_mode("application/json", True) == "unmask"
    assert red.response_mode("image/png", True) == "relay"
    # JSON: values JSON-escaped; the \u003c form of a token is found too
    escaped = b'"\\u003c' + mail_t[1:-1].encode() + b'\\u003e"'  # as Go's encoder writes < and >
    answer = json.dumps({"reply": f"Dear {name_t}, {forged}"}).encode()[:-1] + b', "esc": ' + escaped + b"}"
    u = red.unmasker("application/json")
    out = await u.feed(answer) + await u.flush()
    got = json.loads(out)
    assert got["reply"] == f"Dear {NAME}, {forged}"
    assert got["esc"] == EMAIL
    # SSE split in the middle of a token, byte by byte
    sse = f"data: {json.dumps({'t': f'hi {name_t} and {mail_t}'})}\n\n".encode()
    u = red.stream("text/event-stream", "response", detect, lambda e: None)
    out = b"".join([await u.feed(sse[i : i + 1]) for i in range(len(sse))]) + await u.flush()
    assert json.loads(out.decode()[6:].strip()) == {"t": f"hi {NAME} and {EMAIL}"}
    # text: as is
    u = red.unmasker("text/plain")
    assert await u.feed(f"{name_t}!".encode()) + await u.flush() == f"{NAME}!".encode()
    # WebSocket: JSON message escaped, text message plain; the request direction is not unmasked
    m = red.messages("response", detect, lambda e: None)
    assert json.loads(await m.feed(json.dumps({"a": name_t}).encode())) == {"a": NAME}
    assert await m.feed(f"{forged} {mail_t}".encode()) == f"{forged} {EMAIL}".encode()
    assert isinstance(red.unmasker("image/png"), Passthrough)


async def test_unmask_one_reveal_per_chunk_none_without_tokens(vault: CountingVault) -> None:
    red = assist(vault)
    body, _ = await run(red.plan_line(msg("c-1", NAME)), detect)
    (tok,) = TOKEN.findall(body.decode())
    u = red.unmasker("text/plain")
    await u.feed(b"nothing to see here " * 10)
    assert vault.reveals == 0
    await u.feed(f"{tok} {tok} {tok}".encode())
    await u.flush()
    assert vault.reveals == 1


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8), pad=st.text(max_size=30))
def test_token_split_anywhere_is_found_whole(
    tmp_path_factory: pytest.TempPathFactory, cuts: list[int], pad: str
) -> None:
    """Wherever the chunks are cut, what comes out is the answer with every known token replaced,
    and the unmasker never holds more than a token's length."""
    values = {"<PERSON_0123456789abcdef>": 'Ada "Q" Byron', "<EMAIL_ADDRESS_fedcba9876543210>": "a@b.c"}

    async def reveal(tokens: Sequence[str]) -> dict[str, str]:
        return {t: values[t] for t in tokens if t in values}

    text = f"{pad}<PERSON_0123456789abcdef> and <EMAIL_ADDRESS_fedcba9876543210> <PERSON_ffffffffffffffff>< \\u003"
    data = text.encode()
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]

    async def go() -> bytes:
        u = StreamUnmasker(reveal, json=False)
        out = b""
        for c in chunks:
            out += await u.feed(c)
            assert u.held <= MAX_TOKEN
        return out + await u.flush()

    out = asyncio.run(go()).decode()
    assert out == text.replace("<PERSON_0123456789abcdef>", 'Ada "Q" Byron').replace(
        "<EMAIL_ADDRESS_fedcba9876543210>", "a@b.c"
    )


def test_config_refuses_pseudonym_on_a_field_and_unmask_of_a_redacted_direction() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="not to a field"):
        Destination.model_validate({"fields": {"x": "pseudonym"}})
    with pytest.raises(ValidationError, match="also a redacted direction"):
        Destination.model_validate({"directions": ["request", "response"], "unmask": ["response"]})
    with pytest.raises(ValidationError):  # what goes to the partner is never un-masked
        Destination.model_validate({"directions": [], "unmask": ["request"]})
