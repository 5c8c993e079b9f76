"""The peer-suite extraction file and its scorer (``benchmarks/peer_suites*.py``).

The committed ``benchmarks/data/peer_suites.json`` must be exactly what the transcripts in
``benchmarks/data/peer_sources/`` give, every case well-formed; the scorer must count a known hit,
a known miss and a known over-redaction as such. No detector runs here (the benchmark does that).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from benchmarks import peer_suites, peer_suites_extract
from benchmarks.accuracy import Pred

SOURCES = {
    "microsoft/presidio",
    "microsoft/presidio-research",
    "LeapBeyond/scrubadub",
    "DataFog/datafog-python",
}


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    return peer_suites.load()


def test_committed_json_is_what_the_transcripts_give(data: dict[str, Any]) -> None:
    assert peer_suites_extract.dump(peer_suites_extract.extract()) == peer_suites_extract.dump(data)


def test_every_source_names_repository_path_commit_and_licence(data: dict[str, Any]) -> None:
    assert {s["repo"] for s in data["sources"]} == SOURCES
    for s in data["sources"]:
        assert re.fullmatch(r"[0-9a-f]{40}", s["commit"]), s["path"]
        assert s["licence"].split(" ")[0] in {"MIT", "Apache-2.0"}
        assert (peer_suites_extract.SOURCES / s["transcript"]).is_file()


def test_every_case_is_well_formed(data: dict[str, Any]) -> None:
    cases = data["cases"]
    assert len(cases) >= 800
    refs = [c["ref"] for c in cases]
    assert len(set(refs)) == len(refs)
    for c in cases:
        assert 0 <= c["source"] < len(data["sources"]), c["ref"]
        assert c["expected"] or c["negative_for"], c["ref"]  # each case checks something
        for e in c["expected"]:
            assert 0 <= e["start"] < e["end"] <= len(c["text"]), c["ref"]
            assert c["text"][e["start"] : e["end"]].strip(), c["ref"]
            assert e["in_scope"] == (e["entity"] in peer_suites_extract.OURS), c["ref"]
        for n in c["negative_for"]:
            assert n == "*" or n.isupper(), c["ref"]
            assert all(e["entity"] != n for e in c["expected"]), c["ref"]


def test_known_cases_are_extracted_with_their_spans(data: dict[str, Any]) -> None:
    by_text: dict[str, list[dict[str, Any]]] = {}
    for c in data["cases"]:
        by_text.setdefault(c["text"], []).append(c)

    def values(text: str) -> set[tuple[str, str]]:
        return {(c["text"][e["start"] : e["end"]], e["entity"]) for c in by_text[text] for e in c["expected"]}

    # a Presidio table row, a scrubadub BEFORE/AFTER pair, a DataFog case, a context sentence
    assert values("my credit card: 122000000000003") == {("122000000000003", "CREDIT_CARD")}
    assert values("My phone number is 312-515-2239 ext. 12") == {("312-515-2239 ext. 12", "PHONE_NUMBER")}
    assert values("Call me at (555) 123-4567 tomorrow.") == {("(555) 123-4567", "PHONE_NUMBER")}
    assert values("my phone number is:(425) 882-9090") == {("(425) 882-9090", "PHONE_NUMBER")}
    # negatives: an invalid IBAN; a DataFog negative control; presidio-research text without PII
    assert by_text["AL47 2121 1009 0000 0002 3569 8740"][0]["negative_for"] == ["IBAN_CODE"]
    assert by_text["Part number: 555-123-4567-A"][0]["negative_for"] == ["PHONE_NUMBER"]
    assert by_text["3... 2... 1... liftoff!"][0]["negative_for"] == ["*"]
    # out of scope kept, marked
    org = [e for c in by_text["I work for Geoscape"] for e in c["expected"]]
    assert [(e["entity"], e["in_scope"]) for e in org] == [("ORGANIZATION", False)]


def _case(text: str, expected: list[tuple[str, str]], negative_for: list[str] | None = None) -> dict[str, Any]:
    spans = []
    for value, entity in expected:
        start = text.index(value)
        spans.append(
            {"start": start, "end": start + len(value), "entity": entity, "peer_entity": entity, "in_scope": True}
        )
    return {"source": 0, "ref": f"t#{text[:8]}", "text": text, "expected": spans, "negative_for": negative_for or []}


def test_scorer_counts_a_hit_a_miss_and_an_over_redaction() -> None:
    scope = peer_suites_extract.OURS
    cases = [
        _case("call Mr. Oduya on 415-555-0132", [("Mr. Oduya", "PERSON"), ("415-555-0132", "PHONE_NUMBER")]),
        _case("card 4111 1111 1111 1111 now", [("4111 1111 1111 1111", "CREDIT_CARD")]),
        _case("AL47 2121 1009 0000 0002 3569 8740", [], ["IBAN_CODE"]),
        _case("Numbers 111222333444 are identifiers", [], ["US_SSN"]),
    ]
    t0, _t1, t2, t3 = (c["text"] for c in cases)
    preds = [
        # the name without its title (Mr is neutral) and the phone: both found
        [Pred(t0.index("Oduya"), t0.index("Oduya") + 5, "PERSON"), Pred(18, 30, "PHONE_NUMBER")],
        # the card's last group left: a miss ("partly")
        [Pred(5, 19, "CREDIT_CARD")],
        # an IBAN finding on an invalid IBAN: over-redacted
        [Pred(0, len(t2), "IBAN_CODE")],
        # a phone finding where the peer says no SSN: clean of SSNs, not of any tag
        [Pred(t3.index("111"), t3.index("111") + 12, "PHONE_NUMBER")],
    ]
    side = peer_suites.score(cases, preds, scope)
    assert (side.rows["PERSON"].positives, side.rows["PERSON"].found) == (1, 1)
    assert (side.rows["PHONE_NUMBER"].found, side.rows["PHONE_NUMBER"].typed) == (1, 1)
    assert (side.rows["CREDIT_CARD"].positives, side.rows["CREDIT_CARD"].found) == (1, 0)
    assert (side.rows["IBAN_CODE"].negatives, side.rows["IBAN_CODE"].clean) == (1, 0)
    ssn = side.rows["US_SSN"]
    assert (ssn.negatives, ssn.clean, ssn.clean_any) == (1, 1, 0)
    assert side.rows["CREDIT_CARD"].agreement() == 0.0
    kinds = sorted(d.kind for d in side.disagreements)
    assert kinds == ["over-redacted", "over-redacted (other tag)", "partly"]
    miss = next(d for d in side.disagreements if d.kind == "partly")
    assert miss.detail.endswith("left: 1111")


def test_country_name_may_stay_in_an_address() -> None:
    text = "ship to 16 48 rue Descartes, Monte Gil, Canada for me"
    value = "16 48 rue Descartes, Monte Gil, Canada"
    a = text.index(value)
    cover = bytearray(len(text))
    cover[a : a + len(value) - len("Canada")] = b"\x01" * (len(value) - len("Canada"))
    assert peer_suites.leaked(text, a, a + len(value), cover, "STREET_ADDRESS") == []
    assert peer_suites.leaked(text, a, a + len(value), cover, "PERSON") == ["Canada"]
