"""Request validation and result filtering of the Presidio face (``proxy.http.presidio``), pure:
no server, no detector (findings are given as our detector returns them)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from proxy.config import Presidio
from proxy.errors import DetectionTimeout
from proxy.http.presidio import (
    DEFAULT_FLAGS,
    NO_RECOGNIZERS,
    AnalyzeRequest,
    PresidioError,
    analyze_results,
    parse_analyze,
    run_ad_hoc,
)
from recognizers.types import Finding

LIMITS = Presidio(max_texts=4, max_ad_hoc_recognizers=2, max_patterns=2, max_regex_chars=64, max_list_items=3)
CANARY = "Zebulon Quarrington"


def parse(**body: Any) -> AnalyzeRequest:
    return parse_analyze({"language": "en", **body}, LIMITS)


def error_of(body: Any) -> tuple[int, str]:
    with pytest.raises(PresidioError) as info:
        parse_analyze(body, LIMITS)
    return info.value.status, info.value.message


def zip_recognizer(**over: Any) -> dict[str, Any]:
    rec = {
        "name": "Zip",
        "supported_language": "en",
        "patterns": [{"name": "zip", "regex": r"\b\d{5}\b", "score": 0.01}],
        "supported_entity": "ZIP",
    }
    return {**rec, **over}


def body(**kw: Any) -> dict[str, Any]:
    return {"text": "x", "language": "en", **kw}


def adhoc(**over: Any) -> dict[str, Any]:
    return body(ad_hoc_recognizers=[zip_recognizer(**over)])


def pat(regex: str, score: float = 0.5) -> list[dict[str, Any]]:
    return [{"name": "p", "regex": regex, "score": score}]


@pytest.mark.parametrize(
    ("request_body", "status", "message"),
    [
        ({}, 500, "No text provided"),
        ({"text": "", "language": "en"}, 500, "No text provided"),
        ({"text": [], "language": "en"}, 500, "No text provided"),
        ({"text": "x"}, 500, "No language provided"),
        ({"text": "x", "language": "zz"}, 500, NO_RECOGNIZERS),
        ({"text": "x", "language": ["en"]}, 500, NO_RECOGNIZERS),
        ([1, 2], 400, "Invalid request json"),
        ({"text": 5, "language": "en"}, 400, "text must be a string or a list of strings"),
        ({"text": ["a", 5], "language": "en"}, 400, "text must be a string or a list of strings"),
        ({"text": ["a"] * 5, "language": "en"}, 413, "text: at most 4 texts per request"),
        (body(entities="PERSON"), 400, "entities must be a list of strings"),
        (body(entities=["A", "B", "C", "D"]), 413, "entities: at most 3 items"),
        (body(score_threshold=2), 400, "score_threshold must be a number"),
        (body(score_threshold=True), 400, "score_threshold must be a number"),
        (body(regex_flags=1 << 20), 400, "regex_flags must be"),
        (body(regex_flags=-1), 400, "regex_flags must be"),
        (body(allow_list_match="fuzzy"), 400, "allow_list_match must be"),
        (body(allow_list=["(", "x"], allow_list_match="regex"), 400, "allow_list does not compile"),
        (body(context=[CANARY * 20]), 413, "context: an item is longer"),
        (body(ad_hoc_recognizers={"name": "x"}), 400, "ad_hoc_recognizers must be a list"),
        (body(ad_hoc_recognizers=[zip_recognizer()] * 3), 413, "at most 2 per request"),
        (body(ad_hoc_recognizers=["zip"]), 400, "must be an object"),
        (adhoc(patterns=pat("a" * 65)), 413, "at most 64 characters"),
        (adhoc(patterns=pat("a", 5)), 400, "score must be a number between 0 and 1"),
        (adhoc(patterns=pat("(")), 400, "does not compile"),
        (adhoc(patterns=pat("a") * 3), 413, "at most 2 patterns"),
        (adhoc(supported_entity="no spaces allowed"), 400, "supported_entity must be"),
        (adhoc(colour="red"), 400, "unexpected keyword argument 'colour'"),
        (adhoc(**{CANARY: 1}), 400, "unexpected keyword argument '(not shown)'"),
        (adhoc(patterns=None), 400, "should be initialized with patterns or with deny list"),
        (adhoc(deny_list=["a", "b", "c", "d"]), 413, "deny_list: at most 3 items"),
        (adhoc(deny_list_score="high"), 400, "deny_list_score must be"),
    ],
)  # fmt: skip
def test_invalid_requests(request_body: Any, status: int, message: str) -> None:
    got_status, got = error_of(request_body)
    assert got_status == status
    assert message in got
    assert CANARY not in got


def test_a_valid_request_keeps_presidio_defaults() -> None:
    req = parse(text="hello")
    assert req.texts == ("hello",) and not req.batch
    assert req.regex_flags == DEFAULT_FLAGS and req.allow_list_match == "exact"
    assert req.entities is None and req.score_threshold is None and not req.return_decision_process
    batch = parse(text=["a", "b"], entities=["PERSON"], score_threshold=0.5, return_decision_process=1)
    assert batch.batch and batch.texts == ("a", "b") and batch.entities == ("PERSON",)
    assert batch.score_threshold == 0.5 and batch.return_decision_process


def test_ad_hoc_regexes_are_to_be_probed_deny_lists_not() -> None:
    rec = zip_recognizer(deny_list=["Acme", "Initech"], context=["zip"])
    req = parse(text="x", ad_hoc_recognizers=[rec], allow_list=["^ok$"], allow_list_match="regex")
    names = [n for n, _ in req.to_probe]
    assert names == ["allow_list", "ad_hoc_recognizers[0].zip"]
    (adhoc,) = req.ad_hoc
    assert adhoc.entity == "ZIP" and adhoc.context == ("zip",)
    assert [p.deny_list for p in adhoc.patterns] == [False, True]


def f(entity: str, start: int, end: int, score: float = 0.85) -> Finding:
    return Finding(start, end, entity, score, f"{entity.title()}Recognizer")


def test_filters_as_presidio() -> None:
    text = "Call Jane at 555-0100, zip code 10023, or ok@example.com"
    found = [f("PERSON", 5, 9, 0.6), f("PHONE_NUMBER", 13, 21), f("EMAIL_ADDRESS", 42, 56, 1.0)]
    req = parse(text=text, score_threshold=0.7, allow_list=["ok@example.com"])
    (results,) = analyze_results(req, [found], [[]])
    assert [(r.entity_type, r.start, r.end) for r in results] == [("PHONE_NUMBER", 13, 21)]
    req = parse(text=text, entities=["PERSON", "ZIP"], ad_hoc_recognizers=[zip_recognizer(context=["zip"])])
    extra = run_ad_hoc(req, time.monotonic() + 5)
    (results,) = analyze_results(req, [found], extra)
    assert [(r.entity_type, r.start, r.end, r.score) for r in results] == [("PERSON", 5, 9, 0.6), ("ZIP", 32, 37, 0.4)]
    (zip_result,) = [r.to_dict(True) for r in results if r.entity_type == "ZIP"]
    assert zip_result["analysis_explanation"]["supportive_context_word"] == "zip"
    assert zip_result["analysis_explanation"]["original_score"] == 0.01
    assert [r.to_dict(False)["analysis_explanation"] for r in results] == [None, None]


def test_request_context_lifts_an_ad_hoc_result() -> None:
    """Presidio's e2e case: context ["Driver license"] supports a recognizer's "driver"."""
    rec = zip_recognizer(context=["driver"])
    text = "the number is 12345"
    plain = analyze_results(parse(text=text, ad_hoc_recognizers=[rec]), [[]], [[]])
    assert plain == [[]]
    req = parse(text=text, ad_hoc_recognizers=[rec], context=["Driver license"])
    (results,) = analyze_results(req, [[]], run_ad_hoc(req, time.monotonic() + 5))
    assert [(r.score, r.context_word) for r in results] == [(0.4, "driver")]


def test_duplicates_and_contained_results() -> None:
    text = "Jane Doe and Jane"
    found = [f("PERSON", 0, 8, 0.9), f("PERSON", 0, 4, 0.5), f("PERSON", 13, 17, 0.0), f("LOCATION", 0, 4, 0.5)]
    (results,) = analyze_results(parse(text=text), [found], [[]])
    assert [(r.entity_type, r.start, r.end) for r in results] == [("LOCATION", 0, 4), ("PERSON", 0, 8)]


def test_deny_list_and_allow_list_regex() -> None:
    text = "ACME sent it to acme and Initech; x@acme.com"
    rec = zip_recognizer(patterns=None, deny_list=["acme", "Initech"], supported_entity="ORG", deny_list_score=0.9)
    req = parse(text=text, ad_hoc_recognizers=[rec])
    (results,) = analyze_results(req, [[]], run_ad_hoc(req, time.monotonic() + 5))
    # Presidio's deny-list regex with its default flags (IGNORECASE): every case, whole words
    assert [text[r.start : r.end] for r in results] == ["ACME", "acme", "Initech", "acme"]
    req = parse(text=text, ad_hoc_recognizers=[rec], allow_list=["^ac"], allow_list_match="regex")
    (results,) = analyze_results(req, [[]], run_ad_hoc(req, time.monotonic() + 5))
    assert [text[r.start : r.end] for r in results] == ["Initech"]
    req = parse(text=text, ad_hoc_recognizers=[rec], regex_flags=0)
    (results,) = analyze_results(req, [[]], run_ad_hoc(req, time.monotonic() + 5))
    assert [text[r.start : r.end] for r in results] == ["acme", "Initech", "acme"]


def test_ad_hoc_past_its_budget_fails_closed() -> None:
    rec = zip_recognizer(patterns=[{"name": "slow", "regex": "(a|aa)+$", "score": 0.5}])
    req = parse(text="a" * 60 + "b", ad_hoc_recognizers=[rec])
    with pytest.raises(DetectionTimeout):
        run_ad_hoc(req, time.monotonic() + 0.05)
    with pytest.raises(DetectionTimeout):
        run_ad_hoc(req, time.monotonic() - 1)


def test_ad_hoc_of_another_language_or_entity_is_not_run() -> None:
    text = "zip 12345"
    other = parse(text=text, ad_hoc_recognizers=[zip_recognizer(supported_language="de")])
    assert run_ad_hoc(other, time.monotonic() + 5) == [[]]
    filtered = parse(text=text, ad_hoc_recognizers=[zip_recognizer()], entities=["PERSON"])
    assert run_ad_hoc(filtered, time.monotonic() + 5) == [[]]


def test_messages_never_quote_values() -> None:
    for body in (
        {"text": CANARY, "language": "en", "score_threshold": CANARY},
        {"text": CANARY, "language": "en", "allow_list": [CANARY, "("], "allow_list_match": "regex"},
        {"text": CANARY, "language": "en", "ad_hoc_recognizers": [zip_recognizer(name=5)]},
    ):
        status, message = error_of(body)
        assert status == 400 and CANARY not in message and not re.search(r"Zebulon|Quarrington", message)


def test_presidio_config_block(tmp_path: Any) -> None:
    from proxy.config import load_config
    from proxy.yamlload import ConfigError

    shipped = "config/proxy.yaml"
    assert load_config(shipped, env={}).presidio.port is None  # unset: the face is off
    on = load_config(shipped, env={"PRESIDIO_PORT": "3000", "PRESIDIO_HOST": "10.0.0.5"}).presidio
    assert (on.port, on.host, on.token_env) == (3000, "10.0.0.5", "PRESIDIO_API_TOKEN")
    for bad, where in (("abc", "presidio.port"), ("70000", "presidio.port"), ("8080", "presidio.port: must differ")):
        with pytest.raises(ConfigError) as info:
            load_config(shipped, env={"PRESIDIO_PORT": bad})
        assert any(where in p for p in info.value.problems), info.value.problems
