"""The Presidio-compatible face's ``pseudonym`` operator on a real proxy with its vault
(``VAULT_KEY``, SQLite under the spool; Redis for the vault-down case): tokens in ``/anonymize``,
the same per person within a scope, values back from ``/deanonymize`` (given spans or a bare
text), a token erased on the admin port stays a token; 422 without a vault, 503 when it is down.
Canary values are asserted on, never printed."""

from __future__ import annotations

import io
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.helpers import ProxyProcess, free_port, start_proxy
from tests.integration.conftest import make_config

ADMIN = "admin-token-presidio-16b"
NAME, MAIL = "Quintessa Marlowe-Pike", "quintessa.canary@example.org"
CANARIES = (NAME, MAIL, NAME.lower(), MAIL.upper())
TOKEN = re.compile(r"<(PERSON|EMAIL_ADDRESS)_[0-9a-f]{16}>")
TEXT = f"{NAME} wrote from {MAIL}; later {NAME} called"


def spans(text: str = TEXT) -> list[dict[str, Any]]:
    first = text.index(NAME)
    second = text.index(NAME, first + 1)
    mail = text.index(MAIL)
    return [
        {"start": first, "end": first + len(NAME), "score": 0.85, "entity_type": "PERSON"},
        {"start": mail, "end": mail + len(MAIL), "score": 1.0, "entity_type": "EMAIL_ADDRESS"},
        {"start": second, "end": second + len(NAME), "score": 0.85, "entity_type": "PERSON"},
    ]


def no_canary(data: str) -> bool:
    return not any(c in data for c in CANARIES)


@pytest.fixture(scope="module")
def face(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProxyProcess, str]]:
    port = free_port()
    p = start_proxy(tmp_path_factory.mktemp("presidio-vault"), env={"PRESIDIO_PORT": str(port), "ADMIN_TOKEN": ADMIN})
    try:
        yield p, f"http://127.0.0.1:{port}"
    finally:
        p.stop()


@pytest.fixture(scope="module")
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def post(s: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any]:
    async with s.post(url, data=io.BytesIO(json.dumps(body).encode())) as r:
        assert r.content_type == "application/json"
        return r.status, await r.json()


async def anonymize(s: aiohttp.ClientSession, url: str, operator: dict[str, Any]) -> dict[str, Any]:
    body = {"text": TEXT, "anonymizers": {"DEFAULT": operator}, "analyzer_results": spans()}
    status, got = await post(s, url + "/anonymize", body)
    assert status == 200 and no_canary(json.dumps(got))
    return got  # type: ignore[no-any-return]


def tokens_of(result: dict[str, Any]) -> list[str]:
    """The tokens of an /anonymize answer, in text order (asserting its shape on the way)."""
    items = sorted(result["items"], key=lambda i: i["start"])
    for item in items:
        assert sorted(item) == ["end", "entity_type", "operator", "score", "start", "text"]  # Presidio's
        assert item["operator"] == "pseudonym"
        assert result["text"][item["start"] : item["end"]] == item["text"]  # output offsets
        m = TOKEN.fullmatch(item["text"])
        assert m is not None and m.group(1) == item["entity_type"]
    return [i["text"] for i in items]


async def test_pseudonym_tokens_the_same_person_within_a_scope(
    face: tuple[ProxyProcess, str], session: aiohttp.ClientSession
) -> None:
    proxy, url = face
    got = await anonymize(session, url, {"type": "pseudonym", "scope": "conv-a"})
    name1, mail, name2 = tokens_of(got)
    assert name1 == name2 and name1 != mail  # one person, one token
    assert got["text"] == f"{name1} wrote from {mail}; later {name1} called"
    again = await anonymize(session, url, {"type": "pseudonym", "scope": "conv-a"})
    assert tokens_of(again) == [name1, mail, name1]  # the same scope: the same tokens
    other = tokens_of(await anonymize(session, url, {"type": "pseudonym", "scope": "conv-b"}))
    assert not set(other) & {name1, mail}  # another scope: others
    bare1 = tokens_of(await anonymize(session, url, {"type": "pseudonym"}))
    bare2 = tokens_of(await anonymize(session, url, {"type": "pseudonym"}))
    assert bare1[0] == bare1[2] and not set(bare1) & set(bare2)  # no scope: one per request
    # pseudonym beside Presidio's operators, chosen per entity type
    body = {
        "text": TEXT,
        "anonymizers": {"PERSON": {"type": "pseudonym", "scope": "conv-a"}, "DEFAULT": {"type": "replace"}},
        "analyzer_results": spans(),
    }
    status, mixed = await post(session, url + "/anonymize", body)
    assert status == 200 and mixed["text"] == f"{name1} wrote from <EMAIL_ADDRESS>; later {name1} called"
    assert sorted(i["operator"] for i in mixed["items"]) == ["pseudonym", "pseudonym", "replace"]
    assert len({tuple(sorted(i)) for i in mixed["items"]}) == 1  # the same item shape as Presidio's operators
    async with session.get(url + "/anonymizers") as r:
        assert "pseudonym" in await r.json()
    assert no_canary(proxy.log())
    assert no_canary("".join(p.read_text("latin-1") for p in (proxy.workdir / "spool").glob("vault.db*")))
    async with session.get(proxy.admin + "/metrics") as r:
        text = await r.text()
    assert re.search(r'proxy_findings_total\{destination="presidio",entity="PERSON",operator="pseudonym"\} [1-9]', text)
    assert 'route="presidio:/anonymize"' in text and no_canary(text)


async def test_deanonymize_restores_then_an_erased_token_stays(
    face: tuple[ProxyProcess, str], session: aiohttp.ClientSession
) -> None:
    proxy, url = face
    got = await anonymize(session, url, {"type": "pseudonym", "scope": "conv-erase"})
    name, mail, _ = tokens_of(got)
    spans_out = [{"start": i["start"], "end": i["end"], "entity_type": i["entity_type"]} for i in got["items"]]
    explicit = {
        "text": got["text"],
        "deanonymizers": {"DEFAULT": {"type": "pseudonym"}},
        "anonymizer_results": spans_out,
    }
    status, back = await post(session, url + "/deanonymize", explicit)
    assert status == 200 and back["text"] == TEXT
    assert sorted(i["operator"] for i in back["items"]) == ["pseudonym"] * 3
    for item in back["items"]:  # output offsets, as Presidio's deanonymize engine gives them
        assert back["text"][item["start"] : item["end"]] == item["text"]
    # a bare text (no anonymizer_results): every token restored, an unknown one kept as it is
    unknown = "<PERSON_0123456789abcdef>"
    bare = {"text": got["text"] + f" cc {unknown}", "deanonymizers": {"DEFAULT": {"type": "pseudonym"}}}
    status, back = await post(session, url + "/deanonymize", bare)
    assert status == 200 and back["text"] == TEXT + f" cc {unknown}"
    assert sorted((i["entity_type"], i["operator"]) for i in back["items"]) == [
        ("EMAIL_ADDRESS", "pseudonym"), ("PERSON", "pseudonym"), ("PERSON", "pseudonym"),
    ]  # fmt: skip
    # only the entity types sent to the pseudonym deanonymizer
    only_mail = {"text": got["text"], "deanonymizers": {"EMAIL_ADDRESS": {"type": "pseudonym"}}}
    status, back = await post(session, url + "/deanonymize", only_mail)
    assert status == 200 and back["text"] == got["text"].replace(mail, MAIL)
    # erased on the admin port: the name's token stays a token, the e-mail's still comes back
    async with session.post(
        proxy.admin + "/subjects/erase",
        json={"entity": "PERSON", "value": NAME},
        headers={"Authorization": f"Bearer {ADMIN}"},
    ) as r:
        assert r.status == 200 and (await r.json())["erased"] >= 1
    status, back = await post(session, url + "/deanonymize", explicit)
    assert status == 200 and back["text"] == got["text"].replace(mail, MAIL)
    assert name in back["text"] and NAME not in back["text"]
    # and the same person pseudonymised again gets a new token
    assert tokens_of(await anonymize(session, url, {"type": "pseudonym", "scope": "conv-erase"}))[0] != name
    assert no_canary(proxy.log())


async def test_spans_the_engine_merges_get_one_token_and_no_fragment_is_stored(
    face: tuple[ProxyProcess, str], session: aiohttp.ClientSession
) -> None:
    proxy, url = face
    text = f"call {NAME} now"
    at = text.index(NAME)
    overlapping = [  # Presidio's engine merges these into the whole name before operating
        {"start": at, "end": at + 10, "score": 0.6, "entity_type": "PERSON"},
        {"start": at + 5, "end": at + len(NAME), "score": 0.7, "entity_type": "PERSON"},
    ]
    body = {
        "text": text,
        "anonymizers": {"PERSON": {"type": "pseudonym", "scope": "merged"}},
        "analyzer_results": overlapping,
    }
    status, got = await post(session, url + "/anonymize", body)
    assert status == 200 and no_canary(json.dumps(got))
    (item,) = got["items"]
    assert TOKEN.fullmatch(item["text"]) and got["text"] == f"call {item['text']} now"
    full = {**body, "analyzer_results": [{"start": at, "end": at + len(NAME), "score": 0.9, "entity_type": "PERSON"}]}
    status, again = await post(session, url + "/anonymize", full)
    assert status == 200 and again["text"] == got["text"]  # the merged span was the whole name
    async with session.post(
        proxy.admin + "/subjects/lookup",
        json={"entity": "PERSON", "value": NAME[:10]},
        headers={"Authorization": f"Bearer {ADMIN}"},
    ) as r:
        assert r.status == 200 and (await r.json())["tokens"] == []  # no token for a fragment


async def test_bad_scope_is_422(face: tuple[ProxyProcess, str], session: aiohttp.ClientSession) -> None:
    _, url = face
    for scope in (3, "", "s" * 257):
        body = {
            "text": TEXT,
            "anonymizers": {"PERSON": {"type": "pseudonym", "scope": scope}},
            "analyzer_results": spans(),
        }
        status, got = await post(session, url + "/anonymize", body)
        assert status == 422 and "scope" in got["error"] and no_canary(got["error"])


async def test_without_a_vault_pseudonym_is_422_naming_the_key(tmp_path: Path) -> None:
    def no_vault(cfg: dict[str, Any]) -> None:  # no destination in use pseudonymises
        cfg["routes"] = [r for r in cfg["routes"] if r["destination"] != "assist"]

    port = free_port()
    p = start_proxy(tmp_path / "p", config=make_config(tmp_path, no_vault), env={"PRESIDIO_PORT": str(port)})
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as s:
            status, got = await post(
                s,
                url + "/anonymize",
                {"text": TEXT, "anonymizers": {"PERSON": {"type": "pseudonym"}}, "analyzer_results": spans()},
            )
            assert status == 422 and "VAULT_KEY" in got["error"] and set(got) == {"error"}
            assert no_canary(got["error"])
            status, got = await post(
                s,
                url + "/deanonymize",
                {"text": "<PERSON_0123456789abcdef>", "deanonymizers": {"DEFAULT": {"type": "pseudonym"}}},
            )
            assert status == 422 and "VAULT_KEY" in got["error"]
            status, got = await post(  # the other operators serve as before
                s,
                url + "/anonymize",
                {"text": TEXT, "anonymizers": {"PERSON": {"type": "redact"}}, "analyzer_results": spans()},
            )
            assert status == 200 and NAME not in got["text"]
            async with s.get(url + "/anonymizers") as r:
                assert "pseudonym" not in await r.json()
    finally:
        p.stop()


async def test_vault_down_is_503_never_a_partial_answer(tmp_path: Path) -> None:
    port = free_port()
    env = {"PRESIDIO_PORT": str(port), "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}  # nothing listens
    p = start_proxy(tmp_path / "down", env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as s:
            body = {"text": TEXT, "anonymizers": {"DEFAULT": {"type": "pseudonym"}}, "analyzer_results": spans()}
            status, got = await post(s, url + "/anonymize", body)
            assert status == 503 and set(got) == {"error"} and no_canary(got["error"])
            back = {"text": "hi <PERSON_0123456789abcdef>", "deanonymizers": {"DEFAULT": {"type": "pseudonym"}}}
            status, got = await post(s, url + "/deanonymize", back)
            assert status == 503 and set(got) == {"error"}
            status, got = await post(s, url + "/anonymize", {**body, "anonymizers": {"DEFAULT": {"type": "replace"}}})
            assert status == 200  # no vault call: served
        assert no_canary(p.log())
    finally:
        p.stop()
