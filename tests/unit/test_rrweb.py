"""The rrweb co-browse redactor, table by table: events in, redacted events out (FakeDetect
finds the canary PII below; the real detector is exercised by the integration tests)."""

from __future__ import annotations

import asyncio
import copy
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.config import Destination, parse_selectors
from proxy.errors import PayloadError
from proxy.policy import AuditEvent, Policy
from proxy.redaction import run
from proxy.redaction.rrweb import RrwebMessages, RrwebRedactor, RrwebSession, Sessions, run_plan
from recognizers.types import Finding

# The canary PII FakeDetect finds: a name, an e-mail address, a card number.
PII_RX = re.compile(r"Maria Garcia|maria\.garcia@example\.com|4111 1111 1111 1111")


class FakeDetect:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def __call__(self, texts: list[str]) -> list[list[Finding]]:
        self.calls.append(list(texts))
        return [[Finding(m.start(), m.end(), "PII", 0.9, "fake") for m in PII_RX.finditer(t)] for t in texts]


def redactor(**cobrowse: Any) -> RrwebRedactor:
    dest = Destination.model_validate({"directions": ["request"], "cobrowse": cobrowse})
    return RrwebRedactor(Policy("cobrowse", dest, None))


def redact(
    red: RrwebRedactor, events: list[Any], sess: RrwebSession | None = None, detect: FakeDetect | None = None
) -> tuple[list[Any], list[AuditEvent]]:
    sess = sess if sess is not None else red.session()
    return asyncio.run(run(red.plan(sess, copy.deepcopy(events)), detect or FakeDetect()))


def stars(s: str) -> str:
    return "*" * len(s)


# ---- a small page, serialized as rrweb does ----------------------------------------------------
def el(nid: int, tag: str, attrs: dict[str, Any] | None = None, *kids: dict[str, Any]) -> dict[str, Any]:
    return {"type": 2, "tagName": tag, "attributes": attrs or {}, "childNodes": list(kids), "id": nid}


def txt(nid: int, text: str, **kw: Any) -> dict[str, Any]:
    return {"type": 3, "textContent": text, "id": nid, **kw}


def full(*body: dict[str, Any]) -> dict[str, Any]:
    doc = {
        "type": 0,
        "childNodes": [
            {"type": 1, "name": "html", "publicId": "", "systemId": "", "id": 2},
            el(
                3,
                "html",
                {},
                el(4, "head", {}, el(5, "style", {}, txt(6, ".a{color:red} /* Maria Garcia */", isStyle=True))),
                el(7, "body", {}, *body),
            ),
        ],
        "id": 1,
    }
    return {"type": 2, "data": {"node": doc, "initialOffset": {"left": 0, "top": 0}}, "timestamp": 1}


PAGE = full(
    el(10, "h1", {}, txt(11, "Hello Maria Garcia")),
    el(12, "input", {"type": "email", "name": "email", "value": "maria.garcia@example.com"}),
    el(13, "input", {"type": "text", "name": "card", "autocomplete": "cc-number", "value": "4111 1111 1111 1111"}),
    el(14, "input", {"type": "text", "name": "note", "placeholder": "e.g. Maria Garcia", "value": "hi Maria Garcia"}),
    el(15, "input", {"type": "password", "name": "pw", "value": "hunter2"}),
    el(
        16,
        "a",
        {
            "href": "https://shop.example/u/maria.garcia%40example.com?who=Maria%20Garcia&page=2#Maria Garcia",
            "title": "Maria Garcia",
            "class": "link",
        },
        txt(17, "profile"),
    ),
    el(18, "a", {"href": "mailto:maria.garcia@example.com?subject=hi"}, txt(19, "mail")),
    el(20, "a", {"href": "tel:+1-202-555-0100"}, txt(21, "call")),
    el(22, "div", {"class": "account-number"}, txt(23, "4111 1111 1111 1111 acct")),
    el(24, "div", {"id": "order-notes", "data-pii": "Maria Garcia"}, txt(25, "deliver to Maria Garcia")),
    {"type": 5, "textContent": " Maria Garcia was here ", "id": 26},
    el(27, "img", {"src": "data:image/png;base64,AAAA", "alt": "photo of Maria Garcia", "rr_dataURL": "data:x"}),
    el(28, "script", {}, txt(29, "SCRIPT_PLACEHOLDER")),
    el(30, "textarea", {"name": "msg", "value": "card 4111 1111 1111 1111"}),
)


def nodes_by_id(node: dict[str, Any], out: dict[int, dict[str, Any]] | None = None) -> dict[int, dict[str, Any]]:
    out = {} if out is None else out
    out[node["id"]] = node
    for c in node.get("childNodes", []):
        nodes_by_id(c, out)
    return out


def shape(node: dict[str, Any]) -> Any:
    """Ids and tree shape (what replay needs unchanged)."""
    return (node["id"], node["type"], node.get("tagName"), [shape(c) for c in node.get("childNodes", [])])


def test_full_snapshot_table() -> None:
    red = redactor()
    detect = FakeDetect()
    (out,), audit = redact(red, [PAGE], detect=detect)
    assert len(detect.calls) == 1  # one detection call for all texts of the event
    assert shape(out["data"]["node"]) == shape(PAGE["data"]["node"])
    n = nodes_by_id(out["data"]["node"])
    assert n[6]["textContent"] == ".a{color:red} /* Maria Garcia */"  # style: not content
    assert n[11]["textContent"] == "Hello " + stars("Maria Garcia")
    assert n[12]["attributes"]["value"] == stars("maria.garcia@example.com")  # type=email: whole
    assert n[13]["attributes"]["value"] == stars("4111 1111 1111 1111")  # autocomplete cc-number
    assert n[14]["attributes"]["value"] == "hi " + stars("Maria Garcia")  # text input: scanned
    assert n[14]["attributes"]["placeholder"] == "e.g. " + stars("Maria Garcia")
    assert n[14]["attributes"]["name"] == "note" and n[14]["attributes"]["type"] == "text"
    assert n[15]["attributes"]["value"] == stars("hunter2")  # password: whole, never scanned
    href = n[16]["attributes"]["href"]
    assert "maria" not in href.lower() and "Garcia" not in href
    assert href.startswith("https://shop.example/u/") and "page=2" in href
    assert n[16]["attributes"]["title"] == stars("Maria Garcia")
    assert n[16]["attributes"]["class"] == "link"
    assert n[18]["attributes"]["href"].startswith("mailto:" + stars("maria.garcia@example.com"))
    assert n[20]["attributes"]["href"] == "tel:" + stars("+1-202-555-0100")
    assert n[23]["textContent"] == stars("4111 1111 1111 1111") + " acct"  # scanned by default
    assert n[24]["attributes"]["data-pii"] == stars("Maria Garcia")  # data-* scanned by default
    assert n[26]["textContent"] == " " + stars("Maria Garcia") + " was here "  # comment
    assert n[27]["attributes"]["src"] == "data:image/png;base64,AAAA"
    assert n[27]["attributes"]["alt"] == "photo of " + stars("Maria Garcia")
    assert "rr_dataURL" not in n[27]["attributes"]  # pixels cannot be scanned: dropped
    assert n[29]["textContent"] == "SCRIPT_PLACEHOLDER"
    assert n[30]["attributes"]["value"] == "card " + stars("4111 1111 1111 1111")
    text = json.dumps(audit and [a.as_dict() for a in audit])
    assert not PII_RX.search(text) and "hunter2" not in text  # audit records never hold values
    assert not PII_RX.search(json.dumps(out).replace("/* Maria Garcia */", ""))
    # texts without a letter or digit never go to detection
    assert all(re.search(r"\w", t) for t in detect.calls[0])


def test_policy_rules_mask_scan_keep() -> None:
    red = redactor(
        rules={
            ".account-number": "mask",
            "[data-pii]": "mask",
            "#order-notes": "scan",
            "h1": "keep",
            "input[name=note]": "mask",
        }
    )
    (out,), _ = redact(red, [PAGE])
    n = nodes_by_id(out["data"]["node"])
    assert n[23]["textContent"] == stars("4111 1111 1111 1111 acct")  # .account-number: whole
    # #order-notes (an id) is more specific than [data-pii]: scan wins on the element
    assert n[25]["textContent"] == "deliver to " + stars("Maria Garcia")
    assert n[11]["textContent"] == "Hello Maria Garcia"  # h1: keep
    assert n[14]["attributes"]["value"] == stars("hi Maria Garcia")
    assert n[14]["attributes"]["placeholder"] == stars("e.g. Maria Garcia")


def test_mask_with_tag_and_default_mask() -> None:
    red = redactor(mask_with="tag", text="mask")
    (out,), _ = redact(red, [PAGE])
    n = nodes_by_id(out["data"]["node"])
    assert n[11]["textContent"] == "<MASKED>"
    assert n[12]["attributes"]["value"] == "<MASKED>"
    red = redactor(mask_with="tag")
    (out,), _ = redact(red, [PAGE])
    n = nodes_by_id(out["data"]["node"])
    assert n[11]["textContent"] == "Hello <PII>"  # findings by the destination's entity operators


INPUT_TYPES = [
    # (attributes, typed, expected)
    ({"type": "text"}, "hello Maria Garcia", "hello " + stars("Maria Garcia")),
    ({"type": "text"}, "plain words", "plain *****"),  # the word being typed: masked (typing guard)
    ({"type": "text"}, "plain words ", "plain words "),
    ({"type": "checkbox"}, "on", "on"),
    ({"type": "email"}, "a@b.c", stars("a@b.c")),
    ({"type": "tel"}, "202 555 0100", stars("202 555 0100")),
    ({"type": "password"}, "s3cret", stars("s3cret")),
    ({"type": "search"}, "Maria Garcia", stars("Maria Garcia")),
    ({"type": "number"}, "42", "**"),  # digits: masked (typing guard)
    ({"type": "text", "autocomplete": "cc-number"}, "4111", stars("4111")),
    ({"type": "text", "autocomplete": "cc-csc"}, "123", stars("123")),
    ({"type": "text", "autocomplete": "bday"}, "1990-01-01", stars("1990-01-01")),
    ({"type": "text", "autocomplete": "shipping street-address"}, "1 Main St", stars("1 Main St")),
    ({"type": "text", "autocomplete": "postal-code"}, "94107", stars("94107")),
    ({"type": "text", "autocomplete": "name"}, "Bo", stars("Bo")),
    ({"type": "text", "autocomplete": "off"}, "Bo!", "Bo!"),
    ({"type": "TEXT", "autocomplete": "EMAIL"}, "x", stars("x")),
]


@pytest.mark.parametrize(("attrs", "typed", "expected"), INPUT_TYPES)
def test_input_events_per_input_type(attrs: dict[str, str], typed: str, expected: str) -> None:
    red = redactor()
    sess = red.session()
    redact(red, [full(el(40, "input", attrs))], sess)
    (out,), audit = redact(
        red, [{"type": 3, "data": {"source": 5, "id": 40, "text": typed, "isChecked": False}, "timestamp": 2}], sess
    )
    assert out["data"] == {"source": 5, "id": 40, "text": expected, "isChecked": False}
    assert typed not in json.dumps([a.as_dict() for a in audit])


def test_select_and_textarea_inputs() -> None:
    red = redactor()
    sess = red.session()
    redact(red, [full(el(40, "select", {"autocomplete": "country"}), el(41, "textarea", {}))], sess)
    evs = [
        {"type": 3, "data": {"source": 5, "id": 40, "text": "FR", "isChecked": False}, "timestamp": 2},
        {"type": 3, "data": {"source": 5, "id": 41, "text": "to Maria Garcia", "isChecked": False}, "timestamp": 3},
    ]
    out, _ = redact(red, evs, sess)
    assert [e["data"]["text"] for e in out] == ["FR", "to " + stars("Maria Garcia")]


def test_typing_guard_hides_half_typed_values() -> None:
    red = redactor()
    sess = red.session()
    redact(red, [full(el(40, "input", {"type": "text", "name": "notes"}))], sess)
    value = "card 4111 1111 1111 1111 mail maria.garcia@example.com ok"
    evs = [
        {"type": 3, "data": {"source": 5, "id": 40, "text": value[:i], "isChecked": False}, "timestamp": i}
        for i in range(1, len(value) + 1)
    ]
    out, _ = redact(red, evs, sess)
    sent = [e["data"]["text"] for e in out]
    assert all(len(a) == len(b) for a, b in zip(sent, (e["data"]["text"] for e in evs), strict=True))
    assert not any(c.isdigit() for t in sent for c in t)
    assert not any("maria" in t or "@exa" in t for t in sent)  # never a half-typed address
    assert sent[-1] == "card " + "*" * 19 + " mail " + "*" * 24 + " **"
    red = redactor(typing_guard=False)
    sess = red.session()
    redact(red, [full(el(40, "input", {"type": "text", "name": "notes"}))], sess)
    (out1,), _ = redact(red, [evs[8]], sess)
    assert out1["data"]["text"] == "card 4111"  # without the guard a half-typed number leaves


def test_input_for_an_unknown_node_is_masked_whole() -> None:
    red = redactor()
    detect = FakeDetect()
    (out,), audit = redact(
        red,
        [{"type": 3, "data": {"source": 5, "id": 999, "text": "plain", "isChecked": False}, "timestamp": 2}],
        detect=detect,
    )
    assert out["data"]["text"] == "*****"
    assert detect.calls == []  # never scanned as if it were safe
    assert [a.reason for a in audit] == ["unknown node"]


MUTATION_BASE = full(
    el(50, "div", {"class": "account-number"}, txt(51, "acct")),
    el(52, "ul", {}, txt(53, "x")),
    el(54, "input", {"type": "text", "name": "q"}),
)


def mutation(**kw: Any) -> dict[str, Any]:
    data = {"source": 0, "texts": [], "attributes": [], "removes": [], "adds": [], **kw}
    return {"type": 3, "data": data, "timestamp": 5}


MUTATIONS = [
    # (mutation, path into the output, expected)
    (mutation(texts=[{"id": 53, "value": "now Maria Garcia"}]), ("texts", 0, "value"), "now " + stars("Maria Garcia")),
    (
        mutation(texts=[{"id": 51, "value": "Maria Garcia"}]),
        ("texts", 0, "value"),
        stars("Maria Garcia"),
    ),  # masked parent
    (mutation(texts=[{"id": 777, "value": "hello"}]), ("texts", 0, "value"), stars("hello")),  # unknown node
    (mutation(texts=[{"id": 53, "value": None}]), ("texts", 0, "value"), None),
    (
        mutation(attributes=[{"id": 52, "attributes": {"title": "Maria Garcia", "class": "c"}}]),
        ("attributes", 0, "attributes"),
        {"title": stars("Maria Garcia"), "class": "c"},
    ),
    (
        mutation(attributes=[{"id": 54, "attributes": {"value": "hi Maria Garcia"}}]),
        ("attributes", 0, "attributes", "value"),
        "hi " + stars("Maria Garcia"),
    ),
    (
        mutation(attributes=[{"id": 54, "attributes": {"type": "email", "value": "a@b.c"}}]),  # type changes first
        ("attributes", 0, "attributes", "value"),
        stars("a@b.c"),
    ),
    (
        mutation(attributes=[{"id": 778, "attributes": {"class": "x", "title": "t", "style": {"color": "red"}}}]),
        ("attributes", 0, "attributes"),
        {"class": "*", "title": "*", "style": {"color": "red"}},
    ),
    (
        mutation(
            adds=[
                {
                    "parentId": 52,
                    "nextId": None,
                    "node": el(60, "li", {"title": "Maria Garcia"}, txt(61, "Maria Garcia")),
                }
            ]
        ),
        ("adds", 0, "node", "childNodes", 0, "textContent"),
        stars("Maria Garcia"),
    ),
    (
        mutation(adds=[{"parentId": 50, "nextId": None, "node": txt(62, "fresh text")}]),  # into a masked element
        ("adds", 0, "node", "textContent"),
        stars("fresh text"),
    ),
    (
        mutation(adds=[{"parentId": 999, "nextId": None, "node": txt(63, "orphan")}]),  # unknown parent
        ("adds", 0, "node", "textContent"),
        stars("orphan"),
    ),
    # a child listed before its parent, in one mutation: the parent's mode still applies
    (
        mutation(
            adds=[
                {"parentId": 64, "nextId": None, "node": txt(65, "inner Maria Garcia")},
                {"parentId": 50, "nextId": None, "node": el(64, "span", {})},
            ]
        ),
        ("adds", 0, "node", "textContent"),
        stars("inner Maria Garcia"),
    ),
    (
        mutation(removes=[{"parentId": 7, "id": 52}], texts=[{"id": 53, "value": "after"}]),
        ("texts", 0, "value"),
        stars("after"),
    ),  # its parent was removed: unknown chain
]


@pytest.mark.parametrize(("ev", "path", "expected"), MUTATIONS)
def test_mutations(ev: dict[str, Any], path: tuple[Any, ...], expected: Any) -> None:
    red = redactor(rules={".account-number": "mask"})
    sess = red.session()
    redact(red, [MUTATION_BASE], sess)
    (out,), _ = redact(red, [ev], sess)
    got: Any = out["data"]
    for p in path:
        got = got[p]
    assert got == expected
    # ids, order and shape unchanged
    assert [a["node"]["id"] for a in out["data"]["adds"]] == [a["node"]["id"] for a in ev["data"]["adds"]]


def test_mutation_learns_new_inputs_and_removes_forget_them() -> None:
    red = redactor()
    sess = red.session()
    redact(red, [MUTATION_BASE], sess)
    add = mutation(adds=[{"parentId": 7, "nextId": None, "node": el(70, "input", {"type": "tel"})}])
    typed = {"type": 3, "data": {"source": 5, "id": 70, "text": "hello", "isChecked": False}, "timestamp": 6}
    out, _ = redact(red, [add, typed], sess)  # learnt in the same batch
    assert out[1]["data"]["text"] == stars("hello")
    redact(red, [mutation(removes=[{"parentId": 7, "id": 54}])], sess)
    (out2,), _ = redact(
        red, [{"type": 3, "data": {"source": 5, "id": 54, "text": "abc", "isChecked": False}, "timestamp": 7}], sess
    )
    assert out2["data"]["text"] == "***"  # forgotten: unknown now


def test_class_change_moves_a_subtree_under_a_rule() -> None:
    red = redactor(rules={".secret": "mask"})
    sess = red.session()
    redact(red, [MUTATION_BASE], sess)
    redact(red, [mutation(attributes=[{"id": 52, "attributes": {"class": "secret"}}])], sess)
    (out,), _ = redact(red, [mutation(texts=[{"id": 53, "value": "plain"}])], sess)
    assert out["data"]["texts"][0]["value"] == "*****"


def test_shadow_dom_and_iframe_nodes() -> None:
    red = redactor(rules={".vault": "mask"})
    sess = red.session()
    page = full(
        el(80, "my-card", {"class": "vault"}, {**txt(81, "Maria Garcia"), "isShadow": True}),
        el(82, "iframe", {"src": "/frame?u=Maria%20Garcia"}),
    )
    page["data"]["node"]["childNodes"][1]["childNodes"][1]["childNodes"][0]["isShadowHost"] = True
    (out,), _ = redact(red, [page], sess)
    n = nodes_by_id(out["data"]["node"])
    assert n[81]["textContent"] == stars("Maria Garcia")
    assert "Maria" not in n[82]["attributes"]["src"]
    frame_doc = {
        "type": 0,
        "childNodes": [
            el(91, "html", {}, el(92, "body", {}, txt(93, "in frame Maria Garcia"), el(94, "input", {"type": "email"})))
        ],
        "id": 90,
    }
    attach = mutation(adds=[{"parentId": 82, "nextId": None, "node": frame_doc}], isAttachIframe=True)
    typed = {"type": 3, "data": {"source": 5, "id": 94, "text": "x@y.z", "isChecked": False}, "timestamp": 8}
    out2, _ = redact(red, [attach, typed], sess)
    assert out2[0]["data"]["isAttachIframe"] is True
    assert nodes_by_id(out2[0]["data"]["adds"][0]["node"])[93]["textContent"] == "in frame " + stars("Maria Garcia")
    assert out2[1]["data"]["text"] == stars("x@y.z")


FAST = [
    {"type": 3, "data": {"source": 1, "positions": [{"x": 1, "y": 2, "id": 7, "timeOffset": -10}]}, "timestamp": 9},
    {"type": 3, "data": {"source": 2, "type": 2, "id": 7, "x": 3, "y": 4, "pointerType": 0}, "timestamp": 9},
    {"type": 3, "data": {"source": 3, "id": 1, "x": 0, "y": 250}, "timestamp": 9},
    {"type": 3, "data": {"source": 4, "width": 800, "height": 600}, "timestamp": 9},
    {"type": 3, "data": {"source": 6, "positions": []}, "timestamp": 9},
    {"type": 3, "data": {"source": 7, "type": 0, "id": 5, "currentTime": 1.5}, "timestamp": 9},
    {"type": 3, "data": {"source": 12, "positions": []}, "timestamp": 9},
    {
        "type": 3,
        "data": {"source": 14, "ranges": [{"start": 1, "startOffset": 0, "end": 1, "endOffset": 3}]},
        "timestamp": 9,
    },
    {"type": 3, "data": {"source": 8, "id": 5, "adds": [{"rule": ".a{}", "index": 0}]}, "timestamp": 9},
    {
        "type": 3,
        "data": {"source": 13, "id": 5, "index": [0], "set": {"property": "color", "value": "red"}},
        "timestamp": 9,
    },
    {"type": 0, "data": {}, "timestamp": 1},
    {"type": 1, "data": {}, "timestamp": 1},
]


@pytest.mark.parametrize("ev", FAST)
def test_text_free_and_style_events_pass_without_detection(ev: dict[str, Any]) -> None:
    red = redactor()
    detect = FakeDetect()
    out, audit = redact(red, [ev], detect=detect)
    assert out == [ev] and detect.calls == [] and audit == []


UNKNOWN = [
    {"type": 3, "data": {"source": 99, "id": 1}, "timestamp": 1},
    {"type": 7, "data": {"url": "https://x/?Maria Garcia"}, "timestamp": 1},  # rrweb 2's Asset
    {"type": 8, "data": {"type": "caption", "text": "Maria Garcia"}, "timestamp": 1},
    {
        "type": 3,
        "data": {"source": 9, "id": 3, "type": 0, "commands": [{"property": "fillText", "args": ["x"]}]},
        "timestamp": 1,
    },  # canvas
    {"type": 3, "data": {"source": 1, "positions": [{"x": "Maria Garcia"}]}, "timestamp": 1},  # text in numbers
]


@pytest.mark.parametrize("ev", UNKNOWN)
def test_unknown_kinds_are_dropped_and_audited(ev: dict[str, Any]) -> None:
    red = redactor()
    keep = {"type": 3, "data": {"source": 3, "id": 1, "x": 0, "y": 1}, "timestamp": 2}
    out, audit = redact(red, [keep, ev, keep])
    assert out == [keep, keep]
    assert [a.operator for a in audit] == ["drop"]


def test_meta_custom_plugin_log_are_scanned() -> None:
    red = redactor()
    evs = [
        {
            "type": 4,
            "data": {"href": "https://shop.example/account?email=maria.garcia%40example.com", "width": 1, "height": 2},
            "timestamp": 1,
        },
        {"type": 5, "data": {"tag": "note", "payload": {"who": ["Maria Garcia"], "n": 3}}, "timestamp": 1},
        {
            "type": 6,
            "data": {"plugin": "rrweb/console@1", "payload": {"level": "log", "payload": ['"Maria Garcia"']}},
            "timestamp": 1,
        },
        {"type": 3, "data": {"source": 11, "level": "log", "payload": ["Maria Garcia"]}, "timestamp": 1},
    ]
    out, _ = redact(red, evs)
    text = json.dumps(out)
    assert not PII_RX.search(text) and "maria.garcia%40" not in text
    assert out[0]["data"]["href"].startswith("https://shop.example/account?email=")
    assert out[1]["data"]["payload"]["n"] == 3


MALFORMED = [
    "not an object",
    {"type": "2"},
    {"type": 2, "data": {"node": {"type": 2, "tagName": 5, "id": 1}}},
    {"type": 2, "data": {"node": {"type": 9, "id": 1}}},
    {"type": 3, "data": {"source": 5, "id": "1", "text": "x"}},
    {"type": 3, "data": {"source": 5, "id": 1, "text": 5}},
    {"type": 3, "data": {"source": 0, "adds": [{"parentId": 1}]}},
    {"type": 3, "data": {"source": 0, "texts": "x"}},
    {"type": 3, "data": {}},
    {"type": 3, "data": {"source": 2}, "timestamp": "now"},
]


@pytest.mark.parametrize("ev", MALFORMED)
def test_malformed_events_are_refused_without_quoting(ev: Any) -> None:
    red = redactor()
    with pytest.raises(PayloadError) as exc:
        red.plan(red.session(), [ev])
    assert exc.value.message.startswith("event 0: ")
    assert "not an object" not in exc.value.message


def test_deep_dom_is_refused_not_crashed() -> None:
    red = redactor()
    node: dict[str, Any] = txt(100000, "leaf")
    for i in range(500):
        node = el(i + 10, "div", {}, node)
    with pytest.raises(PayloadError):
        red.plan(red.session(), [full(node)])


def test_node_map_is_bounded_and_sessions_expire() -> None:
    red = redactor(sessions={"max_nodes": 100, "max_sessions": 2, "idle_seconds": 10})
    sess = red.session()
    big = full(*[el(1000 + i, "input", {"type": "text"}) for i in range(200)])
    redact(red, [big], sess)
    assert len(sess.nodes) == 100 and sess.overflowed > 0
    (out,), _ = redact(
        red, [{"type": 3, "data": {"source": 5, "id": 1199, "text": "abc", "isChecked": False}, "timestamp": 2}], sess
    )
    assert out["data"]["text"] == "***"  # not learnt: masked whole
    now = [0.0]
    store = Sessions(2, 100, 10, clock=lambda: now[0])
    a = store.get("a")
    assert store.get("a") is a
    store.get("b")
    store.get("c")  # a third: the least recently used goes
    assert len(store) == 2 and store.evicted == 1
    now[0] = 11
    store.get(None)
    assert len(store) == 0 and store.expired == 2
    # all sessions together are bounded too: the least recently used go first
    store = Sessions(10, 100, 10, clock=lambda: now[0], max_total_nodes=150)
    for key in ("a", "b", "c"):
        redact(red, [big], store.get(key))  # 100 nodes each
    store.get("c")
    assert len(store) == 1 and store.get("c").nodes


def test_websocket_messages_one_session() -> None:
    red = redactor()
    detect = FakeDetect()
    seen: list[list[AuditEvent]] = []
    m = RrwebMessages(red, detect, seen.append)

    async def go() -> list[bytes]:
        out = [await m.feed(json.dumps(MUTATION_BASE).encode())]
        out.append(
            await m.feed(
                json.dumps(
                    [
                        {
                            "type": 3,
                            "data": {"source": 5, "id": 54, "text": "hi Maria Garcia", "isChecked": False},
                            "timestamp": 3,
                        }
                    ]
                ).encode()
            )
        )
        out.append(await m.feed(json.dumps({"type": 7, "data": {}}).encode()))
        with pytest.raises(PayloadError):
            await m.feed(b"{not json")
        return out

    out = asyncio.run(go())
    assert json.loads(out[1])[0]["data"]["text"] == "hi " + stars("Maria Garcia")
    assert out[2] == b""  # every event dropped: nothing to send
    assert seen[-1][0].reason == "malformed event"


def test_selector_grammar() -> None:
    assert parse_selectors("input[type=email], .a.b, #x, [data-pii]")[0].attrs == (("type", "email"),)
    for bad in ["div span", "[onclick]", "a > b", "#a#b", ":hover"]:
        with pytest.raises(ValueError):
            parse_selectors(bad)
    with pytest.raises(ValueError):
        Destination.model_validate({"cobrowse": {"rules": {"div p": "mask"}}})
    with pytest.raises(ValueError):
        Destination.model_validate({"cobrowse": {"rules": {".a": "hide"}}})


def test_repeated_texts_go_to_detection_once_and_are_audited_each() -> None:
    red = redactor()
    detect = FakeDetect()
    rows = [el(200 + i * 2, "td", {}, txt(201 + i * 2, "Shipped to Maria Garcia")) for i in range(50)]
    (out,), audit = redact(red, [full(*rows)], detect=detect)
    assert detect.calls[0].count("Shipped to Maria Garcia") == 1
    n = nodes_by_id(out["data"]["node"])
    assert all(n[201 + i * 2]["textContent"] == "Shipped to " + stars("Maria Garcia") for i in range(50))
    assert sum(a.path == "rrweb.text" and a.entity == "PII" for a in audit) == 50


def test_a_large_page_goes_to_detection_in_runs() -> None:
    red = redactor()
    rows = [el(200 + i * 2, "td", {}, txt(201 + i * 2, f"row {i} for Maria Garcia")) for i in range(300)]
    one, many = FakeDetect(), FakeDetect()
    first = asyncio.run(run_plan(red.plan(red.session(), [copy.deepcopy(full(*rows))]), one, 0))
    second = asyncio.run(run_plan(red.plan(red.session(), [copy.deepcopy(full(*rows))]), many, 1024))
    assert len(one.calls) == 1 and len(many.calls) > 3
    assert all(sum(len(t) for t in c) <= 1024 for c in many.calls)
    assert first == second


def test_url_userinfo_never_leaves_and_the_readme_policy_validates() -> None:
    red = redactor()
    page = full(
        el(40, "a", {"href": "https://jane:s3cret@shop.example/"}),
        el(41, "img", {"src": "https://u@cdn.example/a.png"}),
        el(43, "iframe", {"rr_src": "https://x.example/embed?name=Maria%20Garcia", "rr_width": "300px"}),
    )
    (out,), audit = redact(red, [page])
    n = nodes_by_id(out["data"]["node"])
    assert n[40]["attributes"]["href"] == "https://shop.example/"
    assert "Maria" not in n[43]["attributes"]["rr_src"] and n[43]["attributes"]["rr_width"] == "300px"
    assert n[41]["attributes"]["src"] == "https://cdn.example/a.png"
    assert [a.reason for a in audit].count("url userinfo") == 2
    rules = {
        ".account-number": "mask",
        "[data-pii]": "mask",
        "#order-notes": "scan",
        "input[name=coupon]": "keep",
        "footer, nav": "keep",
    }
    red = redactor(rules=rules)
    sess = red.session()
    redact(
        red,
        [full(el(40, "input", {"name": "coupon", "autocomplete": "name"}), el(41, "nav", {}, txt(42, "Maria Garcia")))],
        sess,
    )
    (o1, o2), _ = redact(
        red,
        [
            {"type": 3, "data": {"source": 5, "id": 40, "text": "SAVE 10", "isChecked": False}, "timestamp": 2},
            mutation(texts=[{"id": 42, "value": "Maria Garcia"}]),
        ],
        sess,
    )
    assert o1["data"]["text"] == "SAVE 10"  # the element's own keep rule wins over autocomplete
    assert o2["data"]["texts"][0]["value"] == "Maria Garcia"


def test_typing_into_a_contenteditable_gets_the_typing_guard() -> None:
    red = redactor()
    sess = red.session()
    redact(
        red,
        [full(el(40, "div", {"contenteditable": "true"}, el(41, "p", {}, txt(42, ""))), el(43, "p", {}, txt(44, "")))],
        sess,
    )
    evs = [mutation(texts=[{"id": 42, "value": "card 4111 11"}]), mutation(texts=[{"id": 44, "value": "card 4111 11"}])]
    (o1, o2), _ = redact(red, evs, sess)
    assert o1["data"]["texts"][0]["value"] == "card **** **"  # being typed: guarded
    assert o2["data"]["texts"][0]["value"] == "card 4111 11"  # page text: scanned only


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 200)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda kids: (
        st.lists(kids, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "data",
                    "source",
                    "id",
                    "node",
                    "childNodes",
                    "tagName",
                    "attributes",
                    "textContent",
                    "adds",
                    "removes",
                    "texts",
                    "parentId",
                    "value",
                    "text",
                    "href",
                    "positions",
                    "timestamp",
                    "x",
                ]
            ),
            kids,
            max_size=5,
        )
    ),
    max_leaves=30,
)
EVENT_LIKE = st.fixed_dictionaries(
    {
        "type": st.integers(0, 9),
        "data": JSON_VALUES
        | st.fixed_dictionaries(
            {"source": st.integers(0, 17)},
            optional={
                "id": JSON_VALUES,
                "text": JSON_VALUES,
                "adds": JSON_VALUES,
                "texts": JSON_VALUES,
                "attributes": JSON_VALUES,
                "node": JSON_VALUES,
                "positions": JSON_VALUES,
            },
        ),
    }
)


@settings(max_examples=300, deadline=None)
@given(st.lists(EVENT_LIKE | JSON_VALUES, max_size=4))
def test_fuzz_any_json_is_redacted_or_refused(events: list[Any]) -> None:
    red = redactor()
    try:
        out, _ = redact(red, events)
    except PayloadError:
        return
    json.dumps(out)  # what leaves is JSON
    assert len(out) <= len(events)
