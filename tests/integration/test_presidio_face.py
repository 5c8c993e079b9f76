"""The Presidio-compatible face on a real proxy: Presidio's own API-doc and e2e-test requests
replayed against our port give Presidio's shapes; anonymize/deanonymize answers equal those of
``presidio_anonymizer``'s own engines on the same input; limits, token, fail-closed, no leaks."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from proxy.http.admin import detection_children
from tests.helpers import ROOT, ProxyProcess, free_port, start_proxy

TOKEN = "presidio-test-token-7f3a"
#: Canary values: asserted absent from logs and errors, never printed.
CANARY_NAME = "Quintessa Marlowe-Pike"
CANARY_MAIL = "quintessa.canary@example.org"

#: Presidio's result keys, sorted as its server dumps them (``json.dumps(..., sort_keys=True)``).
RESULT_KEYS = ["analysis_explanation", "end", "entity_type", "score", "start"]
EXPLANATION_KEYS = {
    "recognizer", "pattern_name", "pattern", "original_score", "score", "textual_explanation",
    "score_context_improvement", "supportive_context_word", "validation_result",
}  # fmt: skip
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def face(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProxyProcess, str]]:
    port = free_port()
    env = {"PRESIDIO_PORT": str(port), "PRESIDIO_API_TOKEN": TOKEN}
    p = start_proxy(tmp_path_factory.mktemp("presidio"), env=env)
    try:
        yield p, f"http://127.0.0.1:{port}"
    finally:
        p.stop()


@pytest.fixture(scope="module")
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=AUTH) as s:
        yield s


async def post(s: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any, str]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with s.post(url, data=io.BytesIO(data)) as r:
        return r.status, await r.json(content_type=None), r.content_type


def shape_ok(results: Any) -> None:
    assert isinstance(results, list)
    for r in results:
        assert sorted(r) == RESULT_KEYS
        assert isinstance(r["start"], int) and isinstance(r["end"], int) and r["start"] < r["end"]
        assert isinstance(r["score"], float | int) and 0 <= r["score"] <= 1
        assert r["analysis_explanation"] is None or set(r["analysis_explanation"]) >= EXPLANATION_KEYS


# ---- the compatibility table: Presidio's e2e tests and API-doc examples -----------------------------
DL_TEXT = "John Smith drivers license is AC432223"
ZIP_RECOGNIZER = {
    "name": "Zip code Recognizer",
    "supported_language": "en",
    "patterns": [{"name": "zip code (weak)", "regex": "(\\b\\d{5}(?:\\-\\d{4})?\\b)", "score": 0.01}],
    "supported_entity": "ZIP",
}

#: (name, request, status, Presidio's answer: an exact error, or the (entity, start, end) spans it
#: finds, which ours must include: we may find more, listed in the README)
ANALYZE_TABLE: list[tuple[str, dict[str, Any], int, Any]] = [
    ("minimal request", {"text": DL_TEXT, "language": "en"}, 200, [("PERSON", 0, 10), ("US_DRIVER_LICENSE", 30, 38)]),
    ("threshold 0.7", {"text": DL_TEXT, "language": "en", "score_threshold": 0.7}, 200, "threshold"),
    ("no text", {}, 500, {"error": "No text provided"}),
    ("language only", {"language": "en"}, 500, {"error": "No text provided"}),
    ("no language", {"text": DL_TEXT}, 500, {"error": "No language provided"}),
    ("unknown language", {"text": DL_TEXT, "language": "zz"}, 500,
     {"error": "No matching recognizers were found to serve the request."}),
    ("correlation id", {"text": DL_TEXT, "language": "en", "correlation_id": "123"}, 200, None),
    ("trace", {"text": DL_TEXT, "language": "en", "trace": "1"}, 200, None),
    ("decision process off", {"text": DL_TEXT, "language": "en", "return_decision_process": 0}, 200,
     [("PERSON", 0, 10), ("US_DRIVER_LICENSE", 30, 38)]),
    ("entities filter", {"text": DL_TEXT, "language": "en", "entities": ["PERSON"]}, 200, [("PERSON", 0, 10)]),
    ("ad-hoc zip", {"text": DL_TEXT + ". Zip code: 10023", "language": "en", "ad_hoc_recognizers": [ZIP_RECOGNIZER]},
     200, [("PERSON", 0, 10), ("US_DRIVER_LICENSE", 30, 38), ("ZIP", 50, 55)]),
    ("ad-hoc malformed", {"text": DL_TEXT, "language": "en", "ad_hoc_recognizers": [
        {**ZIP_RECOGNIZER, "patterns": [{"type": "zip code (weak)", "bebex": "(\\b\\d{5}\\b)", "confidence": 0.01}]}]},
     400, {"error": "Failed to parse /analyze request for AnalyzerEngine.analyze(). "
                    "__init__() got an unexpected keyword argument 'type'"}),
    ("api-docs enhanced request", {
        "text": DL_TEXT + " and the zip code is 12345", "language": "en", "return_decision_process": False,
        "correlation_id": "123e4567-e89b-12d3-a456-426614174000", "score_threshold": 0.6,
        "entities": ["US_DRIVER_LICENSE", "ZIP"], "trace": False,
        "ad_hoc_recognizers": [{**ZIP_RECOGNIZER, "context": ["zip", "code"]}]}, 200,
     [("US_DRIVER_LICENSE", 30, 38)]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "request_body", "status", "expected"), ANALYZE_TABLE, ids=[t[0] for t in ANALYZE_TABLE]
)
async def test_analyze_compatibility_table(
    face: tuple[ProxyProcess, str],
    session: aiohttp.ClientSession,
    name: str,
    request_body: dict[str, Any],
    status: int,
    expected: Any,
) -> None:
    _, url = face
    got_status, got, ctype = await post(session, url + "/analyze", request_body)
    assert (got_status, ctype) == (status, "application/json"), name
    if isinstance(expected, dict):
        assert got == expected
        return
    shape_ok(got)
    spans = {(r["entity_type"], r["start"], r["end"]) for r in got}
    if isinstance(expected, list):
        assert set(expected) <= spans
    if expected == "threshold":
        assert ("PERSON", 0, 10) in spans and all(r["score"] >= 0.7 for r in got)
    if "entities" in request_body:
        assert {r["entity_type"] for r in got} <= set(request_body["entities"])


async def test_ad_hoc_context_raises_the_score_as_presidio(
    face: tuple[ProxyProcess, str], session: aiohttp.ClientSession
) -> None:
    """Presidio's e2e test: context words of an ad-hoc recognizer lift 0.01 to 0.4."""
    _, url = face
    body = {
        "text": DL_TEXT + ". Zip code: 10023",
        "language": "en",
        "return_decision_process": True,
        "ad_hoc_recognizers": [{**ZIP_RECOGNIZER, "context": ["zip", "code"]}],
    }
    status, got, _ = await post(session, url + "/analyze", body)
    assert status == 200
    shape_ok(got)
    (zip_result,) = [r for r in got if r["entity_type"] == "ZIP"]
    assert (zip_result["start"], zip_result["end"], zip_result["score"]) == (50, 55, 0.4)
    ex = zip_result["analysis_explanation"]
    assert ex["recognizer"] == "Zip code Recognizer" and ex["pattern_name"] == "zip code (weak)"
    assert ex["original_score"] == 0.01 and ex["supportive_context_word"] == "zip"


async def test_list_of_texts_gives_a_list_of_lists(
    face: tuple[ProxyProcess, str], session: aiohttp.ClientSession
) -> None:
    _, url = face
    texts = [DL_TEXT, "nothing to see here", f"write to {CANARY_MAIL}"]
    status, got, _ = await post(session, url + "/analyze", {"text": texts, "language": "en"})
    assert status == 200 and isinstance(got, list) and len(got) == 3
    for per_text in got:
        shape_ok(per_text)
    assert got[1] == []
    assert [(r["entity_type"], texts[2][r["start"] : r["end"]]) for r in got[2]] == [("EMAIL_ADDRESS", CANARY_MAIL)]


async def test_allow_list_exact_and_regex(face: tuple[ProxyProcess, str], session: aiohttp.ClientSession) -> None:
    _, url = face
    text = f"mail {CANARY_MAIL} or support@example.com"
    base = {"text": text, "language": "en", "entities": ["EMAIL_ADDRESS"]}
    _, plain, _ = await post(session, url + "/analyze", base)
    assert len(plain) == 2
    _, exact, _ = await post(session, url + "/analyze", {**base, "allow_list": ["support@example.com"]})
    assert [text[r["start"] : r["end"]] for r in exact] == [CANARY_MAIL]
    body = {**base, "allow_list": ["^support@"], "allow_list_match": "regex"}
    _, rx, _ = await post(session, url + "/analyze", body)
    assert [text[r["start"] : r["end"]] for r in rx] == [CANARY_MAIL]


async def test_supported_entities_recognizers_health(
    face: tuple[ProxyProcess, str], session: aiohttp.ClientSession
) -> None:
    _, url = face
    async with session.get(url + "/supportedentities?language=en") as r:
        entities = await r.json()
        assert r.status == 200 and {"PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER"} <= set(entities)
    async with session.get(url + "/supportedentities?language=he") as r:
        assert r.status == 500
        assert await r.json() == {"error": "No matching recognizers were found to serve the request."}
    async with session.get(url + "/supportedentities?uknown=input") as r:
        assert r.status == 200 and await r.json() == entities
    async with session.get(url + "/recognizers") as r:
        names = await r.json()
        assert r.status == 200 and "PersonRecognizer" in names and all(isinstance(n, str) for n in names)
    async with aiohttp.ClientSession() as anonymous, anonymous.get(url + "/health") as r:
        assert r.status == 200 and "service is up" in await r.text()


# ---- /anonymize and /deanonymize: the same answers as presidio_anonymizer's own engines -------------
ANON_TEXT = "hello world, my name is Jane Doe. My number is: 034453334"
ANONYMIZE_TABLE: list[tuple[str, dict[str, Any]]] = [
    ("api-docs replace and redact", {
        "text": ANON_TEXT,
        "anonymizers": {"PERSON": {"type": "redact"}, "PHONE_NUMBER": {"type": "replace", "new_value": "ANONYMIZED"}},
        "analyzer_results": [{"start": 24, "end": 32, "score": 0.8, "entity_type": "PERSON"},
                             {"start": 48, "end": 57, "score": 0.95, "entity_type": "PHONE_NUMBER"}]}),
    ("e2e replace default, mask phone, overlaps", {
        "text": ANON_TEXT,
        "anonymizers": {"DEFAULT": {"type": "replace", "new_value": "ANONYMIZED"},
                        "PHONE_NUMBER": {"type": "mask", "masking_char": "*", "chars_to_mask": 4, "from_end": True}},
        "analyzer_results": [{"start": 24, "end": 32, "score": 0.8, "entity_type": "NAME"},
                             {"start": 24, "end": 28, "score": 0.8, "entity_type": "FIRST_NAME"},
                             {"start": 29, "end": 32, "score": 0.6, "entity_type": "LAST_NAME"},
                             {"start": 48, "end": 57, "score": 0.95, "entity_type": "PHONE_NUMBER"}]}),
    ("no operators: <ENTITY_TYPE>", {
        "text": ANON_TEXT, "analyzer_results": [{"start": 24, "end": 32, "score": 0.8, "entity_type": "PERSON"}]}),
    ("empty results", {"text": "hello world! nice to meet you!", "analyzer_results": [],
                       "anonymizers": {"DEFAULT": {"type": "replace", "new_value": "ANONYMIZED"}}}),
    ("keep and encrypt", {
        "text": ANON_TEXT,
        "anonymizers": {"PERSON": {"type": "keep"}, "PHONE_NUMBER": {"type": "encrypt", "key": "WmZq4t7w!z%C&F)J"}},
        "analyzer_results": [{"start": 24, "end": 32, "score": 0.8, "entity_type": "PERSON"},
                             {"start": 48, "end": 57, "score": 0.95, "entity_type": "PHONE_NUMBER"}]}),
    ("hash with a salt", {
        "text": ANON_TEXT,
        "anonymizers": {"DEFAULT": {"type": "hash", "hash_type": "sha512", "salt": "0123456789abcdef"}},
        "analyzer_results": [{"start": 24, "end": 32, "score": 0.8, "entity_type": "PERSON"}]}),
]  # fmt: skip


def presidio_anonymize(body: dict[str, Any]) -> Any:
    """What presidio-anonymizer's server answers for ``body`` (its app.py, run in-process)."""
    from presidio_anonymizer import AnonymizerEngine
    from presidio_anonymizer.services.app_entities_convertor import AppEntitiesConvertor

    operators = AppEntitiesConvertor.operators_config_from_json(json.loads(json.dumps(body.get("anonymizers"))))
    results = AppEntitiesConvertor.analyzer_results_from_json(body.get("analyzer_results"))
    out = AnonymizerEngine().anonymize(text=body.get("text", ""), analyzer_results=results, operators=operators)
    return json.loads(out.to_json())


@pytest.mark.parametrize(("name", "body"), ANONYMIZE_TABLE, ids=[t[0] for t in ANONYMIZE_TABLE])
async def test_anonymize_equals_presidio_engine(
    face: tuple[ProxyProcess, str], session: aiohttp.ClientSession, name: str, body: dict[str, Any]
) -> None:
    _, url = face
    status, got, ctype = await post(session, url + "/anonymize", body)
    assert (status, ctype) == (200, "application/json")
    expected = presidio_anonymize(body)
    if "encrypt" in json.dumps(body):  # a random IV: same shape, different cipher text
        assert [(i["operator"], i["entity_type"]) for i in got["items"]] == [
            (i["operator"], i["entity_type"]) for i in expected["items"]
        ]
        assert "034453334" not in got["text"]
    else:
        assert got == expected, name


async def test_anonymize_then_deanonymize_round_trip(
    face: tuple[ProxyProcess, str], session: aiohttp.ClientSession
) -> None:
    _, url = face
    key = "WmZq4t7w!z%C&F)J"
    text = f"My name is {CANARY_NAME}"
    results = [{"start": 11, "end": len(text), "score": 0.9, "entity_type": "PERSON"}]
    body = {"text": text, "anonymizers": {"PERSON": {"type": "encrypt", "key": key}}, "analyzer_results": results}
    status, enc, _ = await post(session, url + "/anonymize", body)
    assert status == 200 and CANARY_NAME not in enc["text"]
    (item,) = enc["items"]
    dec_body = {
        "text": enc["text"],
        "deanonymizers": {"PERSON": {"type": "decrypt", "key": key}},
        "anonymizer_results": [{"start": item["start"], "end": item["end"], "entity_type": "PERSON"}],
    }
    status, dec, _ = await post(session, url + "/deanonymize", dec_body)
    assert status == 200 and dec["text"] == text
    assert dec["items"][0]["operator"] == "decrypt" and sorted(dec["items"][0]) == sorted(item)
    # the api-docs example decrypts to what presidio's own engine says
    from presidio_anonymizer import DeanonymizeEngine
    from presidio_anonymizer.entities import OperatorConfig, OperatorResult

    doc = {
        "text": "My name is S184CMt9Drj7QaKQ21JTrpYzghnboTF9pn/neN8JME0=",
        "deanonymizers": {"PERSON": {"type": "decrypt", "key": key}},
        "anonymizer_results": [{"start": 11, "end": 55, "entity_type": "PERSON"}],
    }
    expected = DeanonymizeEngine().deanonymize(
        doc["text"], [OperatorResult(11, 55, "PERSON")], {"PERSON": OperatorConfig("decrypt", {"key": key})}
    )
    status, got, _ = await post(session, url + "/deanonymize", doc)
    assert status == 200 and got == json.loads(expected.to_json())


async def test_our_operators(face: tuple[ProxyProcess, str], session: aiohttp.ClientSession) -> None:
    _, url = face
    text = "zip 94107, age 34, earns $85,000, from 203.0.113.57, zip abc"
    spans = {"ZIP": (4, 9), "AGE": (15, 17), "INCOME": (25, 32), "IP_ADDRESS": (39, 51), "BADZIP": (57, 60)}
    body = {
        "text": text,
        "anonymizers": {
            "ZIP": {"type": "zip3"}, "AGE": {"type": "age_band"}, "INCOME": {"type": "income_band"},
            "IP_ADDRESS": {"type": "ip_truncate"}, "BADZIP": {"type": "zip3"},
        },
        "analyzer_results": [{"start": s, "end": e, "score": 0.9, "entity_type": k} for k, (s, e) in spans.items()],
    }  # fmt: skip
    status, got, _ = await post(session, url + "/anonymize", body)
    assert status == 200
    assert got["text"] == "zip 941XX, age 30-39, earns $50,000-$99,999, from 203.0.113.0, zip <BADZIP>"
    for item in got["items"]:
        assert got["text"][item["start"] : item["end"]] == item["text"]  # output offsets, as Presidio
    async with session.get(url + "/anonymizers") as r:
        assert {"zip3", "age_band", "income_band", "ip_truncate", "replace", "encrypt"} <= set(await r.json())


async def test_anonymizer_errors_as_presidio(face: tuple[ProxyProcess, str], session: aiohttp.ClientSession) -> None:
    _, url = face
    base = {"text": ANON_TEXT, "analyzer_results": [{"start": 24, "end": 32, "score": 0.8, "entity_type": "NAME"}]}
    from presidio_anonymizer.entities import InvalidParamError

    try:  # what presidio-anonymizer's engine says about an empty text (its server: 422 with it)
        presidio_anonymize({**base, "text": ""})
        pytest.fail("presidio accepted an empty text")
    except InvalidParamError as exc:
        expected = {"error": exc.err_msg}
    status, got, _ = await post(session, url + "/anonymize", {**base, "text": ""})
    assert (status, got) == (422, expected)
    status, got, _ = await post(session, url + "/anonymize", {"text": ANON_TEXT})
    assert (status, got) == (422, {"error": "Invalid input, request must contain analyzer results"})
    status, got, _ = await post(session, url + "/anonymize", {**base, "anonymizers": {"DEFAULT": {"type": "custom"}}})
    assert (status, got) == (400, {"error": "Custom type anonymizer is not supported"})
    status, got, _ = await post(session, url + "/anonymize", {})
    assert (status, got) == (400, {"error": "Invalid request json"})
    bad_key = {**base, "anonymizers": {"DEFAULT": {"type": "encrypt", "key": "invalidkey"}}}
    status, got, _ = await post(session, url + "/anonymize", bad_key)
    assert (status, got) == (422, {"error": "Invalid input, key must be of length 128, 192 or 256 bits"})


# ---- our own promises: token, limits, fail closed, nothing raw in logs ------------------------------
async def test_token_required(face: tuple[ProxyProcess, str]) -> None:
    _, url = face
    body = json.dumps({"text": DL_TEXT, "language": "en"})
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        async with aiohttp.ClientSession() as s, s.post(url + "/analyze", data=body, headers=headers) as r:
            assert r.status == 401 and await r.json() == {"error": "Unauthorized"}
            assert r.headers["WWW-Authenticate"] == "Bearer"


async def test_limits(face: tuple[ProxyProcess, str], session: aiohttp.ClientSession) -> None:
    _, url = face
    status, got, _ = await post(session, url + "/analyze", {"text": ["a"] * 257, "language": "en"})
    assert (status, got) == (413, {"error": "text: at most 256 texts per request"})
    status, got, _ = await post(session, url + "/analyze", {"text": "x" * (1024 * 1024 + 10), "language": "en"})
    assert status == 413 and "too large" in got["error"]
    status, got, _ = await post(session, url + "/analyze", b"\xff{not json")
    assert (status, got) == (400, {"error": "Invalid request json"})
    too_many = {"text": DL_TEXT, "language": "en", "ad_hoc_recognizers": [ZIP_RECOGNIZER] * 17}
    status, got, _ = await post(session, url + "/analyze", too_many)
    assert status == 413
    catastrophic = {**ZIP_RECOGNIZER, "patterns": [{"name": "evil", "regex": "(a+)+$", "score": 0.5}]}
    status, got, _ = await post(
        session, url + "/analyze", {"text": "aaaa", "language": "en", "ad_hoc_recognizers": [catastrophic]}
    )
    assert status == 400 and "evil" in got["error"] and "aaaa" not in got["error"]


def _worker_pids(proxy: ProxyProcess) -> set[int]:
    out = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_bytes()
            except OSError:
                continue
            if int(stat[stat.rindex(b")") + 2 :].split()[1]) == proxy.proc.pid:
                out.add(int(name))
    return out


async def test_detection_failure_is_503_never_an_empty_answer(
    face: tuple[ProxyProcess, str], session: aiohttp.ClientSession
) -> None:
    proxy, url = face
    children = [c for cs in detection_children(_worker_pids(proxy)).values() for c in cs]
    assert children
    for c in children:
        os.kill(c, signal.SIGKILL)
    status, got, ctype = await post(session, url + "/analyze", {"text": f"I am {CANARY_NAME}", "language": "en"})
    assert (status, ctype) == (503, "application/json")
    assert set(got) == {"error"} and CANARY_NAME not in got["error"]
    # the detection process is restarted; the face serves again
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        async with session.get(url + "/health") as r:
            if r.status == 200:
                break
        await asyncio.sleep(0.5)
    status, got, _ = await post(session, url + "/analyze", {"text": f"mail {CANARY_MAIL}", "language": "en"})
    assert status == 200 and got and got[0]["entity_type"] == "EMAIL_ADDRESS"


async def test_no_raw_value_in_logs(face: tuple[ProxyProcess, str], session: aiohttp.ClientSession) -> None:
    proxy, url = face
    await post(session, url + "/analyze", {"text": f"{CANARY_NAME} {CANARY_MAIL}", "language": "en"})
    await post(session, url + "/analyze", {"text": CANARY_MAIL, "language": "en", "entities": 3})
    await post(session, url + "/anonymize", {"text": CANARY_MAIL, "analyzer_results": [{"start": "x"}]})
    log = proxy.log()
    assert CANARY_NAME not in log and CANARY_MAIL not in log
    async with aiohttp.ClientSession() as s, s.get(proxy.admin + "/metrics") as r:
        text = await r.text()
    assert 'route="presidio:/analyze"' in text and CANARY_MAIL not in text


def _batch_stats(metrics_text: str) -> tuple[float, float]:
    count = re.search(r"^proxy_detection_batch_texts_count (\S+)$", metrics_text, re.M)
    total = re.search(r"^proxy_detection_batch_texts_sum (\S+)$", metrics_text, re.M)
    assert count is not None and total is not None
    return float(count.group(1)), float(total.group(1))


async def test_concurrent_requests_share_batches_and_get_their_own_answers(
    face: tuple[ProxyProcess, str], session: aiohttp.ClientSession
) -> None:
    proxy, url = face
    n = 64
    texts = [f"ticket {i}: reach me at user{i}.canary@example{i % 5}.org" for i in range(n)]

    async def metrics() -> str:
        async with aiohttp.ClientSession() as s, s.get(proxy.admin + "/metrics") as r:
            return await r.text()

    before = _batch_stats(await metrics())
    answers = await asyncio.gather(*(post(session, url + "/analyze", {"text": t, "language": "en"}) for t in texts))
    after = _batch_stats(await metrics())
    for text, (status, got, _) in zip(texts, answers, strict=True):
        assert status == 200
        assert [text[r["start"] : r["end"]] for r in got if r["entity_type"] == "EMAIL_ADDRESS"] == [text.split()[-1]]
    batches, batched_texts = after[0] - before[0], after[1] - before[1]
    assert batched_texts >= n
    assert batches < batched_texts  # some batch held texts of several requests


def test_serve_refuses_the_face_on_the_proxy_port(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "proxy",
            "serve",
            "--config",
            str(ROOT / "config" / "proxy.yaml"),
            "--port",
            str(port),
            "--admin-port",
            str(free_port()),
        ],
        env={
            **os.environ,
            "PRESIDIO_PORT": str(port),
            "PSEUDONYM_KEY": "k",
            "VAULT_KEY": "ab" * 32,
            "PYTHONPATH": str(ROOT),
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "PRESIDIO_PORT" in proc.stderr
