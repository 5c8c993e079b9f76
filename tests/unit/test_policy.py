"""Field rules (incl. default deny), entity operators and the two-phase plan, with a fake detector."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path

import pytest

from proxy.config import Destination, load_config
from proxy.policy import Policy, PolicyError, merge_overlaps
from proxy.redaction import PayloadError, Redaction
from recognizers.types import Finding

ROOT = Path(__file__).resolve().parents[2]
KEY = b"unit-key"

FAKE_PATTERNS = {
    "EMAIL_ADDRESS": r"[\w.]+@[\w.]+\w",
    "PERSON": r"\b(?:Maria Garcia|John Smith)\b",
    "US_ZIP_CODE": r"\b\d{5}\b",
    "IP_ADDRESS": r"\b\d+\.\d+\.\d+\.\d+\b",
}


def fake_detect(texts: list[str]) -> list[list[Finding]]:
    out = []
    for t in texts:
        found = []
        for entity, rx in FAKE_PATTERNS.items():
            for m in re.finditer(rx, t):
                found.append(Finding(m.start(), m.end(), entity, 0.9, "fake"))
        out.append(found)
    return out


def run(policy: Policy, value: object) -> tuple[object, list[dict[str, object]]]:
    plan = Redaction(policy).plan_record(value)
    out, events = plan.finish(fake_detect(plan.texts))
    return out, [e.as_dict() for e in events]


@pytest.fixture(scope="module")
def shipped() -> dict[str, Policy]:
    cfg = load_config(ROOT / "config" / "proxy.yaml", env={})
    return {name: Policy(name, d, KEY) for name, d in cfg.destinations.items()}


def test_chat_partner_shape(shipped: dict[str, Policy]) -> None:
    msg = {
        "conversation_id": "c-42",
        "sender": "visitor",
        "sent_at": "2026-11-25T10:00:00Z",
        "text": "I am Maria Garcia, write to maria@example.com, zip 94107",
        "survey": {"email": "maria@example.com", "zip": "94107-1234", "age": 34, "income": "$85,000", "ssn": "x"},
        "unknown": {"nested": "John Smith"},
    }
    out, events = run(shipped["chat_partner"], msg)
    assert out == {
        "conversation_id": "c-42",
        "sender": "visitor",
        "sent_at": "2026-11-25T10:00:00Z",
        "text": "I am <PERSON>, write to <EMAIL_ADDRESS>, zip 941XX",
        "survey": {
            "email": hmac.new(KEY, b"maria@example.com", hashlib.sha256).hexdigest(),
            "zip": "941XX",
            "age": "30-39",
            "income": "$50,000-$99,999",
        },
    }
    email_hash = out["survey"]["email"]  # type: ignore[index]
    assert re.fullmatch(r"[0-9a-f]{64}", email_hash)
    # same value + key -> same hash
    out2, _ = run(shipped["chat_partner"], {"survey": {"email": "maria@example.com"}})
    assert out2 == {"survey": {"email": email_hash}}
    dropped = {e["field"] for e in events if e["operator"] == "drop"}
    assert dropped == {"survey.*", "*"}  # keys the config does not name never reach the audit
    assert all(e.get("reason") == "default deny" for e in events if e["operator"] == "drop")
    # no raw value in any event
    blob = json.dumps(events)
    for raw in ("maria@example.com", "Maria Garcia", "94107", "John Smith", "85,000"):
        assert raw not in blob


def test_default_deny_arrays_and_wildcards() -> None:
    dest = Destination(
        fields={"items.*.name": "scan", "items.*.sku": "keep", "meta.**": "keep", "**.ip": "ip_truncate"},
        default_field="drop",
    )
    policy = Policy("d", dest, None)
    out, events = run(
        policy,
        {
            "items": [{"name": "for John Smith", "sku": "A1", "price": 3}, {"name": "x", "secret": "y"}],
            "meta": {"a": {"b": "John Smith"}},
            "deep": {"ip": "203.0.113.57"},
            "top": "gone",
        },
    )
    assert out == {
        "items": [{"name": "for <PERSON>", "sku": "A1"}, {"name": "x"}],
        "meta": {"a": {"b": "John Smith"}},
        "deep": {"ip": "203.0.113.0"},
    }
    assert {e["field"] for e in events if e["operator"] == "drop"} == {"items[0].*", "items[1].*", "*"}


def test_log_sink_keeps_every_field_and_scans_strings(shipped: dict[str, Policy]) -> None:
    record = {
        "message": "login by maria@example.com from 203.0.113.57",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
        "client_ip": "203.0.113.57",
        "remote_addr": "2001:db8:85a3:8d3::7348",
        "status": 200,
        "ok": True,
        "tags": ["John Smith", None],
    }
    out, _ = run(shipped["log_sink"], record)
    assert out == {
        "message": "login by <EMAIL_ADDRESS> from 203.0.113.0",
        "user_agent": record["user_agent"],
        "client_ip": "203.0.113.0",
        "remote_addr": "2001:db8:85a3::",
        "status": 200,
        "ok": True,
        "tags": ["<PERSON>", None],
    }


def test_unparseable_generalisation_drops_field_and_says_why(shipped: dict[str, Policy]) -> None:
    out, events = run(shipped["chat_partner"], {"survey": {"age": "thirty-four", "zip": "nope"}})
    assert out == {"survey": {}}
    reasons = sorted(str(e.get("reason")) for e in events)
    assert reasons == ["age_band could not parse the value", "zip3 could not parse the value"]


def test_operator_on_container_is_dropped() -> None:
    policy = Policy("d", Destination(fields={"a": "hash"}), KEY)
    out, events = run(policy, {"a": {"b": 1}})
    assert out == {}
    assert events[0]["reason"] == "hash needs a scalar"


def test_hash_without_key_is_refused() -> None:
    with pytest.raises(PolicyError):
        Policy("d", Destination(fields={"email": "hash"}), None)
    with pytest.raises(PolicyError):
        Policy("d", Destination(entities={"EMAIL_ADDRESS": "hash"}), None)


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        ("tag", "mail <EMAIL_ADDRESS> now"),
        ("drop", "mail  now"),
        ("mask", "mail ****@*******.com now"),
    ],
)
def test_entity_operators_in_text(op: str, expected: str) -> None:
    policy = Policy("d", Destination(entities={"default": "tag", "EMAIL_ADDRESS": op}, mask_keep_last=3), KEY)  # type: ignore[dict-item]
    plan = Redaction(policy).plan_text("mail ab12@example.com now")
    out, events = plan.finish(fake_detect(plan.texts))
    assert out == expected
    assert events[0].operator == op


def test_generaliser_failure_in_text_falls_back_to_tag() -> None:
    policy = Policy("d", Destination(entities={"default": "tag", "PERSON": "zip3"}), None)  # type: ignore[dict-item]
    plan = Redaction(policy).plan_text("hi John Smith")
    out, events = plan.finish(fake_detect(plan.texts))
    assert out == "hi <PERSON>"
    assert events[0].operator == "tag"


def test_allow_list() -> None:
    policy = Policy("d", Destination(allow_list=("John Smith",)), None)
    plan = Redaction(policy).plan_text("John Smith helps Maria Garcia")
    out, _ = plan.finish(fake_detect(plan.texts))
    assert out == "John Smith helps <PERSON>"


def test_overlaps_merge_to_union() -> None:
    merged = merge_overlaps(
        [Finding(0, 10, "A", 0.5, "r"), Finding(5, 15, "B", 0.9, "r"), Finding(20, 25, "C", 0.4, "r")]
    )
    assert [(f.start, f.end, f.entity) for f in merged] == [(0, 15, "B"), (20, 25, "C")]


def test_form_and_query_plans(shipped: dict[str, Policy]) -> None:
    r = Redaction(shipped["chat_partner"])
    plan = r.plan_body(
        "application/x-www-form-urlencoded", None, b"text=I+am+John+Smith&conversation_id=c-1&password=hunter2"
    )
    out, _ = plan.finish(fake_detect(plan.texts))
    assert out == b"text=I+am+%3CPERSON%3E&conversation_id=c-1"
    q = r.walker.query([("q", "mail maria@example.com"), ("page", "2")])
    out_q, _ = q.finish(fake_detect(q.texts))
    assert out_q == [("q", "mail <EMAIL_ADDRESS>"), ("page", "2")]


@pytest.mark.parametrize("body", [b"{", b'{"a": }', b"\xff\xfe", b'{"a": "\xc3"}'])
def test_bad_json_is_payload_error_without_echo(shipped: dict[str, Policy], body: bytes) -> None:
    with pytest.raises(PayloadError) as info:
        Redaction(shipped["chat_partner"]).plan_line(body)
    assert body.decode("latin-1") not in str(info.value) or len(body) < 3


def test_bad_form_and_text() -> None:
    r = Redaction(Policy("d", Destination(), None))
    with pytest.raises(PayloadError):
        r.plan_body("text/plain", "utf-8", b"caf\xe9")
    with pytest.raises(PayloadError):
        r.plan_body("application/x-www-form-urlencoded", "utf-8", b"a=%ZZ&&b")
