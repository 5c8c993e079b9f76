"""Normalise texts before detection, map findings back after.

PII written oddly (``4111\\u00a01111\\u00a01111\\u00a01111``, ``maria%40example.com``,
``id_4111111111111111_x``, zero-width or bidi characters inside a value) slips past detectors
written for plain text. :func:`normalize` rewrites a text into what detection should see and keeps
an exact offset map back to the original, so that a finding in the normalised text becomes a span
of the original that covers every original character the value was written with (its odd
separators, escapes and invisible characters included). The original text is what gets redacted.

Steps, in order (each keeps the map exact; a step whose pattern does not occur costs one search):

0. literal escapes of a line break or tab (``\\n``, ``\\r``, ``\\t``: a backslash and a letter,
   from text escaped twice, such as a JSON string inside a JSON string) become the character they
   stand for, so that ``...\\n+41 44 668 18 00`` is a number on its own line and not glued to an
   ``n``; not before a lower-case letter (``C:\\Users\\nancy`` stays a path);
1. escapes: ``%XX`` runs (UTF-8) and HTML character references (``&#64;``, ``&#x40;``, named ones
   with their ``;`` as :func:`html.unescape` reads them) are decoded where the result is printable
   (tab, CR, LF, spaces and format characters allowed: later steps handle them); twice, so that
   ``%2540`` or ``&amp;#64;`` decode too;
2. NFKC per character (full-width digits and ``@``, Unicode spaces -> ASCII), and decimal digits of
   other scripts -> ASCII digits;
3. zero-width, soft-hyphen and bidi control characters removed (in the map they belong to both
   neighbours, so a value takes those written around it);
4. between two digits, a run of 1-3 separators (Unicode or ASCII whitespace, ``-``, Unicode dashes,
   minus sign) becomes one ``-`` (if it holds a dash) or one space; ``.`` and ``/`` are left alone;
5. seven or more single digits separated by single spaces become contiguous digits;
6. a run of seven or more digits glued to a letter or ``_`` gets a space on that side (``\\b``
   works again), except inside hex strings of 32 or more characters (hashes);
7. a card number written with odd separators (``4111_1111_1111_1111``, ``4111;1111...``,
   ``4111]1111 1111 1111``, ``4111 , 1111...``): groups of 3-19 digits joined by one to three
   punctuation characters, spaces or ``_``, whose digits (13-19 of them, in 2-6 consecutive
   groups) pass the Luhn check, get one space for each such separator. The checksum keeps amounts, versions,
   IP addresses and timestamps as they are (a 13-19 digit run that passes Luhn by chance is
   redacted as a card: fail closed).

A text with none of these features returns at once as the same string object (ASCII: ``%``/``&``
membership tests and one digit-led regex search; other text also ``unicodedata.is_normalized`` and
one character-class search). :func:`normalizing` / :func:`normalizing_sync` wrap a detector: one detection call
with the normalised texts, findings mapped back to original offsets. Pure: no I/O, no spaCy.
"""

from __future__ import annotations

import html
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence

from stdnum.iso7064 import mod_97_10

from proxy.redaction.plan import Detect
from recognizers.types import Finding

__all__ = ["Analyze", "Normalized", "normalize", "normalizing", "normalizing_sync"]

#: A synchronous detector (``Detector.analyze_many``), as :func:`proxy.redaction.plan.run_sync` takes it.
Analyze = Callable[[list[str]], list[list[Finding]]]

# The fast path: a text none of these find needs no step (checked in tests/unit/test_normalize.py).
_ESCAPE_START = re.compile(r"%[0-9A-Fa-f]{2}|&[#A-Za-z]")
# Digit-led, so that the search skips to digits in C: separators the steps would change, spaced
# single digits, seven digits glued to a letter or ``_`` on either side.
_DIGIT_WORK = re.compile(
    r"[0-9](?:[^\S ][0-9]|[+\u2010-\u2015\u2212\ufe58\ufe63\uff0d][0-9]"
    r"|[\s\-\u2010-\u2015\u2212\ufe58\ufe63\uff0d]{2,3}[0-9]"
    r"| [0-9] [0-9] [0-9] [0-9] [0-9] [0-9]|[0-9]{6}[^\W0-9]|(?<=[^\W0-9][0-9])[0-9]{6})"
)
_ESCAPE = re.compile(
    r"[%&](?:(?<=%)[0-9A-Fa-f]{2}(?:%[0-9A-Fa-f]{2})*"
    r"|(?<=&)(?:#[0-9]{1,7};?|#[xX][0-9A-Fa-f]{1,6};?|[A-Za-z][A-Za-z0-9]{1,31};))"
)
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_BACKSLASHED = re.compile(r"(?<!\\)\\[nrt](?![a-z])")
_BACKSLASHED_AS = {"n": "\n", "r": "\r", "t": "\t"}
#: Decimal digits of other scripts in the BMP (NFKC keeps them; Unicode 14, checked in
#: tests/unit/test_normalize.py). Astral-plane ones are folded too, but only in a text another
#: feature sends through the steps (astral ranges make this check ten times slower).
_OTHER_DIGITS = (
    "\u0660-\u0669\u06f0-\u06f9\u07c0-\u07c9\u0966-\u096f\u09e6-\u09ef\u0a66-\u0a6f\u0ae6-\u0aef"
    "\u0b66-\u0b6f\u0be6-\u0bef\u0c66-\u0c6f\u0ce6-\u0cef\u0d66-\u0d6f\u0de6-\u0def\u0e50-\u0e59"
    "\u0ed0-\u0ed9\u0f20-\u0f29\u1040-\u1049\u1090-\u1099\u17e0-\u17e9\u1810-\u1819\u1946-\u194f"
    "\u19d0-\u19d9\u1a80-\u1a89\u1a90-\u1a99\u1b50-\u1b59\u1bb0-\u1bb9\u1c40-\u1c49\u1c50-\u1c59"
    "\ua620-\ua629\ua8d0-\ua8d9\ua900-\ua909\ua9d0-\ua9d9\ua9f0-\ua9f9\uaa50-\uaa59\uabf0-\uabf9"
    "\uff10-\uff19"
)
_OTHER_DIGIT = re.compile(f"[{_OTHER_DIGITS}]")
_INVISIBLE_CHARS = "\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
_INVISIBLE = re.compile(f"[{_INVISIBLE_CHARS}]+")
_UNICODE_WORK = re.compile(f"[{_INVISIBLE_CHARS}{_OTHER_DIGITS}]")
_DASHES = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d")
_SEPARATORS = re.compile(r"(?<=[0-9])[\s+\-\u2010-\u2015\u2212\ufe58\ufe63\uff0d]{1,3}(?=[0-9])")
_LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_LINE_BREAK = re.compile(f"[{_LINE_BREAKS}]")
_BARE_REACH = 40
#: Digit groups joined by separator runs (as :data:`_SEPARATORS` reads them): one number, maybe.
_DIGIT_CHAIN = re.compile(r"[0-9]+(?:[\s+\-\u2010-\u2015\u2212\ufe58\ufe63\uff0d]{1,3}[0-9]+)+")
_BARE_NUMBER = re.compile(r"[\s0-9+().\-\u2010-\u2015\u2212]*")
_SPACED = re.compile(r"(?<![0-9])[0-9](?: [0-9]){6,}(?![0-9])")
_LONG_DIGITS = re.compile(r"[0-9]{7,}")
#: A label of personal data glued to the digits after it (case-insensitive, a word of its own).
_GLUED_LABEL = re.compile(
    r"(?i:tel|ph|phone|mob|mobile|cell|fax|call|sms|whatsapp|ssn|sin|nin|id|card|cc|acct|account"
    r"|iban|dob|zip|no|nr|num)$"
)
_HEX_BLOB = re.compile(r"(?<!\w)[0-9A-Fa-f]{32,}(?!\w)")
_IBAN_SHAPE = re.compile(r"(?<!\w)[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}(?!\w)")
#: Digit groups joined by one or two punctuation characters or ``_`` (step 7), and one separator.
_PUNCTUATED_RUN = re.compile(r"(?<![0-9])[0-9]{3,19}(?:(?:[^\w\n]|_){1,3}[0-9]{3,19})+(?![0-9])")
#: A label of a number on the line before a number written over two lines (``my ssn is 536`` / ``90-4399``).
_LABEL_BEFORE = re.compile(
    r"(?i:\b(?:ssn|sin|nin|social|phone|tel|mobile|cell|fax|call|text|card|cc|account|acct|iban|number|no|nr)\b)"
    r"[^\n\d]{0,20}$"
)
_IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?(?![\d.])")
_RUN_SEPARATOR = re.compile(r"(?:[^\w\n]|_){1,3}")
_PLAIN_SEPARATORS = frozenset((" ", "-"))
_CONTROLS_OK = frozenset("\t\n\r")
_SPACE_OR_FORMAT = frozenset(("Zs", "Zl", "Zp", "Cf"))

#: One edit of a step: replace ``text[start:end]`` by ``new`` (each new character maps to the
#: whole ``start:end``); ``""`` drops it (its characters join the next kept character's span).
_Edit = tuple[str, int, int]
#: ``(out_start, out_end, in_start, in_end, copy)``: see :class:`Normalized`.
_Segment = tuple[int, int, int, int, bool]


class Normalized:
    """A text as detection should see it (``text``) and the way back to ``original``.

    When nothing needed normalising, ``text is original`` and offsets map to themselves.
    """

    __slots__ = ("_at", "_segments", "original", "text")

    def __init__(self, original: str, text: str | None = None, segments: list[_Segment] | None = None) -> None:
        self.original = original
        self.text = original if text is None else text
        # Segments cover ``text`` in order; within each, character i of ``text`` comes from
        # ``original[in_start + (i - out_start)]`` (a copy) or from all of ``original[in_start:in_end]``.
        # Start and end in the original never decrease along the text; every character's span is
        # non-empty and together they cover the whole original.
        self._segments = segments or []
        self._at = [seg[0] for seg in self._segments]

    @property
    def changed(self) -> bool:
        return self.text is not self.original

    def __repr__(self) -> str:  # never the text: it may hold PII
        return f"<Normalized {len(self.original)} -> {len(self.text)} chars{' changed' if self.changed else ''}>"

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of ``original`` that ``text[start:end]`` was made from, clamped to the
        original; never splits a surrogate pair. An empty span maps to an empty span."""
        n = len(self.text)
        size = len(self.original)
        start = min(max(start, 0), n)
        end = min(max(end, start), n)
        if not self.changed:
            s, e = min(start, size), min(end, size)
        elif start == end:
            s = e = _start_of(self._segments, self._at, start) if start < n else size
        else:
            s = _start_of(self._segments, self._at, start)
            e = _end_of(self._segments, self._at, end - 1)
        orig = self.original
        if 0 < s < size and "\udc00" <= orig[s] <= "\udfff" and "\ud800" <= orig[s - 1] <= "\udbff":
            s -= 1
        if 0 < e < size and "\ud800" <= orig[e - 1] <= "\udbff" and "\udc00" <= orig[e] <= "\udfff":
            e += 1
        return s, max(e, s)


def normalize(text: str) -> Normalized:
    """``text`` rewritten for detection, with the map back (see the module docstring)."""
    return _normalized(text) if _needs_work(text) else Normalized(text)


def _normalized(text: str) -> Normalized:
    """All the steps (``normalize`` without the fast path)."""
    current = text
    segments: list[_Segment] | None = None
    for step in _STEPS:
        got = _rebuild(current, step(current))
        if got is not None:
            current, step_segments = got
            segments = step_segments if segments is None else _compose(segments, step_segments)
    if segments is None or current == text:
        return Normalized(text)
    return Normalized(text, current, segments)


def _needs_work(text: str) -> bool:
    if "\\" in text and _BACKSLASHED.search(text) is not None:
        return True
    if ("%" in text or "&" in text) and _ESCAPE_START.search(text) is not None:
        return True
    if _DIGIT_WORK.search(text) is not None:
        return True
    if _PUNCTUATED_RUN.search(text) is not None and next(_punctuated(text), None) is not None:
        return True
    if text.isascii():
        return False
    return not unicodedata.is_normalized("NFKC", text) or _UNICODE_WORK.search(text) is not None


def normalizing(detect: Detect) -> Detect:
    """``detect`` on normalised texts, findings in original offsets (one call, as before)."""

    async def detect_normalized(texts: list[str]) -> list[list[Finding]]:
        norms = [normalize(t) for t in texts]
        if not any(n.changed for n in norms):
            return await detect(texts)
        found = await detect([n.text for n in norms])
        return _map_back(norms, found)

    return detect_normalized


def normalizing_sync(analyze: Analyze) -> Analyze:
    """:func:`normalizing` for a synchronous detector (the command line)."""

    def analyze_normalized(texts: list[str]) -> list[list[Finding]]:
        norms = [normalize(t) for t in texts]
        if not any(n.changed for n in norms):
            return analyze(texts)
        return _map_back(norms, analyze([n.text for n in norms]))

    return analyze_normalized


def _map_back(norms: Sequence[Normalized], found: Sequence[list[Finding]]) -> list[list[Finding]]:
    if len(found) != len(norms):
        raise ValueError("detection returned findings for a different number of texts")
    out: list[list[Finding]] = []
    for norm, findings in zip(norms, found, strict=True):
        if not norm.changed:
            out.append(findings)
            continue
        mapped = []
        for f in findings:
            s, e = norm.original_span(f.start, f.end)
            if e > s:
                mapped.append(Finding(s, e, f.entity, f.score, f.recognizer))
        out.append(mapped)
    return out


# ---- the steps: each yields its edits in order, without overlaps ------------------------------


def _acceptable(s: str) -> bool:
    """Printable, or tab/CR/LF, or a space or format character the next steps normalise."""
    return (
        bool(s)
        and "\ufffd" not in s
        and all(c.isprintable() or c in _CONTROLS_OK or unicodedata.category(c) in _SPACE_OR_FORMAT for c in s)
    )


def _backslashed(text: str) -> Iterator[_Edit]:
    if "\\" not in text:
        return
    for m in _BACKSLASHED.finditer(text):
        yield _BACKSLASHED_AS[m.group()[1]], m.start(), m.end()


def _decoded(text: str) -> Iterator[_Edit]:
    if "%" not in text and "&" not in text:
        return
    for m in _ESCAPE.finditer(text):
        got = m.group()
        if got[0] == "&":
            new = html.unescape(got)
            # a numeric reference that makes a letter hides nothing; reading it would eat the
            # digits after it (``&#536-90-4399``). One that makes a digit is read (``&#52;``).
            if new != got and _acceptable(new) and not (got[1] == "#" and new.isalpha()):
                yield new, m.start(), m.end()
        else:
            yield from _percent_decoded(got, m.start())


def _percent_decoded(run: str, at: int) -> Iterator[_Edit]:
    raw = bytes.fromhex(run.replace("%", ""))
    i = 0
    while i < len(raw):
        b = raw[i]
        size = 1 if b < 0x80 else 2 if 0xC2 <= b <= 0xDF else 3 if 0xE0 <= b <= 0xEF else 4 if 0xF0 <= b <= 0xF4 else 0
        if size:
            try:
                ch = raw[i : i + size].decode("utf-8")
            except UnicodeDecodeError:
                ch = ""
            # an escaped ASCII letter hides nothing, and reading it would eat the digits after
            # it: ``%536-90-4399`` is an SSN after a ``%``, not ``S6-90-4399``. An escaped digit
            # is read (``tel_%34155550134``).
            if _acceptable(ch) and not (ch.isascii() and ch.isalpha()):
                yield ch, at + 3 * i, at + 3 * (i + size)
                i += size
                continue
        i += 1


_FOLDED: dict[str, str] = {}
_ORDINAL_SIGNS = frozenset("\u00aa\u00ba")


def _fold(c: str) -> str:
    if c in _ORDINAL_SIGNS:  # ``25º A`` is a floor and door, not ``25o A``
        return c
    got = _FOLDED.get(c)
    if got is None:
        got = "".join(
            str(unicodedata.decimal(x)) if not x.isascii() and unicodedata.decimal(x, None) is not None else x
            for x in unicodedata.normalize("NFKC", c)
        )
        if len(_FOLDED) < 4096:
            _FOLDED[c] = got
    return got


def _nfkc(text: str) -> Iterator[_Edit]:
    if text.isascii() or (unicodedata.is_normalized("NFKC", text) and _OTHER_DIGIT.search(text) is None):
        return
    for m in _NON_ASCII.finditer(text):
        c = m.group()
        new = _fold(c)
        if new != c:
            yield new, m.start(), m.end()


def _invisible(text: str) -> Iterator[_Edit]:
    if not text.isascii():
        for m in _INVISIBLE.finditer(text):
            yield "", m.start(), m.end()


def _separators(text: str) -> Iterator[_Edit]:
    chain: re.Match[str] | None = None
    digits = 0  # of ``chain``, counted once per chain (a column of numbers is one long chain)
    for m in _SEPARATORS.finditer(text):
        got = m.group()
        if _LINE_BREAK.search(got) is not None:
            # one number written on several lines (a card, a phone, an SSN: nine digits or more,
            # one of its lines bare or a label before it), not two lines of an address block
            # (``ÚT 878\\n3822``, ``Rua Conde 263\\n9933-840 SÃO DOMINGOS``)
            if chain is None or chain.end() < m.end():  # the chain this separator is part of
                pos = max(0, m.start() - _BARE_REACH)
                while (chain := _DIGIT_CHAIN.search(text, pos)) is not None and chain.end() < m.end():
                    pos = chain.end()
                digits = 0 if chain is None else sum(c.isdigit() for c in chain.group())
            if digits < 9:
                continue
            if not _bare_number_line(text, m.start(), m.end()) and not (
                chain is not None and _LABEL_BEFORE.search(text, max(0, chain.start() - _BARE_REACH), chain.start())
            ):
                continue
        new = "-" if any(c in _DASHES for c in got) else " "
        if got != new:
            yield new, m.start(), m.end()


def _bare_number_line(text: str, start: int, end: int) -> bool:
    """Whether the line ending at ``start`` or the one starting at ``end`` holds nothing but
    digits and number punctuation (``4111\\n1111``, ``ssn 536\\n90\\n4399``), unlike the lines of an
    address block (``Stoekeplein 482\\n1595 PX BREGTDORP``). Looks at most :data:`_BARE_REACH`
    characters each way (a longer line is no bare number), so the cost stays linear."""
    lo = max(0, start - _BARE_REACH)
    before = _LINE_BREAK.split(text[lo:start])
    if (len(before) > 1 or lo == 0) and _BARE_NUMBER.fullmatch(before[-1]) is not None:
        return True
    hi = min(len(text), end + _BARE_REACH)
    after = _LINE_BREAK.split(text[end:hi], maxsplit=1)
    return (len(after) > 1 or hi == len(text)) and _BARE_NUMBER.fullmatch(after[0]) is not None


def _spaced(text: str) -> Iterator[_Edit]:
    for m in _SPACED.finditer(text):
        for at in range(m.start() + 1, m.end(), 2):
            yield "", at, at + 1


def _glued(text: str) -> Iterator[_Edit]:
    hashes: list[tuple[int, int]] | None = None
    for m in _LONG_DIGITS.finditer(text):
        s, e = m.span()
        # ten digits or more after letters (``x4155550134``, ``tel4155550134``), or seven to nine
        # after a label of personal data (``ssn536904399``); not a code of letters and seven to
        # nine digits (``L3916410``, a driver's licence; ``ORD2400655``, an order; IBANs below)
        before = s > 0 and (
            text[s - 1] == "_"
            or (text[s - 1].isalpha() and (e - s >= 10 or _GLUED_LABEL.search(text, max(0, s - 12), s) is not None))
        )
        after = e < len(text) and (text[e] == "_" or text[e].isalpha())
        if not (before or after):
            continue
        if hashes is None:  # hashes and IBANs (``ES7147085486896232254172``, checksum valid) are one word
            hashes = [h.span() for h in _HEX_BLOB.finditer(text)]
            hashes += [h.span() for h in _IBAN_SHAPE.finditer(text) if _iban_checksum(h.group())]
        if any(hs <= s and e <= he for hs, he in hashes):
            continue
        if before:
            yield " " + text[s], s, s + 1
        if after:
            yield text[e - 1] + " ", e - 1, e


def _iban_checksum(value: str) -> bool:
    """ISO 13616 (python-stdnum's ISO 7064 mod 97-10 on the rearranged IBAN):
    ``CC4111111111111111`` is a card after a label, not an IBAN."""
    return bool(mod_97_10.is_valid(value[4:] + value[:4]))


def _luhn(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _punctuated(text: str) -> Iterator[_Edit]:
    ips: list[tuple[int, int]] | None = None
    ip_at = 0  # runs come in order: the first address that may still overlap one
    for m in _PUNCTUATED_RUN.finditer(text):
        run = m.group()
        if "." in run:
            if ips is None:
                ips = [ip.span() for ip in _IPV4.finditer(text)]
            while ip_at < len(ips) and ips[ip_at][1] <= m.start():
                ip_at += 1
            if ip_at < len(ips) and ips[ip_at][0] < m.end():
                continue  # ``185.126.214.192:2778``: an address and port, not a card
        seps = list(_RUN_SEPARATOR.finditer(run))
        if all(sep.group() in _PLAIN_SEPARATORS for sep in seps):
            continue  # spaces and dashes: the card recognizers read those as they are
        groups = _RUN_SEPARATOR.split(run)
        covered = -1  # the last group index already part of an accepted window
        for first in range(len(groups)):
            if first <= covered:
                continue
            digits = ""
            for last in range(first, min(first + 6, len(groups))):
                digits += groups[last]
                if len(digits) > 19:
                    break
                if last > first and len(digits) >= 13 and _luhn(digits):
                    for sep in seps[first:last]:
                        if sep.group() != " ":
                            yield " ", m.start() + sep.start(), m.start() + sep.end()
                    covered = last
                    break


#: Decoding runs twice (``%2540``, ``&amp;#64;``); it may bring non-ASCII characters into an ASCII
#: text, so the steps after it check for themselves.
_STEPS = (_backslashed, _decoded, _decoded, _nfkc, _invisible, _separators, _spaced, _glued, _punctuated)


# ---- the map ----------------------------------------------------------------------------------


def _rebuild(text: str, edits: Iterator[_Edit]) -> tuple[str, list[_Segment]] | None:
    """``text`` with ``edits`` applied and the segments mapping it back to ``text``; None when the
    edits change nothing. Dropped characters join the spans of both kept neighbours (a value
    takes the invisible characters on either side of it)."""
    out: list[str] = []
    segments: list[_Segment] = []
    at = 0  # in text
    o = 0  # in the new text
    pending = -1  # start of dropped characters waiting for the next kept one
    dropped_to = 0  # and their end
    changed = False

    def widen_last(to: int) -> None:
        """The last kept character's span reaches to ``to``."""
        o1, o2, s1, e1, copy = segments.pop()
        if copy and o2 - o1 > 1:
            segments.append((o1, o2 - 1, s1, e1 - 1, True))
            segments.append((o2 - 1, o2, e1 - 1, to, False))
        else:
            segments.append((o1, o2, s1, to, False))

    def put(new: str, s: int, e: int, copy: bool) -> None:
        nonlocal o, pending
        n = len(new)
        if not n:
            return
        out.append(new)
        if pending >= 0:
            if segments:
                widen_last(dropped_to)
            # the first character takes the dropped ones: a segment of its own
            segments.append((o, o + 1, pending, s + 1 if copy else e, False))
            if n > 1:
                segments.append((o + 1, o + n, s + 1 if copy else s, e, copy))
            pending = -1
        else:
            segments.append((o, o + n, s, e, copy))
        o += n

    for new, s, e in edits:
        if s > at:
            put(text[at:s], at, s, True)
        if new:
            put(new, s, e, False)
            changed = changed or new != text[s:e]
        elif e > s:
            if pending < 0:
                pending = s
            dropped_to = e
            changed = True
        at = e
    if not changed:
        return None
    if at < len(text):
        put(text[at:], at, len(text), True)
    if pending >= 0 and segments:  # dropped characters at the end join the last kept one
        widen_last(len(text))
    return "".join(out), segments


def _start_of(segments: Sequence[_Segment], at: Sequence[int], pos: int) -> int:
    """Where in the input the span of character ``pos`` of the output starts."""
    o1, _, s1, _, copy = segments[bisect_right(at, pos) - 1]
    return s1 + (pos - o1) if copy else s1


def _end_of(segments: Sequence[_Segment], at: Sequence[int], pos: int) -> int:
    """Where in the input the span of character ``pos`` of the output ends."""
    o1, _, s1, e1, copy = segments[bisect_right(at, pos) - 1]
    return s1 + (pos - o1) + 1 if copy else e1


def _compose(first: list[_Segment], second: list[_Segment]) -> list[_Segment]:
    """Segments of a text two steps away: ``second`` maps it to the text ``first`` maps to the
    original."""
    at = [seg[0] for seg in first]
    out: list[_Segment] = []
    for o1, o2, m1, m2, copy in second:
        if not copy:
            out.append((o1, o2, _start_of(first, at, m1), _end_of(first, at, m2 - 1), False))
            continue
        i = bisect_right(at, m1) - 1
        m = m1
        while m < m2:
            f1, f2, s1, e1, fcopy = first[i]
            stop = min(m2, f2)
            if fcopy:
                out.append((o1 + m - m1, o1 + stop - m1, s1 + m - f1, s1 + stop - f1, True))
            else:
                out.append((o1 + m - m1, o1 + stop - m1, s1, e1, False))
            m = stop
            i += 1
    return out
