"""Fuzz targets for every parser of the redaction core, in-process (Hypothesis, bounded).

Each parser gets two targets: random or mangled input may only raise the core's own errors
(:class:`proxy.errors.RedactionError` subclasses), and input carrying synthetic canaries (written
the odd ways the proxy was hardened against: Unicode separators inside numbers, full-width digits,
spaced or glued digits, ``%40``, ``&#64;``, a full-width ``@``, zero-width characters) comes out
with no canary in any form (raw, NFKC, zero-width removed, percent-decoded, HTML-unescaped, digits
only, lower case). The fake detector finds the canaries in their plain form only; it is wrapped
with :func:`proxy.redaction.normalize.normalizing`, as the proxy wires the real one.

Examples are wrapped in :class:`Sample`, whose repr shows no canary (Hypothesis prints a
falsifying example); failure messages name the target, the canary's label and the form only.
"""

from __future__ import annotations

import asyncio
import gzip
import html
import itertools
import json
import re
import unicodedata
import zlib
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.config import Destination
from proxy.errors import RedactionError
from proxy.policy import Policy
from proxy.redaction import ContentDecoder, Limits, Redaction, run
from proxy.redaction.normalize import normalize, normalizing
from proxy.sinks.records import parse_records
from recognizers.types import Finding
from tests.helpers import drive

# No example database: a failing example holds canaries, and it must not be written to disk.
FUZZ = settings(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def fuzz(examples: int) -> settings:
    return settings(FUZZ, max_examples=examples)


# ---- canaries, the fake detector ------------------------------------------------------------------
CARD, PHONE, PHONE_INTL, SSN = "4111 1111 1111 1111", "415 555 0134", "+1 415 555 0134", "536-90-4399"
EMAIL, NAME, IP = "maria.garcia@example.com", "Maria Garcia", "203.0.113.57"
NUMBERS = {"card": (CARD, "4111111111111111"), "phone": (PHONE, "4155550134"), "ssn": (SSN, "536904399")}
CANARIES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "card": ((CARD,), "4111111111111111"),
    "phone": ((PHONE, PHONE_INTL), "4155550134"),
    "ssn": ((SSN,), "536904399"),
    "email": ((EMAIL,), None),
    "name": ((NAME,), None),
    "ip": ((IP,), None),
}
_FOUND_BY_FAKE = [
    ("CREDIT_CARD", re.compile(r"4111[ -]?1111[ -]?1111[ -]?1111")),
    ("PHONE_NUMBER", re.compile(r"(?:\+1[ -]?)?415[ -]?555[ -]?0134")),
    ("US_SSN", re.compile(r"536[ -]?90[ -]?4399")),
    ("EMAIL_ADDRESS", re.compile(r"maria\.garcia@example\.com")),
    ("PERSON", re.compile(r"Maria Garcia")),
    ("IP_ADDRESS", re.compile(r"203\.0\.113\.57")),
]


async def _fake(texts: list[str]) -> list[list[Finding]]:
    """Finds the canaries in their plain form (and nothing else)."""
    return [
        [Finding(m.start(), m.end(), entity, 0.9, "fake") for entity, rx in _FOUND_BY_FAKE for m in rx.finditer(t)]
        for t in texts
    ]


DETECT = normalizing(_fake)

# ---- the forms a canary is searched in -------------------------------------------------------------
_ZERO_WIDTH = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_JSON_ESCAPE = re.compile(r'\\u([0-9a-fA-F]{4})|\\([nrtbf"\\/])')
_JSON_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "\\": "\\", "/": "/"}
_DIGIT_RUN = re.compile(r"[0-9](?:[^0-9A-Za-z]{0,4}[0-9])*")


def _json_unescape(s: str) -> str:
    return _JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)) if m.group(1) else _JSON_SIMPLE[m.group(2)], s)


def _nfkc(s: str) -> str:
    return unicodedata.normalize("NFKC", s)


def _zw(s: str) -> str:
    return _ZERO_WIDTH.sub("", s)


def _combined(s: str) -> str:
    return _zw(_nfkc(html.unescape(unquote(unquote_plus(s))))).lower()


FORMS: dict[str, Callable[[str], str]] = {
    "raw": lambda s: s,
    "nfkc": _nfkc,
    "zero-width-removed": _zw,
    "percent-decoded": lambda s: unquote(unquote(s)),
    "percent-plus-decoded": unquote_plus,
    "html-unescaped": lambda s: html.unescape(html.unescape(s)),
    "lower-cased": str.lower,
    "all-forms-combined": _combined,
}
_FOLDED = frozenset({"lower-cased", "all-forms-combined"})


def _digit_strings(s: str) -> Iterator[str]:
    for m in _DIGIT_RUN.finditer(s):
        yield re.sub(r"[^0-9]", "", m.group(0))


def hits(blob: str | bytes) -> set[tuple[str, str]]:
    """``(canary label, form)`` of every canary in ``blob``; never a value."""
    text = blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob
    found: set[tuple[str, str]] = set()
    for base in {text, _json_unescape(text)}:
        for form, fn in FORMS.items():
            t = fn(base)
            for label, (values, _) in CANARIES.items():
                if any((v.lower() if form in _FOLDED else v) in t for v in values):
                    found.add((label, form))
        runs = [*_digit_strings(_zw(_nfkc(base))), *_digit_strings(_combined(base))]
        for label, (_, digits) in CANARIES.items():
            if digits and any(digits in r for r in runs):
                found.add((label, "digits-only"))
    return found


def assert_clean(target: str, out: str | bytes) -> None:
    __tracebackhide__ = True
    found = sorted(hits(out))
    assert not found, f"{target}: " + "; ".join(f"{label} [{form}]" for label, form in found)


class Sample:
    """A generated input whose repr never shows it (it holds canaries)."""

    def __init__(self, value: Any, note: str = "") -> None:
        self.value = value
        self.note = note

    def __repr__(self) -> str:
        return f"<sample {type(self.value).__name__}{' ' + self.note if self.note else ''}>"


@st.composite
def sampled(draw: st.DrawFn, strategy: st.SearchStrategy[Any], note: str = "") -> Sample:
    """``strategy``'s value wrapped (drawn inside a composite: Hypothesis prints only the repr)."""
    return Sample(draw(strategy), note)


# ---- canaries written oddly ----------------------------------------------------------------------
SEPARATORS = [" ", "\u00a0", "\u202f", "\u2009", "\t", "\n", "\u2013", "-", "\u200b", "\u2007", "\u3000"]
_FW = str.maketrans("0123456789-@", "０１２３４５６７８９－＠")


@st.composite
def number_canary(draw: st.DrawFn, label: str | None = None) -> str:
    label = label or draw(st.sampled_from(sorted(NUMBERS)))
    grouped, digits = NUMBERS[label]
    how = draw(st.sampled_from(["separator", "spaced", "fullwidth", "glued", "plain", "contiguous"]))
    if label == "phone" and draw(st.booleans()):
        grouped = PHONE_INTL
    if how == "separator":
        by = draw(st.sampled_from(SEPARATORS))
        return grouped.replace(" ", by).replace("-", by)
    if how == "spaced":
        return " ".join(digits)
    if how == "fullwidth":
        return grouped.translate(_FW)
    if how == "glued":
        return draw(st.sampled_from(["id_", "tel_", "x", "_"])) + digits + draw(st.sampled_from(["_x", "y", ""]))
    return grouped if how == "plain" else digits


@st.composite
def email_canary(draw: st.DrawFn) -> str:
    at = draw(st.sampled_from(["@", "%40", "%2540", "&#64;", "&#x40;", "&commat;", "\uff20"]))
    local, domain = "maria.garcia", "example.com"
    if draw(st.booleans()):  # a zero-width character somewhere inside
        zw = draw(st.sampled_from(["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]))
        i = draw(st.integers(1, len(local) - 1))
        local = local[:i] + zw + local[i:]
    return local + at + domain


@st.composite
def text_canary(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["number", "email", "name", "ip"]))
    if kind == "number":
        return draw(number_canary())
    if kind == "email":
        return draw(email_canary())
    if kind == "name":
        return "Maria" + draw(st.sampled_from([" ", "\u00a0", " \u200b"])) + "Garcia"
    return IP


# Filler never holds digits, %, & or #: those would join a canary (e.g. "%5" before "36-90-4399"
# decodes to another character; tests/integration/test_leak_canary.py has those as rows).
FILLER = st.text(alphabet=st.sampled_from(list("abcxyzABC .,;:!?()[]{}'\"/\\_-\n\téßж中😀")), max_size=12)


@st.composite
def canary_text(draw: st.DrawFn) -> str:
    parts = [draw(FILLER)]
    for _ in range(draw(st.integers(1, 3))):
        parts += [draw(text_canary()), draw(FILLER)]
    # a separator between canaries, so that two numbers never run into one
    return " ; ".join(parts) if draw(st.booleans()) else " ".join(parts)


# JSON values; keys the policies keep as they are (conversation_id, sender, sent_at, user_agent)
# only ever hold structures here (a kept scalar is passed as it is, by design).
SCALARS = st.one_of(
    canary_text(),
    FILLER,
    st.sampled_from([4111111111111111, 4155550134, 14155550134]),
    st.integers(-1000, 1000),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
KEYS = st.one_of(
    st.sampled_from(["text", "message", "survey", "email", "zip", "age", "income", "a", "ip", "client_ip"]),
    canary_text(),
    FILLER,
)
KEPT = ["conversation_id", "sender", "sent_at", "user_agent"]


def _json_values() -> st.SearchStrategy[Any]:
    return st.recursive(
        SCALARS,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
        max_leaves=12,
    )


@st.composite
def json_docs(draw: st.DrawFn) -> Any:
    doc = draw(_json_values())
    if draw(st.booleans()):
        doc = {"text": doc, "survey": {"email": draw(canary_text()), "zip": draw(canary_text())}}
    if isinstance(doc, dict) and draw(st.booleans()):  # a kept field given a structure
        doc[draw(st.sampled_from(KEPT))] = draw(st.one_of(st.lists(_json_values(), min_size=1, max_size=3),
                                                          st.dictionaries(KEYS, _json_values(), min_size=1,
                                                                          max_size=3)))  # fmt: skip
    return doc


def _dumps(value: Any, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode()


def splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


# ---- the destinations ----------------------------------------------------------------------------
CHAT = {
    "directions": ["request", "response"],
    "default_field": "drop",
    "fields": {
        "conversation_id": "keep", "sender": "keep", "sent_at": "keep", "text": "scan", "survey.email": "hash",
        "survey.zip": "zip3", "survey.age": "age_band", "survey.income": "income_band",
    },
    "entities": {"default": "tag", "US_ZIP_CODE": "zip3", "AGE": "age_band", "INCOME": "income_band"},
}  # fmt: skip
LOGS = {
    "directions": ["request", "response"],
    "default_field": "scan",
    "fields": {"user_agent": "keep", "client_ip": "ip_truncate", "ip": "ip_truncate", "remote_addr": "ip_truncate"},
    "entities": {"default": "tag", "IP_ADDRESS": "ip_truncate"},
}
LIMITS = Limits(max_message_bytes=64 << 10, stream_window_bytes=256)


def redaction(dest: dict[str, Any]) -> Redaction:
    return Redaction(Policy("fuzz", Destination.model_validate(dest), b"fuzz-key"), LIMITS)


REDACTIONS = {"chat": redaction(CHAT), "logs": redaction(LOGS)}
DESTS = st.sampled_from(sorted(REDACTIONS))


def core_only(fn: Callable[[], Any]) -> Any:
    """Run ``fn``; only the core's own errors may come out (anything else propagates: a bug)."""
    try:
        return fn()
    except RedactionError:
        return None


def _ignore(events: object) -> None:
    return None


RANDOM_BYTES = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.sampled_from([b'{"text": ', b"[" * 70 + b"]" * 70, b'{"a":1}{"b":2}', b"\xef\xbb\xbf{}", b"-",
                     b'"\\u00"', b'{"text":"\xff"}', b"NaN", b"[1,]", b'{"a" 1}']),
)  # fmt: skip


@st.composite
def mangled(draw: st.DrawFn) -> bytes:
    """Valid JSON with a few bytes replaced, cut or inserted."""
    data = bytearray(_dumps(draw(_json_values()), draw(st.booleans())))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "cut", "insert"]))
        i = draw(st.integers(0, len(data)))
        if op == "flip" and i < len(data):
            data[i] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[i:]
        else:
            data[i:i] = draw(st.sampled_from([b"\x00", b"\xff", b'"', b"{", b"]", b"\\", b"\n", b",", b"\xe2\x80"]))
    return bytes(data)


# Lone surrogate escapes ("\\ud800") and numbers out of the float range (1e310) once crashed the
# core; they are refused as PayloadError now (and fuzzed like any other input).
GARBAGE_BYTES = st.one_of(RANDOM_BYTES, mangled())
GARBAGE = sampled(GARBAGE_BYTES)
GARBAGE_LINES = sampled(st.lists(GARBAGE_BYTES, max_size=3).map(lambda xs: b"\n".join(xs)))


# ---- JSON bodies: Redaction.plan_request / plan_line --------------------------------------------------
@fuzz(200)
@given(sample=sampled(json_docs()), dest=DESTS, ascii_only=st.booleans(), charset=st.sampled_from([None, "utf-8"]))
def test_json_bodies_carry_no_canary(sample: Sample, dest: str, ascii_only: bool, charset: str | None) -> None:
    red = REDACTIONS[dest]
    body = _dumps(sample.value, ascii_only)
    plan = red.plan_request(query=[], headers=[], ctype="application/json", charset=charset, body=body)
    parts, events = asyncio.run(run(plan, DETECT))
    assert_clean(f"json body ({dest})", parts.body or b"")
    assert_clean(f"json audit ({dest})", json.dumps([e.as_dict() for e in events]))
    out, events = asyncio.run(run(red.plan_line(body), DETECT))
    assert_clean(f"json line ({dest})", out)
    assert_clean(f"json line audit ({dest})", json.dumps([e.as_dict() for e in events]))


@fuzz(300)
@given(sample=GARBAGE, dest=DESTS)
def test_json_garbage_raises_only_core_errors(sample: Sample, dest: str) -> None:
    red, data = REDACTIONS[dest], sample.value
    core_only(lambda: asyncio.run(run(red.plan_line(data), DETECT)))
    core_only(lambda: red.plan_body("application/json", "utf-8", data))
    core_only(lambda: red.plan_body("application/json", "latin-1", data))


# ---- query strings, headers and form bodies ---------------------------------------------------------
@st.composite
def form_pairs(draw: st.DrawFn) -> list[tuple[str, str]]:
    keys = st.one_of(st.sampled_from(["text", "message", "a", "survey.email"]), canary_text(), FILLER)
    return draw(st.lists(st.tuples(keys, st.one_of(canary_text(), FILLER)), min_size=1, max_size=5))


@fuzz(150)
@given(sample=sampled(form_pairs()), dest=DESTS, plus=st.booleans())
def test_form_query_and_headers_carry_no_canary(sample: Sample, dest: str, plus: bool) -> None:
    red = REDACTIONS[dest]
    pairs = sample.value
    body = urlencode(pairs, quote_via=quote_plus if plus else quote).encode()
    plan = red.plan_request(
        query=pairs,
        # %20, not +: a +-encoded Referer query is a known leak (test_leak_canary.py, hdr-referer-plus)
        headers=[("Referer", "https://x.example/?" + urlencode(pairs, quote_via=quote)), ("X-Scan", pairs[0][1])],
        ctype="application/x-www-form-urlencoded",
        charset=None,
        body=body,
    )
    parts, events = asyncio.run(run(plan, DETECT))
    assert_clean(f"form body ({dest})", parts.body or b"")
    assert_clean(f"query ({dest})", json.dumps(parts.query))
    assert_clean(f"headers ({dest})", json.dumps(parts.headers))
    assert_clean(f"form audit ({dest})", json.dumps([e.as_dict() for e in events]))


@fuzz(200)
@given(data=st.one_of(RANDOM_BYTES, st.binary(max_size=100).map(lambda b: b"a=" + b + b"&%zz=%")), dest=DESTS)
def test_form_garbage_raises_only_core_errors(data: bytes, dest: str) -> None:
    red = REDACTIONS[dest]
    for charset in ("utf-8", "latin-1", "utf-7", "no-such-charset"):
        core_only(lambda c=charset: asyncio.run(run(red.plan_body("application/x-www-form-urlencoded", c, data),
                                                    DETECT)))  # fmt: skip
    core_only(lambda: asyncio.run(run(red.plan_body("text/plain", "utf-8", data), DETECT)))


# ---- NDJSON streams ---------------------------------------------------------------------------------
@fuzz(100)
@given(
    sample=sampled(st.lists(json_docs(), min_size=1, max_size=4)),
    cuts=st.lists(st.integers(0, 5000), max_size=8),
    dest=DESTS,
    eol=st.sampled_from([b"\n", b"\r\n"]),
)
def test_ndjson_stream_carries_no_canary(sample: Sample, cuts: list[int], dest: str, eol: bytes) -> None:
    data = b"".join(_dumps(v, False) + eol for v in sample.value)
    red = REDACTIONS[dest].stream("application/x-ndjson", "request", DETECT, _ignore)
    assert_clean(f"ndjson stream ({dest})", drive(red, splits(data, cuts)))


@fuzz(200)
@given(sample=GARBAGE_LINES, cuts=st.lists(st.integers(0, 900), max_size=5))
def test_ndjson_garbage_raises_only_core_errors(sample: Sample, cuts: list[int]) -> None:
    data = sample.value
    red = REDACTIONS["logs"].stream("application/x-ndjson", "request", DETECT, _ignore)
    try:
        drive(red, splits(data, cuts))
    except RedactionError as exc:
        # record by record: digits of two records are no card together (the oracle would join
        # a ``4`` at the end of one line to fifteen digits at the start of the next)
        for record in exc.partial.splitlines():
            assert_clean("ndjson partial", record)


# ---- SSE streams ------------------------------------------------------------------------------------
@st.composite
def sse_events(draw: st.DrawFn) -> bytes:
    """Events of data, comment, id, event and retry lines; a JSON data line is the only data line
    of its event (a multi-line event is text, where JSON escapes are not decoded)."""
    events = []
    for _ in range(draw(st.integers(1, 4))):
        lines = []
        json_event = draw(st.booleans())
        if json_event:
            # an object or array: a JSON string as data is read as text, where its escapes
            # (\\u00a0) are not decoded: a known leak (test_leak_canary.py, sse-json-string-escapes)
            doc = draw(json_docs().filter(lambda d: isinstance(d, (dict, list))))
            lines.append("data: " + _dumps(doc, draw(st.booleans())).decode())
        for _ in range(draw(st.integers(0 if json_event else 1, 4))):
            kinds = ["comment", "id", "event", "retry"] + ([] if json_event else ["data", "data", "split"])
            kind = draw(st.sampled_from(kinds))
            if kind == "retry":
                # digits only: a canary in a retry line is a known leak (test_leak_canary.py, sse-retry)
                lines.append("retry: " + str(draw(st.integers(0, 99999))))
            elif kind == "split":  # a card split across two data lines of one event
                lines += ["data: card 4111 1111", "data: 1111 1111"]
            else:
                prefix = ":" if kind == "comment" else kind + ":"
                lines.append(prefix + " " + draw(canary_text()).replace("\n", " ").replace("\r", " "))
        events.append("\n".join(lines).encode())
    eol = draw(st.sampled_from([b"\n", b"\r\n"]))
    return b"".join(e.replace(b"\n", eol) + eol + eol for e in events)


@fuzz(150)
@given(sample=sampled(sse_events()), cuts=st.lists(st.integers(0, 5000), max_size=8), dest=DESTS)
def test_sse_stream_carries_no_canary(sample: Sample, cuts: list[int], dest: str) -> None:
    red = REDACTIONS[dest].stream("text/event-stream", "response", DETECT, _ignore)
    assert_clean(f"sse stream ({dest})", drive(red, splits(sample.value, cuts)))


@fuzz(200)
@given(sample=GARBAGE, cuts=st.lists(st.integers(0, 900), max_size=5))
def test_sse_garbage_raises_only_core_errors(sample: Sample, cuts: list[int]) -> None:
    data = sample.value
    red = REDACTIONS["chat"].stream("text/event-stream", "response", DETECT, _ignore)
    core_only(lambda: drive(red, splits(b"data: " + data.replace(b"\n\n", b"\n") + b"\n\nid: \xff\n\n", cuts)))


# ---- chunked text ---------------------------------------------------------------------------------
@fuzz(120)
@given(
    sample=sampled(st.lists(canary_text(), min_size=1, max_size=6)),
    cuts=st.lists(st.integers(0, 5000), max_size=10),
    charset=st.sampled_from(["utf-8", "utf-16", "utf-7"]),
)
def test_chunked_text_carries_no_canary(sample: Sample, cuts: list[int], charset: str) -> None:
    data = " ".join(sample.value).encode(charset)
    red = REDACTIONS["chat"].stream("text/plain", "response", DETECT, _ignore, charset)
    assert_clean(f"chunked text ({charset})", drive(red, splits(data, cuts)).decode("utf-8", "replace"))


@fuzz(200)
@given(data=RANDOM_BYTES, cuts=st.lists(st.integers(0, 900), max_size=5), charset=st.sampled_from(["utf-8", "utf-7"]))
def test_chunked_text_garbage_raises_only_core_errors(data: bytes, cuts: list[int], charset: str) -> None:
    red = REDACTIONS["chat"].stream("text/plain", "response", DETECT, _ignore, charset)
    core_only(lambda: drive(red, splits(data, cuts)))


# ---- WebSocket messages -------------------------------------------------------------------------------
MESSAGES = st.lists(
    st.one_of(json_docs().map(lambda v: ("json", v)), canary_text().map(lambda t: ("text", t))), min_size=1, max_size=4
)


@fuzz(150)
@given(sample=sampled(MESSAGES), dest=DESTS)
def test_websocket_messages_carry_no_canary(sample: Sample, dest: str) -> None:
    red = REDACTIONS[dest].messages("request", DETECT, _ignore)
    for kind, value in sample.value:
        message = _dumps(value, False) if kind == "json" else value.encode()
        assert_clean(f"websocket message ({dest})", asyncio.run(red.feed(message)))


@fuzz(200)
@given(sample=GARBAGE, dest=DESTS)
def test_websocket_garbage_raises_only_core_errors(sample: Sample, dest: str) -> None:
    red = REDACTIONS[dest].messages("request", DETECT, _ignore)
    core_only(lambda: asyncio.run(red.feed(sample.value)))


# ---- /logs/ records -----------------------------------------------------------------------------------
@fuzz(150)
@given(sample=sampled(MESSAGES), kind=st.sampled_from(["ndjson", "text"]))
def test_log_records_carry_no_canary(sample: Sample, kind: str) -> None:
    lines = []
    for what, value in sample.value:
        if kind == "text":  # each line a message: texts only (a JSON text would be a message with escapes)
            text = value if what == "text" else "Maria Garcia"
            lines.append(text.replace("\n", " ").replace("\r", " ").encode())
        else:
            lines.append(_dumps(value, False))  # a JSON string line is a record {"message": ...}
    records = core_only(lambda: parse_records(b"\n".join(lines) + b"\n", kind, max_line_bytes=1 << 20))
    assert records is not None, "valid records were refused"
    red = REDACTIONS["logs"]
    for record in records:
        out, events = asyncio.run(run(red.plan_record(record), DETECT))
        assert_clean(f"log record ({kind})", json.dumps(out, ensure_ascii=False))
        assert_clean(f"log record audit ({kind})", json.dumps([e.as_dict() for e in events]))


@fuzz(200)
@given(
    sample=GARBAGE_LINES,
    kind=st.sampled_from(["ndjson", "text"]),
    charset=st.sampled_from([None, "utf-8", "latin-1", "utf-7", "nope"]),
)
def test_log_records_garbage_raises_only_core_errors(sample: Sample, kind: str, charset: str | None) -> None:
    data = sample.value
    records = core_only(lambda: parse_records(data, kind, charset, max_line_bytes=200))
    for record in records or []:
        core_only(lambda r=record: asyncio.run(run(REDACTIONS["logs"].plan_record(r), DETECT)))


# ---- the content decoder ----------------------------------------------------------------------------
@st.composite
def compressed(draw: st.DrawFn) -> tuple[str, bytes]:
    coding = draw(st.sampled_from(["gzip", "deflate", "identity"]))
    raw = draw(st.binary(max_size=2000)) * draw(st.integers(1, 50))
    data = gzip.compress(raw) if coding == "gzip" else zlib.compress(raw) if coding == "deflate" else raw
    how = draw(st.sampled_from(["whole", "truncated", "flipped", "random", "twice"]))
    if how == "truncated":
        data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
    elif how == "flipped" and data:
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1 :]
    elif how == "random":
        data = draw(st.binary(max_size=300))
    elif how == "twice":
        data = data + data
    return coding, data


@fuzz(300)
@given(case=compressed(), cuts=st.lists(st.integers(0, 100_000), max_size=6), limit=st.sampled_from([None, 50_000]))
def test_content_decoder_raises_only_core_errors(case: tuple[str, bytes], cuts: list[int], limit: int | None) -> None:
    coding, data = case

    def decode() -> bytes:
        dec = ContentDecoder(coding, limit)
        return b"".join(dec.decode(c) for c in splits(data, cuts)) + dec.flush()

    out = core_only(decode)
    assert out is None or limit is None or len(out) <= limit


# ---- the text normaliser ----------------------------------------------------------------------------
@fuzz(500)
@given(
    text=st.one_of(
        st.text(max_size=200), canary_text(), st.text(alphabet="0123456789 -\u00a0\u200b%&#;x@", max_size=60)
    ),
    points=st.lists(st.integers(-5, 400), min_size=2, max_size=6),
)
def test_normalize_never_breaks(text: str, points: list[int]) -> None:
    n = core_only(lambda: normalize(text))
    assert n is not None
    assert isinstance(n.text, str)
    assert n.original is text
    for a, b in itertools.pairwise(points):
        s, e = n.original_span(min(a, b), max(a, b))
        assert 0 <= s <= e <= len(text)
    s, e = n.original_span(0, len(n.text))
    assert (s, e) == (0, len(text)) or not n.text  # a text of only invisible characters has no span


@fuzz(300)
@given(sample=sampled(canary_text()))
def test_normalized_findings_cover_the_canary(sample: Sample) -> None:
    text: str = sample.value
    (found,) = asyncio.run(DETECT([text]))
    out, last = [], 0
    for f in sorted(found, key=lambda f: f.start):
        if f.start >= last:
            out += [text[last : f.start], "<X>"]
            last = f.end
        else:
            last = max(last, f.end)
    out.append(text[last:])
    assert_clean("normalised findings", "".join(out))


# ---- inputs that once crashed the core: now core errors -------------------------------------------
CRASHERS = {"lone-surrogate-escape": b'{"text": "\\ud800 Maria Garcia"}', "float-out-of-range": b'{"text": 1e310}'}


def _every_json_parser(data: bytes) -> None:
    """``data`` through each JSON parser; raises what the first one that fails raises."""
    chat, logs = REDACTIONS["chat"], REDACTIONS["logs"]
    asyncio.run(run(chat.plan_line(data), DETECT))
    drive(logs.stream("application/x-ndjson", "request", DETECT, _ignore), [data + b"\n"])
    asyncio.run(logs.messages("request", DETECT, _ignore).feed(data))
    for record in parse_records(data + b"\n", "ndjson"):
        asyncio.run(run(logs.plan_record(record), DETECT))


def test_lone_surrogate_escape_is_a_core_error() -> None:
    core_only(lambda: _every_json_parser(CRASHERS["lone-surrogate-escape"]))


def test_float_out_of_range_is_a_core_error() -> None:
    core_only(lambda: _every_json_parser(CRASHERS["float-out-of-range"]))
