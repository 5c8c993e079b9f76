"""The pseudonym vault against both stores: embedded SQLite and a real redis-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from proxy.errors import VaultError
from proxy.vault import TOKEN, Vault, find_tokens, normalise, unmask_text
from proxy.vault.redis_store import RedisStore
from proxy.vault.sqlite_store import DB_NAME, SqliteStore
from tests.redis_server import RedisServer, redis_server

INDEX_KEY = b"test-pseudonym-key"
SEAL_KEY = bytes(range(32))
CANARY_NAME = "Zebulon Quixotewright"
CANARY_EMAIL = "zq.canary.7731@example.org"


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    with redis_server() as r:
        yield r


@pytest.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[str, Any]]:
    if request.param == "sqlite":
        yield "sqlite", tmp_path / "vault"
        return
    server: RedisServer = request.getfixturevalue("redis")
    server.cli("FLUSHALL")
    yield "redis", server


def make_vault(where: tuple[str, Any], ttl: float = 3600, seal_key: bytes = SEAL_KEY) -> Vault:
    kind, arg = where
    st = SqliteStore(arg) if kind == "sqlite" else RedisStore(arg.url)
    return Vault(st, INDEX_KEY, seal_key, ttl)


def at_rest(where: tuple[str, Any]) -> bytes:
    """Everything the store holds, read directly (SQLite's files; every Redis key dumped)."""
    kind, arg = where
    if kind == "sqlite":
        return b"".join(p.read_bytes() for p in sorted(Path(arg).glob(DB_NAME + "*")))
    return arg.dump_all()  # type: ignore[no-any-return]


async def test_same_person_same_token_within_a_scope(store: tuple[str, Any]) -> None:
    v = make_vault(store)
    try:
        a = await v.pseudonymize("PERSON", [CANARY_NAME, CANARY_NAME.upper(), " zebulon   quixotewright "], "c-1")
        assert len(set(a)) == 1 and TOKEN.fullmatch(a[0]) and a[0].startswith("<PERSON_")
        again = await v.pseudonymize("PERSON", [CANARY_NAME], "c-1")
        assert again == a[:1]
        other_scope = await v.pseudonymize("PERSON", [CANARY_NAME], "c-2")
        assert other_scope[0] != a[0]
        email = await v.pseudonymize("EMAIL_ADDRESS", [CANARY_EMAIL], "c-1")
        assert email[0].startswith("<EMAIL_ADDRESS_") and email[0] != a[0]
        # the id is random: a second vault (same keys, fresh store) would not derive it
        assert CANARY_NAME.lower().replace(" ", "") not in a[0].lower()
    finally:
        await v.close()


async def test_reveal_restores_first_seen_value_and_ignores_unknown(store: tuple[str, Any]) -> None:
    v = make_vault(store)
    try:
        (tok,) = await v.pseudonymize("PERSON", [CANARY_NAME], "c-1")
        forged = "<PERSON_0123456789abcdef>"
        got = await v.reveal([tok, forged, "<not a token>"])
        assert got == {tok: CANARY_NAME}
        text = f"Hello {tok}, meet {forged}."
        assert unmask_text(text, got) == f"Hello {CANARY_NAME}, meet {forged}."
        assert find_tokens(text) == [tok, forged]
    finally:
        await v.close()


async def test_wrong_key_reveals_nothing(store: tuple[str, Any]) -> None:
    v = make_vault(store)
    try:
        (tok,) = await v.pseudonymize("PERSON", [CANARY_NAME], "c-1")
    finally:
        await v.close()
    other = make_vault(store, seal_key=bytes(32))
    try:
        assert await other.reveal([tok]) == {}
    finally:
        await other.close()


async def test_lookup_and_erase_cover_every_scope(store: tuple[str, Any]) -> None:
    v = make_vault(store)
    try:
        t1 = (await v.pseudonymize("EMAIL_ADDRESS", [CANARY_EMAIL], "c-1"))[0]
        t2 = (await v.pseudonymize("EMAIL_ADDRESS", [CANARY_EMAIL.upper()], "c-2"))[0]
        t3 = (await v.pseudonymize("EMAIL_ADDRESS", [CANARY_EMAIL], "global"))[0]
        keep = (await v.pseudonymize("EMAIL_ADDRESS", ["someone.else@example.org"], "c-1"))[0]
        assert await v.lookup("EMAIL_ADDRESS", CANARY_EMAIL) == sorted([t1, t2, t3])
        assert await v.lookup("PERSON", CANARY_EMAIL) == []  # the entity type is part of the person
        sealed_before = at_rest(store)
        assert await v.erase("EMAIL_ADDRESS", CANARY_EMAIL) == 3
        assert await v.reveal([t1, t2, t3]) == {}
        assert await v.reveal([keep]) != {}
        assert await v.lookup("EMAIL_ADDRESS", CANARY_EMAIL) == []
        assert await v.erase("EMAIL_ADDRESS", CANARY_EMAIL) == 0
        new = (await v.pseudonymize("EMAIL_ADDRESS", [CANARY_EMAIL], "c-1"))[0]
        assert new not in (t1, t2, t3)
        after = at_rest(store)
        for tok in (t1, t2, t3):
            assert tok.encode() not in after
        assert len(sealed_before) > 0
    finally:
        await v.close()


async def test_at_rest_never_a_raw_value(store: tuple[str, Any]) -> None:
    v = make_vault(store)
    try:
        for scope in ("c-1", "c-2", "global"):
            await v.pseudonymize_many([(scope, "PERSON", CANARY_NAME), (scope, "EMAIL_ADDRESS", CANARY_EMAIL)])
        await v.lookup("PERSON", CANARY_NAME)
        raw = at_rest(store)
        assert raw, "the store holds something"
        for canary in (CANARY_NAME, CANARY_EMAIL, normalise(CANARY_NAME), normalise(CANARY_EMAIL)):
            for enc in ("utf-8", "utf-16-le"):
                assert canary.encode(enc) not in raw
    finally:
        await v.close()


async def test_retention_expires_entries(store: tuple[str, Any]) -> None:
    v = make_vault(store, ttl=0.3)
    try:
        (tok,) = await v.pseudonymize("PERSON", [CANARY_NAME], "c-1")
        assert await v.reveal([tok]) == {tok: CANARY_NAME}
        await asyncio.sleep(0.6)
        assert await v.reveal([tok]) == {}
        assert await v.lookup("PERSON", CANARY_NAME) == []
        (new,) = await v.pseudonymize("PERSON", [CANARY_NAME], "c-1")
        assert new != tok
        # nothing issued from now on: the periodic purge still deletes the expired entry at rest
        await asyncio.sleep(0.6 + v.purge_every * 2)
        assert tok.encode() not in at_rest(store) and new.encode() not in at_rest(store)
    finally:
        await v.close()


async def test_two_vaults_on_one_store_agree(store: tuple[str, Any]) -> None:
    """Two workers (SQLite) or two replicas (Redis) issuing for the same person at once."""
    a, b = make_vault(store), make_vault(store)
    try:
        results = await asyncio.gather(
            *(x.pseudonymize("PERSON", [CANARY_NAME, f"Other {i}"], "c-1") for i in range(5) for x in (a, b))
        )
        assert len({r[0] for r in results}) == 1
        assert await b.reveal([results[0][0]]) == {results[0][0]: CANARY_NAME}
    finally:
        await a.close()
        await b.close()


async def test_unreachable_store_fails_closed() -> None:
    v = Vault(RedisStore("redis://127.0.0.1:1/0"), INDEX_KEY, SEAL_KEY, 60, timeout=2)
    try:
        with pytest.raises(VaultError) as err:
            await v.pseudonymize("PERSON", [CANARY_NAME], "c-1")
        assert CANARY_NAME not in str(err.value)
    finally:
        await v.close()


def test_sqlite_file_is_private(tmp_path: Path) -> None:
    async def go() -> list[Path]:
        v = Vault(SqliteStore(tmp_path / "v"), INDEX_KEY, SEAL_KEY, 60)
        await v.pseudonymize("PERSON", [CANARY_NAME], "c-1")
        files = sorted((tmp_path / "v").glob(DB_NAME + "*"))  # the database, -wal and -shm, open
        assert len(files) == 3 and all(f.stat().st_mode & 0o077 == 0 for f in files)
        await v.close()
        return files

    asyncio.run(go())
    assert (tmp_path / "v").stat().st_mode & 0o077 == 0
    assert (tmp_path / "v" / DB_NAME).stat().st_mode & 0o077 == 0


def test_retention_durations_and_key_problems() -> None:
    from proxy.config import Vault as VaultConfig
    from proxy.config import load_config
    from proxy.vault import key_problem
    from tests.helpers import ROOT

    assert VaultConfig(retention="30d").retention == 30 * 86400
    assert VaultConfig(retention="90m").retention == 5400
    assert VaultConfig(retention=60).retention == 60
    with pytest.raises(ValueError):
        VaultConfig(retention="soon")
    cfg = load_config(ROOT / "config" / "proxy.yaml")
    good = {"PSEUDONYM_KEY": "k", "VAULT_KEY": "Ab" * 32}
    assert key_problem(cfg, good) is None
    missing = key_problem(cfg, {"PSEUDONYM_KEY": "k"})
    assert missing is not None and not missing[1] and "VAULT_KEY is not set" in missing[0] and "assist" in missing[0]
    secret = "c0ffee" * 10 + "zzzz"
    bad = key_problem(cfg, {"PSEUDONYM_KEY": "k", "VAULT_KEY": secret})
    assert bad is not None and bad[1] and "64 hex characters" in bad[0] and secret not in bad[0]
    short = key_problem(cfg, {"PSEUDONYM_KEY": "k", "VAULT_KEY": "ab" * 16})
    assert short is not None and short[1]
    no_index = key_problem(cfg, {"VAULT_KEY": "ab" * 32})
    assert no_index is not None and "PSEUDONYM_KEY" in no_index[0]


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"entity": "person", "value": "x"},
        {"entity": "PERSON"},
        {"entity": "PERSON", "value": "  "},
        {"entity": "PERSON", "value": 5},
        {"entity": "PERSON", "value": "x" * 5000},
        {"entity": "PERSON", "value": CANARY_NAME, "extra": CANARY_NAME},
    ],
)
def test_subject_requests_refused_without_quoting_the_value(body: Any) -> None:
    from proxy.vault.subjects import SubjectRequestError, parse_request

    with pytest.raises(SubjectRequestError) as err:
        parse_request(body)
    assert CANARY_NAME not in str(err.value) and "xxxx" not in str(err.value)


def test_subject_request_ok() -> None:
    from proxy.vault.subjects import parse_request

    assert parse_request({"entity": "EMAIL_ADDRESS", "value": CANARY_EMAIL}) == ("EMAIL_ADDRESS", CANARY_EMAIL)
