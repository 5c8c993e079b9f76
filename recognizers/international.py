"""Recognizers for what our US-shaped rules miss: postcodes of other countries, phone numbers in
national formats of other countries, street addresses written the European way, and names that
only the structure of a message reveals.

Every regex here is linear: no nested quantifiers, alternatives anchored at word starts, every
repetition bounded. Each recognizer is a :class:`~recognizers.custom.RuleRecognizer` (no spaCy:
its results are reused when a text goes on to NER), and none keeps or logs the text it looked at.

- :class:`PostcodeRecognizer` (``POSTCODE``): the postcode shapes of many countries (``NNNN``,
  ``NNNNN``, ``NNN NN``, ``NN-NNN``, ``NNNN-NNN``, ``NNNN AA``, ``A9A 9A9``, UK outward/inward
  codes, a country prefix such as ``SE-``), only with evidence: a postcode label (``postcode``,
  ``PLZ``, ``CAP`` ...), or a place in an address block (next to a city at the start or end of a
  line or comma-separated part that follows a street line, or alone on a line after one). A
  5-digit code in a self-introduction (``it's Ana, 34, from 77339``) is a US ZIP code.
- :class:`InternationalPhoneRecognizer` (``PHONE_NUMBER``): ``+``/``00`` numbers that
  ``phonenumbers`` validates, and national numbers with a trunk ``0`` valid in one of
  :data:`PHONE_REGIONS`.
- :class:`InternationalStreetRecognizer` (``STREET_ADDRESS``): street names with a street word of
  another language (``-straat``, ``-gatan``, ``utca``, ``ulica``, ``-katu`` ...), with their house
  number before or after; and in address context (``lives at``, ``address:``, ``ship to:``,
  ``sent to``, a line before a postcode line) a capitalised name with a house number.
- :class:`StructuralNameRecognizer` (``PERSON``): reporting verbs (``said Anna``,
  ``shouted at Anna``), titles of other languages (``Mevr.``, ``Dhr.``, ``Fru``, ``Pani``,
  ``Signora``, ``Senhor`` ... in any case), a first name with a middle initial without its dot
  (``Anna K Smith``), the recipient of a giving verb (``had given Sales his address``) and the
  items of a list of names (``Hanna, Oskar, Brigid and Tove``: most items known given names, no
  country or big city among them). Speaker labels and vocatives are
  :class:`~recognizers.person.PersonRecognizer`'s (one implementation).
- :class:`InternationalPhoneRecognizer` also takes a number right after a phone label in any
  grouping (``Telefon: 410.4977``, ``Office: 613-9305``) and the extension after a number.

:func:`international_recognizers` also registers
:class:`~recognizers.address_block.AddressBlockRecognizer` (a street line and the postal line
after it, postcodes checked against Google's address data).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import phonenumbers
from presidio_analyzer import LocalRecognizer, RecognizerResult
from spacy.lang.en.stop_words import STOP_WORDS

from recognizers.address_block import _SENTENCE_END, AddressBlockRecognizer, with_units
from recognizers.custom import _GLUED_PHONE_LABEL, _IBAN_HEAD, RuleRecognizer, _best_non_overlapping
from recognizers.names import NOT_NAME, Lexicon
from recognizers.places import is_place
from recognizers.usernames import UsernameRecognizer

__all__ = [
    "PHONE_REGIONS",
    "InternationalPhoneRecognizer",
    "InternationalStreetRecognizer",
    "PostcodeRecognizer",
    "StructuralNameRecognizer",
    "international_recognizers",
]

_L = r"[^\W\d_]"  # a letter of any script

# ---- POSTCODE ---------------------------------------------------------------------------------
_SHAPES = (
    r"[A-Z]{1,2}\d[A-Z\d]?[ ]?\d[A-Z]{2}"  # UK
    r"|[A-Z]\d[A-Z][ -]?\d[A-Z]\d"  # Canada
    r"|\d{4}[ ]?[A-Z]{2}"  # Netherlands
    r"|\d{5}-\d{3}|\d{4}-\d{3}|\d{2}-\d{3}"  # Brazil, Portugal, Poland
    r"|\d{3}[ ]\d{2}"  # Sweden, Czechia, Slovakia, Greece
    r"|\d{3,6}"  # Iceland (3), most of Europe and Australia (4, 5), Russia, Ukraine, India (6)
)
_POSTCODE = re.compile(rf"(?<![\w.,/:#$€£+@-])(?:[A-Za-z]{{1,2}}-)?(?P<v>{_SHAPES})(?![\w-]|[.,/:]\d)")
#: The same shapes in any casing (``sg3q 9eo``, ``1254 zs``): only right after a postcode label.
_POSTCODE_ANY_CASE = re.compile(_POSTCODE.pattern, re.IGNORECASE)
_LABEL = re.compile(
    r"(?:\b(?:zip|zip\s?code|zipcode|postal\s?code|post\s?code|postcode|postleitzahl|plz|code\s+postal|cp|cap"
    r"|c\.p\.|c[óo]digo\s+postal|pin\s?code|pincode|postnummer|postinumero|irányítószám|psč|kod\s+pocztowy"
    r"|postnr|eircode|cep|posta\s+kodu|sihtnumber|postiindeks|postal|index|indeks|індекс|поштовий\s+індекс"
    r"|почтовый\s+индекс|индекс|ταχυδρομικός\s+κώδικας|τ\.κ\.|postnummer|poštanski\s+broj|poštna\s+številka"
    r"|codice\s+postale|code\s+postal|postcode|ZIP)\b\.?[\"']?[ \t]*(?:[:#=-][ \t]*[\"']?)?(?:is[ \t]+)?"
    r"|\bzip\s*/\s*postal(?:\s?code)?[ \t]*:?[ \t]*)$",
    re.IGNORECASE,
)
#: A house number next to a word: the part (line, or comma-separated piece) is a street line.
_STREET_EVIDENCE = re.compile(
    rf"\b{_L}{{3}}[^\n,\d]{{0,40}}(?:,[ \t]*+)?\b\d{{1,5}}[a-zA-Z]?\b|\b\d{{1,5}}[a-zA-Z]?,?[ \t]{{1,4}}{_L}{{3}}"
)
_YEAR_BEFORE = re.compile(r"\b(?:in|since|year|of|on|from|by|until|till|before|after|to|and)[ \t]+$", re.IGNORECASE)
_SELF_INTRO = re.compile(
    rf"\b(?:i'?m|i’m|it'?s|it’s|this\s+is|name'?s)[ \t]+{_L}+[ \t]*,[ \t]*\d{{1,2}}[ \t]*,[ \t]*from[ \t]+$",
    re.IGNORECASE,
)
#: A day and a month name (or a month alone) right before a year: ``until 23 Jun 2025``.
_MONTH_BEFORE = re.compile(r"(?<![^\W\d_])(?P<m>[^\W\d_]{3,10})\.?,?[ \t]++$")
_MONTHS = frozenset(
    re.split(
        r"\s+",
        "jan feb mar apr may jun jul aug sep oct nov dec mär mai okt dez ene abr ago dic fév avr jui aoû déc"
        " gen mag giu lug set ott sty lut kwi cze lip sie wrz paź lis gru led úno bře dub kvě čer srp zář říj"
        " pro tam hel maa huh kes elo syy lok mrt mei",
    )
)
#: ``ending 7549``, ``ends in 0979``: the last digits of a phone or a card.
_TAIL_OF = re.compile(r"\b(?:ending|ends)(?:[ \t]+(?:in|with))?[ \t]*+$", re.IGNORECASE)
_CITY_AFTER = re.compile(rf"[ \t]{{1,8}}{_L}")
_PART_END_AFTER = re.compile(r"(?<![ \t])[ \t]*+(?:\r?\n|,|\.(?=\s|$)|$|\((?!\d))")
_UPPER = "A-ZÀ-ÖØ-ÞĀ-ſА-ЯЁЄІЇҐΑ-Ω"
#: ``in Devecser 1565``, ``to Svidník 978 72``, ``in Costa de la Luz 89138``: a place named in prose,
#: then a code (matched on the text before the code, which must end here).
_PLACE_THEN_CODE = re.compile(
    rf"\b(?:in|at|near|from|to|of|outside|around)[ \t]++"
    rf"(?P<place>[{_UPPER}][^\W\d_]*+(?:-[^\W\d_]++)?(?:[ \t]++(?:(?:de|del|la|le|nad|pod|am|an|im|sur|sul|di|do|da"
    rf"|upon|on)[ \t]++)?[{_UPPER}][^\W\d_]*+(?:-[^\W\d_]++)?){{0,3}})[ \t]++$"
)
_UNIT_BEFORE = re.compile(r"(?i:\b(?:flat|apt|apartment|suite|ste|unit|room|floor|fl|lgh|no|nr|box)\.?|#)[ \t]*+$")
#: Capitalised words before a number that make it no postcode (``in Room 1234``, ``at Gate 5012``).
_NOT_PLACE = frozenset(
    """room suite gate terminal building floor office windows model version chapter page section level ward bay
    dock platform unit apt block lot row seat box line route highway flight train bus order ticket case year week
    day step phase stage season episode part vol no number ext store shop branch team group plan series
    account invoice iphone galaxy pixel ps xbox""".split()  # noqa: SIM905
)


#: What a postcode in a sentence comes right after: ``in``, ``à``, ``en``, ``i``, or a comma.
_CODE_AFTER_WORD = re.compile(r"(?:\b(?i:in|im|à|a|en|i|w|v|zu)|,)[ \t]++$")
_ENGLISH_STREET_WORD = re.compile(r"\b(?i:street|st\.|road|rd\.|avenue|ave\.|lane|drive|boulevard|blvd)")


def _has_street_word(window: str) -> bool:
    """A street word of any language we serve in ``window`` (``Bahnhofstraße 5``, ``Main Street``)."""
    return _ENGLISH_STREET_WORD.search(window) is not None or _STREET_WORD_RX.search(window) is not None


class PostcodeRecognizer(RuleRecognizer):
    """Postcodes of many countries, only with evidence (see the module doc)."""

    ENTITY = "POSTCODE"
    TRIGGER = re.compile(r"\d")

    def __init__(self) -> None:
        super().__init__(name="PostcodeRecognizer")
        self.supported_entities = ["POSTCODE", "US_ZIP_CODE"]

    def find(self, text: str) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        for m in _POSTCODE.finditer(text):
            start, end = m.span("v")
            value = m.group("v")
            line_start = max(text.rfind("\n", max(0, m.start() - 200), m.start()) + 1, m.start() - 200, 0)
            before_line = text[line_start : m.start()]
            if _LABEL.search(text, max(line_start, start - 40), m.start()) or _LABEL.search(before_line[-40:]):
                results.append(self._result(start, end, 0.85, "postcode after its label"))
                continue
            if value.isdigit() and len(value) == 5 and _SELF_INTRO.search(text, max(0, m.start() - 60), m.start()):
                r = self._result(start, end, 0.8, "zip in a self-introduction")
                r.entity_type = "US_ZIP_CODE"
                results.append(r)
                continue
            score = self._in_address_block(text, m.start(), end, line_start, value)
            if score is not None:
                results.append(self._result(start, end, score, "postcode in an address block"))
            elif self._after_place(text, m.start(), value):
                results.append(self._result(start, end, 0.6, "postcode after a place name"))
        for m in _POSTCODE_ANY_CASE.finditer(text):
            if m.group("v").isupper() or m.group("v").isdigit():
                continue  # the pass above had it
            start, end = m.span("v")
            if _LABEL.search(text, max(0, start - 40), m.start()):
                results.append(self._result(start, end, 0.85, "postcode after its label"))
        return _best_non_overlapping(results)

    @staticmethod
    def _after_place(text: str, start: int, value: str) -> bool:
        """A code of four or more digits (or a grouped or alphanumeric shape) right after a
        capitalised place named with ``in``/``at``/``near``... (never a year, never after ``Room``)."""
        digits = value.replace(" ", "").replace("-", "")
        if value.isdigit() and (len(value) < 4 or (len(value) == 4 and value[:2] in {"19", "20"})):
            return False
        if not digits.isalnum():
            return False
        m = _PLACE_THEN_CODE.search(text, max(0, start - 60), start)
        if m is None or m.end() != start:
            return False
        words = m.group("place").split()
        return not any(w.casefold() in _NOT_PLACE or w.casefold() in STOP_WORDS for w in words)

    @staticmethod
    def _in_address_block(text: str, start: int, end: int, line_start: int, value: str) -> float | None:
        before_line = text[line_start:start]
        # the start of the part the code is in: after the last comma on its line, or the line start
        comma = before_line.rfind(",")
        part_start = line_start + comma + 1 if comma >= 0 else line_start
        lead = text[part_start:start]
        at_part_start = not lead.strip(" \t>?*-") or re.fullmatch(r"[ \t>?*-]*[A-Za-z]{1,2}-", lead) is not None
        tail_end = _PART_END_AFTER.match(text, end)
        alone = at_part_start and tail_end is not None
        city_after = at_part_start and _CITY_AFTER.match(text, end) is not None
        # ``POPLAR BLUFF SA 7841``, ``HAYWARDS HEATH, AG0G 2UF``, ``Tchad 69214``: a place, then the
        # code (ending its part; or anywhere, a code with letters in capitals: ``London NW1 6XE next``)
        lettered = value.isupper() and not value.isdigit() and any(c.isdigit() for c in value)
        place_before = (tail_end is not None or lettered) and re.search(
            rf"(?<!{_L}){_L}{{2,}}\.?,?[ \t]++$", text[max(line_start, start - 60) : start]
        ) is not None
        # ``Bahnhofstraße 5 in 80331 München``: a street earlier in the sentence, the code, a city
        city = _CITY_AFTER.match(text, end)
        in_sentence = (
            not at_part_start
            and city is not None
            and _CODE_AFTER_WORD.search(text, max(line_start, start - 12), start) is not None
            and text[city.end() - 1].isupper()
            and _STREET_EVIDENCE.search(text[max(line_start, start - 80) : start]) is not None
            and _has_street_word(text[max(line_start, start - 80) : start])
        )
        if not (alone or city_after or place_before or in_sentence):
            return None
        if _UNIT_BEFORE.search(text, max(line_start, start - 12), start):
            return None  # ``Flat 229``, ``Apt 1102``: a unit number
        short = value.isdigit() and len(value) < 4
        if short and not (tail_end is not None and text.count("\n", max(0, start - 200), start) >= 2):
            return None  # a 3-digit code (Iceland): after its label, or closing a multi-line block

        year = value.isdigit() and len(value) == 4 and value[:2] in {"19", "20"} and not at_part_start
        if year and _YEAR_BEFORE.search(text, max(0, start - 12), start):
            return None  # ``since 2005``
        month = _MONTH_BEFORE.search(text, max(0, start - 16), start) if year else None
        if month and month.group("m")[:3].casefold() in _MONTHS:
            return None  # ``until 23 Jun 2025``: a date
        if _TAIL_OF.search(text, max(0, start - 24), start):
            return None  # ``the mobile ending 7549``: the end of another number
        # a street line before it: an earlier line (up to four back) or an earlier part of its line
        window_start = line_start
        for _ in range(4):
            if window_start == 0:
                break
            window_start = text.rfind("\n", 0, window_start - 1) + 1
        earlier = text[window_start:part_start]
        if not _STREET_EVIDENCE.search(earlier) and not in_sentence:
            return None
        return 0.7 if (alone or city_after) else 0.65


# ---- PHONE_NUMBER -----------------------------------------------------------------------------
#: Regions whose national formats are tried on a number that starts with the trunk prefix 0.
PHONE_REGIONS = (
    "GB", "IE", "DE", "AT", "CH", "FR", "BE", "NL", "LU", "ES", "PT", "IT", "PL", "CZ", "SK", "HU", "SI",
    "HR", "RS", "RO", "BG", "GR", "SE", "FI", "DK", "NO", "IS", "EE", "LV", "LT", "UA", "RU", "TR",
    "AU", "NZ", "BR", "AR", "ZA", "NG", "EG", "IN", "PK", "JP", "KR", "TH", "PH", "ID",
)  # fmt: skip
_PHONE_CAND = re.compile(
    r"(?:(?<![\w+@/.:=-])|(?<=[^\W\d_][.:]))"
    r"(?P<v>(?:\+|00)\(?\d{1,3}\)?[ \t.-]?(?:\(0\)[ \t]?)?(?:\(\d{1,5}\)[ \t.-]?)?\d[\d \t.-]{4,17}\d"
    r"|\(?0\d{1,5}\)?[ \t./-]?\d[\d \t./-]{3,14}\d)(?![\w@]|-[\d@-]|[.,]\d|:\d)"
)
_NOT_PHONE = re.compile(
    r"\b(?:order|ticket|invoice|inv|ref|reference|tracking|account|acct|id|case|claim|sku|item|serial|confirmation"
    r"|transaction|txn|model|version|build|batch|card|iban)\b\W{0,4}(?:(?:no|num|number|#)\W{0,3})?$|[#$€£]\s*$",
    re.IGNORECASE,
)
_DATE_LIKE = re.compile(r"\d{1,4}[./-][ \t]?\d{1,2}[./-][ \t]?\d{1,4}")


class InternationalPhoneRecognizer(RuleRecognizer):
    """Phone numbers that ``phonenumbers`` validates: with ``+``/``00`` and a country code, or in
    a national format with the trunk prefix 0 of one of :data:`PHONE_REGIONS`."""

    ENTITY = "PHONE_NUMBER"
    TRIGGER = re.compile(r"\d\d")

    def find(self, text: str) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        for m in _PHONE_CAND.finditer(text):
            start, end = m.span("v")
            if start and text[start - 1] in ".:" and not _GLUED_PHONE_LABEL.search(text, max(0, start - 12), start):
                continue  # ``id:0123456789``: only a phone word may touch a number
            if _IBAN_HEAD.search(text, max(0, start - 48), start):
                continue  # the digit groups of an IBAN
            value = m.group("v").rstrip(" \t.-/")
            end = start + len(value)
            digits = re.sub(r"\D", "", value)
            if not 8 <= len(digits) <= 15 or _DATE_LIKE.fullmatch(value.strip("()")):
                continue
            if _NOT_PHONE.search(text, max(0, start - 30), start):
                continue
            if value.startswith(("+", "00")):
                intl = "+" + value[2:] if value.startswith("00") else value
                if _valid(intl, None):
                    results.append(self._result(start, end, 0.75, "international number (validated)"))
            elif any(_valid(value, region) for region in PHONE_REGIONS):
                results.append(self._result(start, end, 0.6, "national number (validated)"))
        for m in _LABELLED_PHONE.finditer(text):
            value = m.group("v").rstrip(" \t.-/")
            digits = re.sub(r"\D", "", value)
            if not 6 <= len(digits) <= 15 or _DATE_LIKE.fullmatch(value.strip("()")):
                continue
            start = m.start("v")
            results.append(self._result(start, start + len(value), 0.8, "number after a phone label"))
        for r in results:
            ext = _EXT_AFTER.match(text, r.end)
            if ext:  # ``(ext. 3182)``, ``, ext. 7407``, ``x1815``: the extension is part of it
                r.end = ext.end()
        return _best_non_overlapping(results)


#: A number right after a label that names a phone (``Telefon: 410.4977``, ``tel=070.120.71.10``,
#: ``Office: 613-9305``, ``T: +44 ...`` at a line's start): any grouping, 7 to 15 digits.
_LABELLED_PHONE = re.compile(
    r"(?:\b(?i:phone|tel|telephone|telefon|telefono|teléfono|téléphone|telefone|telefoon|puhelin|tlf|mobile|mob"
    r"|mobil|cell|cellphone|handy|gsm|fax|direct|direct[ \t]+line|office|landline|whatsapp|work|home|ph)"
    r"|^[ \t]*+[TMFDO])[ \t]*+(?::|=|\.:?)[ \t]*+"
    r"(?P<v>\+?\(?\d[\d \t./()-]{4,22}\d)(?![\w@]|[.,:/-]\d)",
    re.MULTILINE,
)
#: An extension after a number.
_EXT_AFTER = re.compile(
    r"(?<![ \t])[ \t]*+,?[ \t]*+"
    r"(?:\([ \t]*+(?i:ext|extn|extension|x|durchwahl|poste|anexo|int)\.?[ \t]*+\d{1,6}[ \t]*+\)"
    r"|(?i:ext|extn|extension|x|poste|anexo)\.?[ \t]*+\d{1,6}\b)"
)


def _valid(value: str, region: str | None) -> bool:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_number(number))


# ---- STREET_ADDRESS ---------------------------------------------------------------------------
#: Street words of other languages, as a word of their own (``utca``, ``rue``) ...
_STREET_WORDS = (
    r"rue|avenue|av\.|bd|boulevard|allée|chemin|impasse|place|quai|cours|route|via|viale|corso|piazza|piazzale"
    r"|vicolo|largo|calle|avenida|avda\.|paseo|plaza|camino|carrera|rua|travessa|estrada|praça|largo|alameda"
    r"|ulica|ul\.|al\.|aleja|plac|osiedle|os\.|utca|út|útja|tér|körút|köz|sor|ulice|náměstí|nám\.|třída"
    r"|cesta|trg|ulica|gatan|vägen|gränd|torget|gata|gate|veien|vei|vej|gade|allé|plads|stræde|katu|tie"
    r"|kuja|polku|tänav|maantee|puiestee|sokak|sokağı|caddesi|cad\.|sk\.|bulvarı|mahallesi|straße|strasse"
    r"|str\.|gasse|weg|platz|ring|damm|ufer|chaussee|straat|laan|plein|gracht|steeg|dreef|kade|singel|dijk"
    r"|vegur|gata|stræti|ul|вул\.|ул\.|улица|вулиця|пр\.|проспект|пер\.|переулок|провулок|οδός|λεωφ\."
    r"|mnt\.?|pst\.?|tn\.?|põik|väljak|cerrada|calzada|privada|andador|callejón|circuito|prolongación|rúa|carrer"
    r"|ronda|travesía|glorieta|cadde|cd\.|sok\.|bulvar|mah\.|meydanı|rodovia|viela|beco|nábřeží|аллея|шоссе"
    r"|бульвар|бул\.|наб\.|набережная|набережна|площадь|площа|пл\.|тупик|проезд|просп\.|пров\.|бульв\.|шосе"
    r"|οδος|πλατεία|λεωφόρος|rakpart|krt\.|ctra\.|crta\.|carretera|etorbidea|kalea|terrasse"
)
#: ... or the end of one word (``Hauptstraße``, ``Drottninggatan``, ``Mannerheimintie``).
_STREET_ENDINGS = (
    r"straße|strasse|str\.|gasse|weg|allee|platz|ring|damm|ufer|straat|laan|plein|gracht|steeg|dreef|kade"
    r"|singel|dijk|gatan|vägen|gränd|torget|gata|gate|veien|vei|vej|gade|plads|stræde|katu|tie|kuja|polku"
    r"|tänav|utca|útja|körút|ulice|vegur|stræti"
)
#: English words that end in a street ending (``-ring``, ``-weg`` ...) and may stand before a number.
_ENGLISH_NOT_STREET = frozenset(STOP_WORDS) | frozenset(
    "spring string bring offering gathering string bearing hearing wiring tiring".split()  # noqa: SIM905
)
_ENDS_LIKE_STREET = re.compile(rf"{_L}(?:{_STREET_ENDINGS})$", re.IGNORECASE)
#: a capitalised word, hyphenated once at most (``Смоленская-Сенная``), or ``3.`` in a name
_CAP = rf"(?:[A-ZÀ-ÖØ-ÞĀ-ſА-ЯЁЄІЇҐΑ-Ω]{_L}*+(?:-{_L}+)?(?!\.)|\d{{1,3}}\.)"
#: A Russian street's ordinal (``2-Я``, ``1-й``): part of its name, before the house number.
_ORDINAL = r"\d{1,2}-(?i:я|й|ая|ий|ой|го|е|ья)"
_NAME_PART = rf"(?:{_CAP}|{_ORDINAL}|(?:de|del|della|di|da|do|dos|das|du|des|la|le|van|von|der|den|het|y|i)\b|{_L}+\.)"
_HOUSE = r"\d{1,5}[a-zA-Z]?(?:[/-]\d{1,5}[a-zA-Z]?)?"
# Blank runs are possessive (``[ \t]++``): what follows each never starts with a blank, so giving
# blanks back could never make a match, only cost time (quadratic on a run of blanks).
_STREET_WORD_RX = re.compile(
    rf"(?<![\w.-])(?:(?P<num1>{_HOUSE}),?[ \t]++)?"
    rf"(?:(?i:{_STREET_WORDS})[ \t]++(?:{_NAME_PART}[ \t]++){{0,3}}{_NAME_PART}"
    rf"|(?:{_NAME_PART}[ \t]++){{0,3}}(?i:{_STREET_WORDS})(?:\b|(?<=\.))"
    rf"|(?:{_NAME_PART}[ \t-]++){{0,2}}(?<!{_L}){_L}{{2,}}(?i:{_STREET_ENDINGS})\b)"
    rf"(?:,?[ \t]++(?:(?i:nr|no|n[º°]|číslo)\.?:?[ \t]*+)?(?P<num2>{_HOUSE})\b)?",
)
#: A street word, one to four words in any casing, then a house number (checked in ``find``).
_STREET_WORD_ANY_CASE = re.compile(
    rf"(?<![\w.#-])(?:#?\d{{1,5}}[a-zA-Z]?,?[ \t]++)?(?i:{_STREET_WORDS})[ \t]++"
    rf"(?P<words>(?:{_L}[\w'’.-]*+[ \t]++){{0,3}}{_L}[\w'’-]*+),?[ \t]++"
    rf"{_HOUSE}(?![\w-]|[.,]\d|[ \t]++(?i:times|days?|weeks?|months?|years?|hours?|minutes?|items?|people|euros?"
    r"|dollars?|km|miles?|percent|%)\b)"
)
_ADDRESS_CONTEXT = re.compile(
    r"(?:\b(?:address(?:\s+is)?|adres|adresse|dirección|indirizzo|endereço|lives\s+(?:at|on)|living\s+at|located\s+at"
    r"|ship(?:ping)?\s+(?:it\s+)?to|send\s+(?:it\s+)?to|sent\s+to|deliver(?:ed|y)?\s+(?:it\s+)?to|mail\s+(?:it\s+)?to"
    r"|moved\s+to|arrived\s+at|stop\s+at|off\s+at|offices?\s+(?:is|are)\s+(?:located\s+)?at|is\s+at|meet\s+at"
    r"|bill(?:ing)?\s+to|return\s+to|visit\s+us\s+at|find\s+us\s+at)\b[ \t]*+:?[ \t]*+(?:\r?\n[ \t>]*+)?$)",
    re.IGNORECASE,
)
#: In address context: ``Binga Lillhammar 475``, ``890 Leirfallsgata``, ``al. Kępna 345``.
_NAMED_HOUSE = re.compile(
    rf"(?<![\w.-])(?:{_HOUSE},?[ \t]+(?:{_NAME_PART}[ \t]+){{0,3}}{_CAP}"
    rf"|(?:{_L}{{1,4}}\.[ \t]+)?(?:{_NAME_PART}[ \t]+){{0,3}}{_CAP},?[ \t]+{_HOUSE})(?![\w-])"
)


#: A street line right after its label (``address: el rayo 1086``, ``street="Nueva Rinconada 1331"``,
#: ``Line 1:  Zelgmatt 513``, ``I live at 698 Lunnestien``), in any casing: words and a house number.
_LABELLED_STREET = re.compile(
    r"\b(?i:address(?:[ \t]+is)?|adres|adresse|anschrift|dirección|direccion|indirizzo|endereço|street|straße|calle"
    r"|line[ \t]*1|address[ \t]+line(?:[ \t]*1)?|i[ \t]+live[ \t]+at|lives[ \t]+at|living[ \t]+at|door[ \t]+at"
    r"|flat[ \t]+at|moved[ \t]+to|ship[ \t]+to|send[ \t]+(?:it[ \t]+)?to|deliver[ \t]+to)"
    r"[ \t]*+[:=,]?[ \t]*+[\"']?(?:(?i:to|with|as|is|at)[ \t]++)?"
    rf"(?P<v>(?:{_L}[\w'’.-]*+[ \t]++){{1,5}}\d{{1,5}}[a-zA-Z]?(?:[/-]\d{{1,4}}[a-zA-Z]?)?"
    rf"|\d{{1,5}}[a-zA-Z]?[ \t]++(?:{_L}[\w'’.-]*+[ \t]++){{0,4}}{_L}[\w'’.-]*+)"
    r"(?=[ \t]*+(?:[,;\"'\n)]|$|\.(?:\s|$)))"
)
#: US military addresses: ``PSC 4832, Box 4988``, ``Unit 6698 Box 6680``, ``CMR 2834, Box 8827``.
_MILITARY = re.compile(r"\b(?:PSC|CMR|Unit|UNIT)[ \t]++\d{1,5},?[ \t]++(?:Box|BOX)[ \t]++\d{1,5}\b")


class InternationalStreetRecognizer(RuleRecognizer):
    """Street addresses written the European way, and house-number lines in address context."""

    ENTITY = "STREET_ADDRESS"
    TRIGGER = re.compile(r"[^\W\d_]")

    def __init__(self, name: str = "InternationalStreetRecognizer", lexicon: Lexicon | None = None) -> None:
        super().__init__(name=name)
        self.lex = lexicon

    def find(self, text: str) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        if self.lex is not None:
            lex = self.lex
            for m in _STREET_WORD_ANY_CASE.finditer(text):
                words = re.findall(rf"{_L}[\w'’-]*", m.group("words"))
                # ``Trg revolucije 12``, ``via goffredo mameli 149``; not ``via email 2``, ``place an order 3``
                if any(w.lower() in _ENGLISH_NOT_STREET for w in words):
                    continue
                if all(lex.is_common(w.lower()) for w in words):
                    continue
                results.append(self._result(m.start(), m.end(), 0.72, "street word, name in any casing, number"))
        for m in _STREET_WORD_RX.finditer(text):
            start, end = m.span()
            value = m.group()
            if not re.search(r"[A-ZÀ-ÞА-ЯΑ-Ω]|\d", value):
                continue  # ``on the way``: lower-case words without a number are prose
            if not (m.group("num1") or m.group("num2")) and not re.search(
                rf"(?<!{_L}){_L}{{2,}}(?:{_STREET_ENDINGS})\b", value, re.IGNORECASE
            ):
                continue  # a separate street word needs a house number
            if not (m.group("num1") or m.group("num2")) and value[:1].islower():
                continue
            if any(
                w.lower() in _ENGLISH_NOT_STREET and _ENDS_LIKE_STREET.search(w) for w in re.findall(rf"{_L}+", value)
            ):
                continue  # ``During 2020``, ``Spring 2021``: an English word that ends like a street
            if m.group("num1") and m.group("num2"):  # ``890 Leirfallsgata, 7897 ALTA``: a postcode follows
                comma = text.rfind(",", start, m.start("num2"))
                end = comma if comma > 0 else end
            elif not m.group("num1"):  # ``in der Hauptstraße 5``: no particle before the name
                lead = re.match(r"(?:[a-zà-ÿ]+[ \t]+)+(?=[A-ZÀ-ÞА-ЯΑ-Ω])", value)
                if lead:
                    start += lead.end()
            end = self._unit(text, end)
            results.append(self._result(start, end, 0.7 if (m.group("num1") or m.group("num2")) else 0.6, "street"))
        for m in _NAMED_HOUSE.finditer(text):
            start = m.start()
            line_start = max(text.rfind("\n", max(0, start - 200), start) + 1, start - 200, 0)
            context = _ADDRESS_CONTEXT.search(text, max(0, start - 60), start)
            next_line = text[m.end() : m.end() + 60]
            before_code = bool(
                re.match(
                    r"[ \t]*(?:,[ \t]*|\r?\n[ \t>?*-]*)(?:[A-Z]{1,2}-)?"
                    r"(?:\d{3,6}|\d{3} \d{2}|\d{2}-\d{3}|\d{4} ?[A-Z]{2}|[A-Z]{1,2}\d)\b",
                    next_line,
                )
            )
            if not (context or before_code) or (not context and start - line_start > 40):
                continue
            value = m.group()
            if re.match(
                r"\d+[ \t]+(?:years?|days?|months?|weeks?|hours?|minutes?|items?|times?|people)\b", value, re.I
            ):
                continue
            results.append(self._result(start, self._unit(text, m.end()), 0.65, "house number in an address"))
        for m in _LABELLED_STREET.finditer(text):
            v = m.group("v")
            cut = _SENTENCE_END.search(v)
            if cut:  # ``at 763 Skuggagil. Nobody answered``: the street ends with its sentence
                v = v[: cut.start()]
            if re.match(r"\d+[ \t]+(?:years?|days?|months?|weeks?|hours?|minutes?|items?|times?|people)\b", v, re.I):
                continue
            if not re.search(rf"{_L}{{2}}", v):
                continue
            start = m.start("v")
            end = start + len(v)
            results.append(self._result(start, self._unit(text, end), 0.65, "street after its label"))
        for m in _MILITARY.finditer(text):
            results.append(self._result(m.start(), m.end(), 0.8, "military address"))
        return _best_non_overlapping(results)

    @staticmethod
    def _unit(text: str, end: int) -> int:
        return with_units(text, end)


# ---- PERSON: structure ------------------------------------------------------------------------
_NAME_WORD = rf"[A-ZÀ-ÖØ-ÞĀ-ſА-ЯЁЄІЇҐΑ-ΩΆ-Ώ]{_L}+(?:['’-]{_L}+)?"
_REPORTING = re.compile(
    r"\b(?:said|says|shouted|yelled|whispered|asked|replied|answered|told|cried|called|screamed|wrote|texted|emailed"
    r"|thanked|greeted|hugged|kissed|married|introduced|starring|featuring|directed\s+by|written\s+by|founded\s+by"
    r"|played\s+by)"
    rf"(?:[ \t]+(?:at|to|on|for))?[ \t]+(?P<v>{_NAME_WORD}(?:[ \t]{_NAME_WORD})?)",
)
_REPORTED = re.compile(
    rf"(?:^|(?<=[.!?\n\"“”]))[ \t]*(?P<v>{_NAME_WORD}(?:[ \t]{_NAME_WORD})?)[ \t]+(?:said|says|shouted|yelled|whispered"
    r"|asked|replied|answered|cried|screamed|began|listed|flew|laughed|smiled|nodded|sighed)\b",
    re.MULTILINE,
)
#: ``said Anna to Bea``: the person spoken to, after a reporting verb and its speaker.
_REPORTED_TO = re.compile(
    r"\b(?:said|says|shouted|yelled|whispered|cried|screamed|wrote|explained|replied|answered|complained)"
    rf"[ \t]+{_NAME_WORD}[ \t]+(?:to|at)[ \t]+(?P<v>{_NAME_WORD}(?:[ \t]{_NAME_WORD})?)"
)
#: ``Anna is from Tartu``: a sentence that starts with a person and where they come from.
_IS_FROM = re.compile(
    rf"(?:^|(?<=[.!?\n]))[ \t]*(?P<v>{_NAME_WORD}(?:[ \t]{_NAME_WORD})?)[ \t]+(?:is|was|comes|came)[ \t]+"
    r"(?:originally[ \t]+)?from\b",
    re.MULTILINE,
)
_TITLES_INTL = re.compile(
    r"(?<![\w.])(?i:mevr|mevrouw|dhr|mej|heer|fru|frk|herr|frau|pan|pani|sig|sig\.ra|sra|srta|dña|mme|mlle"
    r"|gospodin|gospođa|bayan|г-н|г-жа|κα|signore|signora|signor|signorina|senhor|senhora|senhorita|señor|señora"
    r"|señorita|monsieur|madame|mademoiselle|doña|dona|heer|mevrouw|herra|rouva|hr|bayanı|pane|paní)\.?[ \t]+"
    rf"(?P<v>{_NAME_WORD}(?:[ \t]{_NAME_WORD})?)",
)
#: ``gave Anna his ...``, ``had given Sales her address``: the person after a verb of giving,
#: before the thing given.
_RECIPIENT = re.compile(
    r"\b(?:gave|given|give|gives|giving|sent|send|sends|showed|shown|show|offered|offer|handed|hand|paid|pay"
    r"|lent|lend|owe|owes|owed|promised|promise|bought|buy|brought|bring|told|tell|asked|ask|wished|wish)"
    rf"[ \t]+(?P<v>{_NAME_WORD}(?:[ \t]{_NAME_WORD})?)[ \t]+(?:his|her|their|my|your|our|its)\b",
)
#: A list of capitalised words (``Anna, Olek, Bea and Tom``): a list of names when at least two of
#: its items are known given names; then every name-like item is one.
_NAME_LIST = re.compile(
    rf"(?<![\w-]){_NAME_WORD}(?:[ \t]++{_NAME_WORD})?"
    rf"(?:[ \t]*+,[ \t]*+{_NAME_WORD}(?:[ \t]++{_NAME_WORD})?){{1,12}}"
    rf"(?:,?[ \t]++(?:and|&|or|und|et|y|e|i|og|och|ja|és|a)[ \t]++{_NAME_WORD}(?:[ \t]++{_NAME_WORD})?)?"
)
#: Right before a list: the list is one of people (``our 3 founders:``, ``They had 6:``,
#: ``starring``, ``the children``).
_PEOPLE_BEFORE_LIST = re.compile(
    r"(?:\b(?:founders?|co-?founders|children|kids|sons|daughters|members|guests|friends|siblings|brothers|sisters"
    r"|participants|authors|winners|players|employees|colleagues|students|people|names|partners|owners|starring"
    r"|featuring|invited|met|named|cast|team|staff|attendees|speakers|parents|grandchildren|cousins)\b[^\n.!?]{0,12}"
    r"|\b\d{1,2}[ \t]*+)[:,-]?[ \t]*+$",
    re.IGNORECASE,
)
_LIST_ITEM = re.compile(rf"{_NAME_WORD}(?:[ \t]++{_NAME_WORD})?")
_CONJ = r"(?:and|&|or|und|et|y|e|i|og|och|ja|és|a)"
_LIST_JOINER = re.compile(rf"(?<![ \t])(?:[ \t]*+,[ \t]*+(?:{_CONJ}[ \t]++)?|[ \t]++{_CONJ}[ \t]++)")
_MIDDLE_INITIAL = re.compile(rf"(?<![\w.])(?P<v>{_NAME_WORD}[ \t][A-Z][ \t]{_NAME_WORD})\b")


class StructuralNameRecognizer(RuleRecognizer):
    """Names revealed by the structure of a message (see the module doc). A candidate must be no
    common English word (or a known given name)."""

    ENTITY = "PERSON"
    TRIGGER = re.compile(rf"[A-ZÀ-ÖØ-ÞА-ЯΑ-Ω]{_L}")

    def __init__(self, lexicon: Lexicon) -> None:
        super().__init__(name="StructuralNameRecognizer")
        self.lex = lexicon

    def _namelike(self, word: str, strict: bool = True) -> bool:
        low = word.lower()
        if low in NOT_NAME or low in self.lex.stop_words or len(low) < 2:
            return False
        if self.lex.is_any_given(low):
            return True
        return not self.lex.is_common(low) if strict else not self.lex.is_light_common(low)

    def find(self, text: str) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        rules: Sequence[tuple[re.Pattern[str], float, str, bool]] = (
            (_REPORTING, 0.6, "reporting verb", True),
            (_REPORTED, 0.6, "reporting verb", True),
            (_TITLES_INTL, 0.8, "title", False),
            (_MIDDLE_INITIAL, 0.65, "middle initial", True),
            (_RECIPIENT, 0.6, "recipient of a giving verb", True),
            (_REPORTED_TO, 0.6, "reporting verb", True),
            (_IS_FROM, 0.55, "person is from", True),
        )
        for rx, score, rule, strict in rules:
            for m in rx.finditer(text):
                start, end = m.span("v")
                words = m.group("v").split()
                # a second word must be name-like too, or the name is its first word only
                if not self._namelike(words[0], strict):
                    continue
                if rx is _MIDDLE_INITIAL:
                    if not self._namelike(words[2], strict):
                        continue
                elif len(words) > 1 and not self._namelike(words[-1], strict):
                    end = start + len(words[0])
                results.append(self._result(start, end, score, rule))
        results.extend(self._name_lists(text))
        return _best_non_overlapping(results)

    def _name_lists(self, text: str) -> list[RecognizerResult]:
        """Items of a list of names: three or more items, none a country or big city, and either
        more than half of them (at least two) known given names, or none a common word when the
        list is introduced as people (``our 3 founders:``) or holds two known given names."""
        out: list[RecognizerResult] = []
        for m in _NAME_LIST.finditer(text):
            items: list[tuple[int, int, list[str]]] = []
            pos = m.start()
            while pos < m.end():
                item = _LIST_ITEM.match(text, pos, m.end())
                if item is None:
                    break
                items.append((item.start(), item.end(), item.group().split()))
                joiner = _LIST_JOINER.match(text, item.end(), m.end())
                if joiner is None or joiner.end() == item.end():
                    break
                pos = joiner.end()
            if len(items) < 3 or any(is_place(" ".join(words)) for _, _, words in items):
                continue  # a list of places
            known = sum(1 for _, _, words in items if self.lex.is_given(words[0].lower()))
            uncommon = all(
                not self.lex.is_common(w.lower()) or self.lex.is_any_given(w.lower()) for _, _, ws in items for w in ws
            )
            people = _PEOPLE_BEFORE_LIST.search(text, max(0, m.start() - 40), m.start()) is not None
            # most items known given names; or, introduced as people (``our 3 founders:``,
            # ``They had 6:``), items that are no common word
            if not ((known >= 2 and known * 2 > len(items)) or (uncommon and (people or known >= 2))):
                continue
            for start, end, words in items:
                if (self._namelike(words[0], strict=False) and not self.lex.is_common(words[0].lower())) or (
                    self.lex.is_any_given(words[0].lower()) and words[0].lower() not in NOT_NAME
                ):
                    out.append(self._result(start, end, 0.6, "list of names"))
        return out


def international_recognizers(lexicon: Lexicon) -> list[LocalRecognizer]:
    return [
        AddressBlockRecognizer(),
        PostcodeRecognizer(),
        InternationalPhoneRecognizer(name="InternationalPhoneRecognizer"),
        InternationalStreetRecognizer(name="InternationalStreetRecognizer", lexicon=lexicon),
        StructuralNameRecognizer(lexicon),
        UsernameRecognizer(lexicon),
    ]
