"""Children's data: the ``minors`` rule in the core (no sockets, a fake detector)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from proxy.config import Destination
from proxy.errors import Withheld
from proxy.http.errors import answer_for
from proxy.policy import Policy
from proxy.redaction import Limits, Redaction, run
from proxy.redaction.stream import MessageRedactor
from recognizers.types import Finding
from tests.helpers import drive

FIELDS = {"text": "scan", "survey.age": "age_band", "survey.zip": "zip3", "survey.note": "scan"}


async def no_findings(texts: list[str]) -> list[list[Finding]]:
    return [[] for _ in texts]


def redaction(**minors: Any) -> Redaction:
    rule = {"field": "survey.age", "under": 13, "action": "block", **minors}
    dest = Destination.model_validate({"fields": FIELDS, "minors": rule})
    return Redaction(Policy("d", dest, b"k"), Limits(max_message_bytes=4096))


def body(age: Any, **survey: Any) -> bytes:
    return json.dumps({"text": "hi", "survey": {"age": age, "zip": "94107", **survey}}).encode()


def redact(red: Redaction, data: bytes, ctype: str = "application/json") -> tuple[Any, list[Any]]:
    return asyncio.run(run(red.plan_body(ctype, None, data), no_findings))


@pytest.mark.parametrize("age", [0, 5, 11, 12, "12", "12 years", 12.9])
def test_a_survey_age_under_the_limit_withholds_the_whole_message(age: Any) -> None:
    with pytest.raises(Withheld) as caught:
        redact(redaction(), body(age))
    assert caught.value.path == "survey.age" and caught.value.reason == "minor"
    assert str(age) not in caught.value.message.replace("the policy", "")  # quotes nothing


@pytest.mark.parametrize(("age", "band"), [(13, "under 18"), ("17", "under 18"), (34, "30-39")])
def test_a_survey_age_at_or_over_the_limit_passes_banded(age: Any, band: str) -> None:
    out, _ = redact(redaction(), body(age))
    assert json.loads(out)["survey"]["age"] == band


@pytest.mark.parametrize("age", [None, "", "eleven", "12 or 40", True, -3, 200, {"years": 11}])
def test_an_age_that_says_nothing_is_not_withheld_and_never_passes_raw(age: Any) -> None:
    out, _ = redact(redaction(), body(age))
    assert json.loads(out)["survey"].get("age") is None  # dropped (or null): a generaliser that cannot parse drops


def test_no_survey_or_no_age_field_passes() -> None:
    out, _ = redact(redaction(), b'{"text": "my daughter is 11"}')
    assert json.loads(out) == {"text": "my daughter is 11"}  # free text: the detector bands it


def test_one_child_in_a_batch_withholds_the_batch() -> None:
    batch = json.dumps([json.loads(body(40)), json.loads(body(9))]).encode()
    with pytest.raises(Withheld):
        redact(redaction(), batch)


def test_drop_fields_removes_the_named_fields_and_audits_them() -> None:
    red = redaction(action="drop_fields", drop_fields=["survey.age", "survey.zip"])
    out, events = redact(red, body(10, note="likes maths"))
    assert json.loads(out) == {"text": "hi", "survey": {"note": "likes maths"}}
    dropped = [e for e in events if e.reason == "minor"]
    assert [e.path for e in dropped] == ["survey.age", "survey.zip"] and all(e.operator == "drop" for e in dropped)


def test_drop_fields_defaults_to_the_age_field() -> None:
    out, _ = redact(redaction(action="drop_fields"), body(10))
    survey = json.loads(out)["survey"]
    assert "age" not in survey and "zip" in survey


def test_form_bodies_follow_the_same_rule() -> None:
    red = redaction()
    with pytest.raises(Withheld):
        redact(red, b"text=hi&survey.age=11", "application/x-www-form-urlencoded")
    red2 = redaction(action="drop_fields")
    out, _ = redact(red2, b"text=hi&survey.age=11", "application/x-www-form-urlencoded")
    assert b"survey.age" not in out and b"11" not in out


def test_websocket_message_of_a_child_is_withheld_alone() -> None:
    red = redaction()
    seen: list[Any] = []
    r = MessageRedactor(red, no_findings, seen.append)
    with pytest.raises(Withheld):
        drive(r, [body(8)])
    assert json.loads(drive(MessageRedactor(red, no_findings, seen.append), [body(30)]))["survey"]["age"] == "30-39"


def test_ndjson_stream_cuts_at_the_childs_line_forwarding_the_lines_before() -> None:
    red = redaction()
    stream = red.stream("application/x-ndjson", "request", no_findings, lambda e: None)
    chunk = body(30) + b"\n" + body(7) + b"\n" + body(40) + b"\n"
    with pytest.raises(Withheld) as caught:
        drive(stream, [chunk])
    assert caught.value.partial.count(b"\n") == 1 and b"30-39" in caught.value.partial


def test_the_edge_answers_451_quoting_nothing() -> None:
    err = answer_for(
        Withheld("the policy withholds this message; nothing was forwarded", path="survey.age", reason="minor")
    )
    assert err is not None and err.status == 451 and err.code == "withheld"


@pytest.mark.parametrize(
    "bad",
    [{"field": "survey.*"}, {"field": ""}, {"field": "survey.age", "under": 0}, {"field": "a", "action": "warn"}],
)
def test_config_refuses_a_bad_minors_rule(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Destination.model_validate({"fields": FIELDS, "minors": bad})
