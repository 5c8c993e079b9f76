"""The text normaliser: what detection sees, and the map back to the original (pure, no spaCy)."""

from __future__ import annotations

import itertools
import re
import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from proxy.errors import DetectionError
from proxy.redaction.normalize import (
    _OTHER_DIGIT,
    Normalized,
    _needs_work,
    _normalized,
    normalize,
    normalizing,
    normalizing_sync,
)
from recognizers.types import Finding

NBSP = "\u00a0"
ZW = "\u200b"

# (name, original, what detection sees)
CHANGES = [
    ("nbsp in a card", f"card 4111{NBSP}1111{NBSP}1111{NBSP}1111", "card 4111 1111 1111 1111"),
    ("narrow nbsp, thin, ideographic space", "4111\u202f1111\u20091111\u30001111", "4111 1111 1111 1111"),
    ("tab and newline", "415\t555\n0134", "415 555 0134"),
    ("crlf and doubled spaces", "536\r\n90  4399", "536 90 4399"),
    ("line and paragraph separators", "415\u2028555\u20290134", "415 555 0134"),
    ("en, em dash, minus", "4111\u20131111\u20141111\u22121111", "4111-1111-1111-1111"),
    ("spaced dash", "415 - 555 \u2013 0134", "415-555-0134"),
    ("zero-width inside", f"41{ZW}11\u200c1111\u200d1111\u20601111\ufeff", "4111111111111111"),
    ("zero-width around a separator", f"4111{ZW} {ZW}1111", "4111 1111"),
    ("spaced single digits", "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "4111111111111111"),
    ("spaced digits with nbsp", NBSP.join("4155550134"), "4155550134"),
    ("full-width digits", "\uff14\uff11\uff11\uff11 \uff11\uff11\uff11\uff11", "4111 1111"),
    ("other-script digits", "\u0664\u0661\u0661\u0661 \u096a\u0967\u0967\u0967", "4111 4111"),
    ("percent-escaped @", "maria.garcia%40example.com", "maria.garcia@example.com"),
    ("percent-escaped utf-8", "jos%C3%A9%40example.com", "josé@example.com"),
    ("double percent-escape", "maria%2540example.com", "maria@example.com"),
    ("decimal reference", "maria&#64;example.com", "maria@example.com"),
    ("decimal reference without ;", "maria&#64example.com", "maria@example.com"),
    ("hex reference", "maria&#x40;example&#X2E;com", "maria@example.com"),
    ("named references", "maria&commat;example&period;com", "maria@example.com"),
    ("&amp; and double escape", "R &amp; D, maria&amp;#64;example.com", "R & D, maria@example.com"),
    ("full-width @ and dot", "maria\uff20example\uff0ecom", "maria@example.com"),
    ("zero-width in an email", f"ma{ZW}ria@exa\u200dmple.com", "maria@example.com"),
    ("glued underscores", "id_4111111111111111_x", "id_ 4111111111111111 _x"),
    ("glued letters", "tel4155550134ok", "tel 4155550134 ok"),
    ("one letter before ten digits", "x4155550134", "x 4155550134"),
    ("a label before nine digits", "ssn536904399x", "ssn 536904399 x"),
    ("a label glued inside a word", "myssn536904399", "myssn 536904399"),
    ("a card after cc, not an IBAN", "CC4111111111111111", "CC 4111111111111111"),
    ("an SSN over two lines after its label", "my ssn is 536\n90-4399 thanks", "my ssn is 536 90-4399 thanks"),
    ("glued after decoding", "tel_%34155550134", "tel_ 4155550134"),
    ("bidi controls", "\u202a4111\u202c \u202e1111\u202c \u20661111\u2069 \u200e1111\u200f", "4111 1111 1111 1111"),
    ("soft hyphen", "4111\u00ad1111", "41111111"),
    ("card with underscores", "4111_1111_1111_1111", "4111 1111 1111 1111"),
    ("card with a bracket", "card 4111]1111 1111 1111", "card 4111 1111 1111 1111"),
    ("card with a semicolon", "4111;111111111111", "4111 111111111111"),
    ("card with dots", "paid 4111.1111.1111.1111 ok", "paid 4111 1111 1111 1111 ok"),
    ("card with slashes and a cvv", "4111/1111/1111/1111, 123", "4111 1111 1111 1111, 123"),
    ("amex with underscores", "3782_822463_10005", "3782 822463 10005"),
    ("card with a spaced comma", "4111 , 1111 , 1111 , 1111", "4111 1111 1111 1111"),
    ("literal \\n before a number", "Acme Ltd\\n+41 44 668 18 00 office", "Acme Ltd\n+41 44 668 18 00 office"),
    ("literal \\n, \\r and \\t", "Name:\\tMaria\\r\\nZIP: 10115", "Name:\tMaria\r\nZIP: 10115"),
]

# Texts that need no normalising: the same object back, whatever the path.
UNCHANGED = [
    "Hi team, build 2024.11 finished at 3:45 pm; 12 of 14 checks passed.",
    "The laptop costs $1,299.99 today.",
    "Upgrade to Python 3.11.7 now.",
    "Server 203.0.113.57 is down.",
    "Meeting on 12/05/2024, 2024-05-12 or 12.05.2024.",
    "order 12 items at 3 pm",
    "card 4111 1111 1111 1111 and 4111-1111-1111-1111",
    "1 2 3 4 5 6 is six digits",
    "range 10     20 (too many spaces to be one value)",
    "100% sure, R&D, fish & chips, &unknown; &amp without a semicolon",
    "bytes %00 and %C3 alone and %ZZ",
    "sha 3f5a9c1234567890abcdef3f5a9c1234567890ab and abcdef1234567890abcdef1234567890",
    "order 12345_67890_12345 and 1234.5678.9012.3456 (16 digits that fail Luhn)",
    "1,000,000.00 and 10.20.30.40 at 2024-01-01T12:00:00.123456, v1.2.3",
    "dl# F44744358 and license L3916410: a letter and seven to nine digits are a code",
    "calling about order ORD2400655 (an order code, not a phone number glued to a word)",
    "request from 185.126.214.192:2778 to 82.136.130.175:443 (addresses and ports, not cards)",
    "Stoekeplein 482\n1595 PX BREGTDORP (an address block keeps its lines)",
    "Linnéaparken 681\n36 tr\n\n2024 was a good year",
    "DÓZSA ÚT 878\n3822\nHUNGARY and Apt 22\n6348 and Street 1234\n12345 City",
    "Rua Conde 263\n9933-840 SEIA: lines of address blocks",
    "El Caminero 241\n25º A, 2ª planta (ordinal signs stay)",
    "IBAN ES7147085486896232254172 and PL61109010140000071219812874 are one word each",
    "C:\\Users\\nancy\\notes.txt and C:\\temp: a path, not line breaks",
    "an escaped backslash \\\\n is no line break",
    "Café with José at 10:30 \u2014 bring 2 reports \U0001f600, budget \u20ac1.200.",
    "",
]


@pytest.mark.parametrize(("name", "original", "expected"), CHANGES, ids=[c[0] for c in CHANGES])
def test_normalizes(name: str, original: str, expected: str) -> None:
    norm = normalize(original)
    assert norm.text == expected
    assert norm.changed
    assert norm.original_span(0, len(norm.text)) == (0, len(original))


@pytest.mark.parametrize("text", UNCHANGED)
def test_leaves_alone(text: str) -> None:
    norm = normalize(text)
    assert norm.text is text
    assert not norm.changed
    assert _normalized(text).text is text  # the slow path agrees
    assert norm.original_span(3, 7) == (min(3, len(text)), min(7, len(text)))


def test_plain_ascii_takes_the_fast_path() -> None:
    assert not _needs_work("Please review PR 4821 before Friday, thanks! The p99 is 230 ms.")
    assert not _needs_work("ordinary text, 12 apples, 3.5% more, call me at 3")


# (original, value as detection sees it, the original characters it must map back to)
MAPS = [
    (f"card 4111{NBSP}1111{NBSP}1111{NBSP}1111 ok", "4111 1111 1111 1111", f"4111{NBSP}1111{NBSP}1111{NBSP}1111"),
    ("ssn 536\n90\n4399.", "536 90 4399", "536\n90\n4399"),
    ("x 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 y", "4111111111111111", "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1"),
    ("mail maria.garcia%40example.com!", "maria.garcia@example.com", "maria.garcia%40example.com"),
    ("mail maria&commat;example&period;com!", "maria@example.com", "maria&commat;example&period;com"),
    ("mail ma\u200bria@ex\u200cample.com", "maria@example.com", "ma\u200bria@ex\u200cample.com"),
    ("mail jos%C3%A9%40example.com", "josé@example.com", "jos%C3%A9%40example.com"),
    ("mail jos%C3%A9%40example.com", "é", "%C3%A9"),
    ("id_4111111111111111_x", "4111111111111111", "4111111111111111"),
    ("id_4111111111111111_x", "id_", "id_"),
    ("\uff14\uff11\uff11\uff11 1111", "4111 1111", "\uff14\uff11\uff11\uff11 1111"),
    ("a \u202e4111\u2066 1111\u2069 b", "4111 1111", "\u202e4111\u2066 1111\u2069"),
    ("tel_%34155550134 end", "4155550134", "%34155550134"),
    ("card 4111]1111_1111;1111 ok", "4111 1111 1111 1111", "4111]1111_1111;1111"),
    ("Acme\\n4155550134 fax", "\n4155550134", "\\n4155550134"),
]


@pytest.mark.parametrize(("original", "value", "expected"), MAPS)
def test_maps_back_to_the_whole_odd_value(original: str, value: str, expected: str) -> None:
    norm = normalize(original)
    at = norm.text.index(value)
    s, e = norm.original_span(at, at + len(value))
    assert original[s:e] == expected


def test_original_span_clamps_and_keeps_surrogate_pairs() -> None:
    text = f"\ud83d\ude00{NBSP}4111{NBSP}x"  # a pair written as two code points (JSON \\u escapes)
    norm = normalize(text)
    assert norm.changed
    assert norm.original_span(-5, 1000) == (0, len(text))
    assert norm.original_span(1, 2) == (0, 2)  # never half of the pair
    assert norm.original_span(0, 1) == (0, 2)
    assert norm.original_span(4, 4) == (4, 4)  # empty stays empty
    assert norm.original_span(len(norm.text), len(norm.text)) == (len(text), len(text))
    plain = normalize("plain")
    assert plain.original_span(2, 99) == (2, 5)


def test_repr_never_shows_the_text() -> None:
    assert "4111" not in repr(normalize(f"4111{NBSP}1111"))


def test_other_script_digits_are_digits() -> None:
    found = [chr(c) for c in range(0x80, 0x10000) if _OTHER_DIGIT.match(chr(c))]
    assert found and all(unicodedata.decimal(c, None) is not None for c in found)
    missing = [c for c in range(0x80, 0x10000) if unicodedata.decimal(chr(c), None) is not None]
    missing = [c for c in missing if not _OTHER_DIGIT.match(chr(c)) and unicodedata.is_normalized("NFKC", chr(c))]
    assert not missing, f"BMP digits NFKC keeps but the class misses: {[hex(c) for c in missing]}"


# ---- properties ---------------------------------------------------------------------------------

ODD = [
    *"0123456789 -_.@%&#;x4a",
    *"\t\n\r\u00a0\u202f\u2009\u3000\u2013\u2014\u2212\u2028",
    *"\u200b\u200c\u200d\u2060\ufeff\u00ad\u202a\u202e\u2066\u2069\u200e\u200f",
    *"\uff10\uff14\uff20\u0664\U0001d7d9",
    "%40",
    "\\n",
    "\\t",
    "%C3%A9",
    "%25",
    "&#64;",
    "&#x40;",
    "&commat;",
    "&amp;",
    "&period;",
    "&#8203;",
    "\ud83d",
    "\ude00",
]
odd_text = st.lists(st.sampled_from(ODD) | st.characters(), max_size=60).map("".join)


@settings(max_examples=400, deadline=None)
@given(odd_text)
@example(f"{ZW}{ZW}")
@example(f"4 1 1 1 1 1 1 1{ZW}")
@example("\ud83d\ude00\u00a0")
def test_map_covers_every_original_character_in_order(text: str) -> None:
    norm = normalize(text)
    if not norm.changed:
        assert norm.text is text
        return
    assert norm.text != text
    spans = [norm.original_span(i, i + 1) for i in range(len(norm.text))]
    covered = set()
    for (s1, e1), (s2, e2) in itertools.pairwise(spans):
        assert s1 <= s2 and e1 <= e2, "original_span is not monotonic"
        assert s2 <= e1, "a gap between neighbouring characters"
    for s, e in spans:
        assert 0 <= s < e <= len(text)
        covered.update(range(s, e))
    if norm.text:
        assert covered == set(range(len(text)))
        assert norm.original_span(0, len(norm.text)) == (0, len(text))
    for i in range(len(norm.text) + 1):  # spans of runs agree with spans of characters
        for j in range(i + 1, min(len(norm.text), i + 4) + 1):
            assert norm.original_span(i, j) == (spans[i][0], spans[j - 1][1])


@settings(max_examples=400, deadline=None)
@given(odd_text)
def test_fast_path_never_skips_work(text: str) -> None:
    if not _needs_work(text):
        assert _normalized(text).text is text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_identity_is_the_same_object(text: str) -> None:
    norm = normalize(text)
    assert (norm.text is text) == (norm.text == text)
    assert norm.changed == (norm.text is not text)


# ---- the wrappers -------------------------------------------------------------------------------

CARD = re.compile(r"4111[ -]?1111[ -]?1111[ -]?1111")


class FakeDetect:
    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    def __call__(self, texts: list[str]) -> list[list[Finding]]:
        self.seen.append(texts)
        return [[Finding(m.start(), m.end(), "CREDIT_CARD", 0.9, "fake") for m in CARD.finditer(t)] for t in texts]


def test_normalizing_sync_maps_findings_back() -> None:
    fake = FakeDetect()
    texts = ["plain text", f"card 4111{NBSP}1111{NBSP}1111{NBSP}1111 ok", "card 4111 1111 1111 1111"]
    found = normalizing_sync(fake)(texts)
    (sent,) = fake.seen
    assert sent[0] is texts[0] and sent[2] is texts[2]  # unchanged texts go as they are
    assert sent[1] == "card 4111 1111 1111 1111 ok"
    assert found[0] == []
    assert found[1] == [Finding(5, 24, "CREDIT_CARD", 0.9, "fake")]
    assert texts[1][5:24] == f"4111{NBSP}1111{NBSP}1111{NBSP}1111"
    assert found[2] == [Finding(5, 24, "CREDIT_CARD", 0.9, "fake")]


def test_nothing_to_normalize_passes_everything_through() -> None:
    fake = FakeDetect()
    texts = ["a", "card 4111 1111 1111 1111"]
    inner = fake(texts)
    fake.seen.clear()

    def analyze(got: list[str]) -> list[list[Finding]]:
        assert got is texts
        return inner

    assert normalizing_sync(analyze)(texts) is inner


async def test_normalizing_async_is_one_call_and_propagates_errors() -> None:
    fake = FakeDetect()
    calls = 0

    async def detect(texts: list[str]) -> list[list[Finding]]:
        nonlocal calls
        calls += 1
        return fake(texts)

    texts = [f"x 4111{ZW}1111\u20131111\u20131111", "tel_4111111111111111", "nothing"]
    found = await normalizing(detect)(texts)
    assert calls == 1
    assert [(f.start, f.end) for f in found[0]] == [(2, len(texts[0]))]
    assert [(f.start, f.end) for f in found[1]] == [(4, 20)]
    assert found[2] == []

    async def broken(texts: list[str]) -> list[list[Finding]]:
        raise DetectionError("detection failed")

    with pytest.raises(DetectionError):
        await normalizing(broken)([f"4111{NBSP}1111"])


def test_findings_past_the_text_are_clamped() -> None:
    def analyze(texts: list[str]) -> list[list[Finding]]:
        return [[Finding(0, 999, "X", 0.5, "fake"), Finding(3, 3, "EMPTY", 0.5, "fake")] for _ in texts]

    text = f"41{NBSP}11"
    assert normalizing_sync(analyze)([text]) == [[Finding(0, len(text), "X", 0.5, "fake")]]


def test_a_wrong_number_of_results_is_an_error() -> None:
    with pytest.raises(ValueError, match="number of texts"):
        normalizing_sync(lambda texts: [])([f"4111{NBSP}1111"])


def test_normalized_is_exported() -> None:
    import proxy.redaction.normalize as mod

    assert set(mod.__all__) == {"Analyze", "Normalized", "normalize", "normalizing", "normalizing_sync"}
    assert isinstance(normalize("x"), Normalized)


@pytest.mark.parametrize(
    ("name", "unit"),
    [
        ("a column of numbers", "1\n"),
        ("digits over lines after a label", "ssn 12\n"),
        ("addresses and ports", "10.0.0.1:80 "),
        ("dotted digit runs", "123.456 "),
    ],
)
def test_normalising_grows_linearly(name: str, unit: str) -> None:
    """Pasted columns and logs: four times the text costs about four times the time (a
    quadratic step would cost sixteen); best of three runs each, ratios not absolutes."""
    import time

    def cost(n: int) -> float:
        text = unit * n
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            normalize(text)
            best = min(best, time.perf_counter() - started)
        return best

    small, large = cost(5_000), cost(20_000)
    assert large / small < 9, f"{name}: {large / small:.1f}x the time for 4x the text"
