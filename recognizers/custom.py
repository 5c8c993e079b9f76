"""Our Python recognizers: where a Presidio pattern is not enough (required context, validation,
span groups, casing). Each is a Presidio ``LocalRecognizer``, so ``explain`` and the analyzer
treat them like Presidio's own.

Every rule names the evidence it used (``explain`` shows the rule name), and none of them keeps
or logs the text it looked at.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from presidio_analyzer import AnalysisExplanation, LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from spacy.lang.en.stop_words import STOP_WORDS
from stdnum import luhn as stdnum_luhn
from stdnum.iso7064 import mod_97_10

from recognizers.geo import STATE_NAMES, WORDLIKE_STATE_CODES, ZIP_STATE_CODES, alternation
from recognizers.names import Lexicon
from recognizers.person import PersonRecognizer

FLAGS = re.IGNORECASE | re.MULTILINE


def _words(text: str) -> list[str]:
    """A word list written as one block of text."""
    return text.split()


#: ``check(text, start, end) -> score or None``: a last look at a candidate (validation, context).
Check = Callable[[str, int, int], float | None]


@dataclass(frozen=True)
class Rule:
    """A regex whose group ``v`` (or the whole match) is the value."""

    name: str
    regex: re.Pattern[str]
    score: float
    #: When set, the value counts only if this matches within ``window`` characters before it.
    context_before: re.Pattern[str] | None = None
    #: ... or this matches within ``window`` characters after it.
    context_after: re.Pattern[str] | None = None
    window: int = 48
    #: A match is dropped when this matches right after it (units, percentages ...).
    not_followed_by: re.Pattern[str] | None = None
    #: A match is dropped when this matches in the ``window`` characters before it.
    not_preceded_by: re.Pattern[str] | None = None
    check: Check | None = None


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, FLAGS)


class RuleRecognizer(LocalRecognizer):  # type: ignore[misc]
    """Runs a list of :class:`Rule` s; overlapping matches of one recognizer keep the best."""

    ENTITY = ""
    RULES: Sequence[Rule] = ()
    #: Cheap pre-filter: the rules cannot match a text this regex does not find.
    TRIGGER: re.Pattern[str] | None = None

    def __init__(self, name: str | None = None) -> None:
        super().__init__(
            supported_entities=[self.ENTITY],
            name=name or self.__class__.__name__,
            supported_language="en",
        )

    def load(self) -> None:
        return None

    def validate(self, value: str) -> bool:
        return True

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if self.TRIGGER is not None and not self.TRIGGER.search(text):
            return []
        return self.find(text)

    def find(self, text: str) -> list[RecognizerResult]:
        """The findings of a text ``TRIGGER`` let through: the ``RULES``, or a subclass's own."""
        results: list[RecognizerResult] = []
        for rule in self.RULES:
            for m in rule.regex.finditer(text):
                group = "v" if "v" in rule.regex.groupindex else 0
                start, end = m.span(group)
                if start < 0 or start == end or not self.validate(m.group(group)):
                    continue
                if rule.not_followed_by and rule.not_followed_by.match(text, m.end()):
                    continue
                before = text[max(0, start - rule.window) : start]
                if rule.not_preceded_by and rule.not_preceded_by.search(before):
                    continue
                if rule.context_before or rule.context_after:
                    after = text[end : end + rule.window]
                    ok = bool(rule.context_before and rule.context_before.search(before)) or bool(
                        rule.context_after and rule.context_after.search(after)
                    )
                    if not ok:
                        continue
                score = rule.score
                if rule.check is not None:
                    checked = rule.check(text, start, end)
                    if checked is None:
                        continue
                    score = checked
                results.append(self._result(start, end, score, rule.name))
        return _best_non_overlapping(results)

    def _result(self, start: int, end: int, score: float, rule: str) -> RecognizerResult:
        explanation = AnalysisExplanation(
            recognizer=self.name, original_score=score, pattern_name=rule, textual_explanation=f"rule {rule}"
        )
        return RecognizerResult(
            entity_type=self.ENTITY,
            start=start,
            end=end,
            score=score,
            analysis_explanation=explanation,
            recognition_metadata={
                RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
            },
        )


def _best_non_overlapping(results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Best first; a result that shares a character with one kept before it is dropped. (A map of
    the characters taken, not a comparison with every kept result: a text with thousands of
    candidates stays linear.) Results are never empty spans."""
    results.sort(key=lambda r: (-r.score, -(r.end - r.start), r.start))
    taken = bytearray(max((r.end for r in results), default=0))
    kept: list[RecognizerResult] = []
    for r in results:
        if taken.find(1, r.start, r.end) < 0:
            taken[r.start : r.end] = b"\x01" * (r.end - r.start)
            kept.append(r)
    return sorted(kept, key=lambda r: r.start)


# ---- US ZIP codes -----------------------------------------------------------------------------
_ZIP_CONTEXT = _rx(
    r"\b(?:zip|zipcode|zip\s*code|postal(?:\s*code)?|post\s*code|postcode|zip/postal(?:\s*code)?"
    r"|(?:live|living|located|based|reside|residing|moved|moving)\s+(?:in|to|at)"
    r"|deliver(?:y|ing|ed)?\s+(?:to|in)|ship(?:ping|ped)?\s+(?:it\s+)?to|area|zone|region|county|neighbou?rhood"
    r"|send\s+(?:it\s+)?to|address)\b[^0-9\n]{0,12}$"
)
#: ``pre``: a comma or line break, then blanks. A start inside a run of blanks is never the leftmost
#: match (the blank before it matches too), so the look-behind skips it: a run of blanks is
#: scanned once, not once from each of its positions.
_ZIP_AFTER_STATE = re.compile(
    rf"(?P<pre>(?:[,\n]|(?<![ \t]))[ \t]*+)\b(?P<state>{alternation(ZIP_STATE_CODES)}|{alternation(STATE_NAMES)})"
    r"\.?,?[ \t]{1,3}(?P<v>\d{5}(?:-\d{4})?)(?![\w-])",
    re.IGNORECASE,
)


class ZipCodeRecognizer(RuleRecognizer):
    """US ZIP codes (5 and 5+4) where context says so: a zip/postal word or a place phrase nearby
    (``I live in``, ``deliver to``), or after a state (``Springfield, IL 62704``, ``dallas, tx
    75201``). Order numbers, prices and years are left alone."""

    ENTITY = "US_ZIP_CODE"
    TRIGGER = re.compile(r"\d{5}")
    RULES = (
        Rule(
            "zip with context",
            _rx(r"(?<![\w$#.,-])(?P<v>\d{5}(?:-\d{4})?)(?![\w-]|[.,]\d)"),
            0.85,
            context_before=_ZIP_CONTEXT,
            window=40,
        ),
        Rule("zip+4", _rx(r"(?<![\w$#.-])(?P<v>\d{5}-\d{4})(?![\w-])"), 0.5),
    )

    def find(self, text: str) -> list[RecognizerResult]:
        results = super().find(text)
        for m in _ZIP_AFTER_STATE.finditer(text):
            state = m.group("state")
            # ``call me in 30 minutes`` is no address; ``dallas, tx 75201`` and an address
            # block's last line are
            wordlike = state.islower() and state in WORDLIKE_STATE_CODES and "," not in m.group("pre")
            if wordlike and "\n" not in text[max(0, m.start() - 60) : m.start("state")]:
                continue
            results.append(self._result(m.start("v"), m.end("v"), 0.8, "zip after state"))
        return _best_non_overlapping(results)


# ---- AGE --------------------------------------------------------------------------------------
#: Matched right after a value (which never ends in a blank): the look-behind keeps a run of blanks
#: from being scanned again from each of its positions when searched.
_UNITS_AFTER = _rx(
    r"(?<![ \t])[ \t]*+"
    r"(?:%|percent|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|dollars|bucks|usd|eur|feet|ft|am\b|pm\b"
    r"|inch(?:es)?|lbs?|pounds|kgs?|miles?|km|:\d|\.\d|,\d{3}|/\d|x\b|st\b|nd\b|rd\b|th\b|items?|orders?|tickets?"
    r"|times|k\b|people|of\b|steps?|seconds?|secs?|calls?|emails?|stars?|cm\b|mm\b|gb\b|mb\b|in\s+line|on\s+hold"
    r"|late|early|away|behind|short|over|off|more|less|min|max)"
)


_PERSON_NOUNS = frozenset(
    _words(
        """
        patient man woman boy girl child kid son daughter mother father mom mum dad wife husband brother sister
        grandmother grandfather grandma grandpa nurse doctor teacher driver victim suspect resident student
        customer client worker engineer officer partner friend neighbour neighbor two three four
        """
    )
)
_NOT_NAME_BEFORE_AGE = frozenset(
    _words(
        """
        january february march april may june july august september october november december monday tuesday
        wednesday thursday friday saturday sunday jan feb mar apr jun jul aug sep sept oct nov dec version
        room rooms page pages step steps item items size sizes chapter level
        """
    )
)


_WORD_BEFORE_COMMA = re.compile(r"(?<![^\W\d_])([^\W\d_]+)[ \t]*+,[ \t]*+$")


def _apposition_age(text: str, start: int) -> float | None:
    """``Kim, 44, ...`` or ``the patient, 73, ...``: the word before the number is a capitalised
    name-like word or a word for a person."""
    word = _WORD_BEFORE_COMMA.search(text, max(0, start - 40), start)
    if word is None:
        return None
    w = word.group(1)
    if w.lower() in _PERSON_NOUNS:
        return 0.75
    if w[0].isupper() and w.lower() not in _NOT_NAME_BEFORE_AGE:
        return 0.65
    return None


_TWO_WORDS_BEFORE_BRACKET = re.compile(r"(?<![\w'’-])([^\W\d_][\w'’-]*+)[ \t]++([^\W\d_][\w'’-]*+)[ \t]*+\($")


def _bracket_age(text: str, start: int) -> float | None:
    """``Guve Norman (34) of Forserum``: a name of two capitalised words (or a word for a person)
    right before a bracketed number."""
    m = _TWO_WORDS_BEFORE_BRACKET.search(text, max(0, start - 60), start)
    if m is None:
        return None
    first, last = m.group(1), m.group(2)
    if last.lower() in _PERSON_NOUNS:
        return 0.7
    if first[0].isupper() and last[0].isupper() and not {first.lower(), last.lower()} & _NOT_NAME_BEFORE_AGE:
        return 0.65
    return None


class AgeRecognizer(RuleRecognizer):
    """A person's age: ``34 years old``, ``34-year-old``, ``34 y/o``, ``I'm 34``, ``aged 34``,
    ``turned 34``, ``age: 34``, ``Age (years) = 34``, ``how old are you? 34``, ``my son is 7``.
    The span is the number."""

    ENTITY = "AGE"
    TRIGGER = re.compile(r"\d")
    RULES = (
        Rule("n years old", _rx(r"\b(?P<v>\d{1,3})\s*+-?\s*+(?:years?|yrs?|yr)\s*+-?\s*+old\b"), 0.9),
        Rule("n years of age", _rx(r"\b(?P<v>\d{1,3})\s+(?:years?|yrs?)\s+of\s+age\b"), 0.9),
        Rule("n y/o", _rx(r"\b(?P<v>\d{1,3})\s*(?:y/o|yo|y\.o\.?|yrs?\.?\s*old|yob)(?!\w)"), 0.85),
        Rule(
            "age field",
            _rx(
                r"\b(?:age|aged|your\s+age|ages?\s*\(\s*(?:years?|yrs)\s*\))[\"']?\s*+(?:[:=\-–]|is|was|of)?\s*+[\"']?"
                r"(?P<v>\d{1,3})\b"
            ),
            0.85,
            not_followed_by=_UNITS_AFTER,
        ),
        Rule(
            "turned n",
            _rx(
                r"\b(?:turned|turning|turn|turns|just\s+turned|will\s+be|gonna\s+be|going\s+to\s+be)\s+(?P<v>\d{1,3})\b"
            ),
            0.75,
            not_followed_by=_UNITS_AFTER,
        ),
        Rule(
            "i am n",
            _rx(
                r"\b(?:i\s+am|i'?m|i’m|im|he'?s|she'?s|he\s+is|she\s+is|who\s+is|is\s+now|we\s+are|we'?re|they\s+are"
                r"|they'?re)\s+(?:only\s+|just\s+|both\s+|now\s+)?(?P<v>\d{1,3})\b"
            ),
            0.75,
            not_followed_by=_UNITS_AFTER,
        ),
        Rule(
            "relative is n",
            _rx(
                r"\b(?:son|daughter|kid|child|baby|boy|girl|mom|mum|mother|dad|father|wife|husband|brother|sister"
                r"|grandson|granddaughter|grandma|grandpa|grandmother|grandfather|partner|nephew|niece)\s+(?:is|was)"
                r"\s+(?:only\s+|just\s+)?(?P<v>\d{1,3})\b"
            ),
            0.8,
            not_followed_by=_UNITS_AFTER,
        ),
        Rule(
            "name, age",
            _rx(
                r"\b(?:i\s+am|i'?m|i’m|im|this\s+is|it'?s|name\s+is)\s+[^\W\d_]+(?:\s+[^\W\d_]+)?\s*+[,(-]\s*+(?P<v>\d{1,2})(?:\s*+[,)/;]|\s++(?:years|yrs|y/o|yo|from|and|zip|m\b|f\b|male|female))"
            ),
            0.75,
        ),
        Rule(
            "when i was n",
            _rx(r"\bwhen\s+(?:i|he|she|we|they|you)\s+(?:was|were)\s+(?:only\s+|just\s+)?(?P<v>\d{1,2})\b"),
            0.75,
            not_followed_by=_UNITS_AFTER,
        ),
        Rule(
            "age in decades",
            _rx(r"\bin\s+(?:his|her|their|my|your|our)\s+(?:early\s+|mid\s*-?\s*|late\s+)?(?P<v>[1-9]0'?s)\b"),
            0.7,
        ),
        Rule("nth birthday", _rx(r"\b(?P<v>\d{1,3}(?:st|nd|rd|th))\s+birthday\b"), 0.8),
        Rule(
            "aged between",
            _rx(r"\baged?\s+(?:between\s+|from\s+)?(?P<v>\d{1,3}\s*+(?:-|–|to|and)\s*+\d{1,3})\b"),
            0.8,
            not_followed_by=_UNITS_AFTER,
        ),
        Rule(
            # ``The patient, 73, was ...``, ``Kim, 44, a teacher``: a number between commas after a
            # word, before a word, in a person's apposition
            "apposition age",
            re.compile(
                r"(?<=[^\W\d_])[ \t]*+,[ \t]*+(?P<v>[1-9]\d)[ \t]*+,[ \t]*+"
                r"(?=(?:a|an|the|who|was|is|has|had|from|of|and|lives|living|said|says|told|works|died|born|said)\b)"
            ),
            0.7,
            check=lambda text, start, end: _apposition_age(text, start),
        ),
        Rule(
            # ``Guve Norman (34) of Forserum was named``: a newspaper's age after a name
            "age in brackets after a name",
            re.compile(
                r"(?<=[^\W\d_])[ \t]*+\((?P<v>[1-9]\d?)\)"
                r"(?=[ \t]*+(?:[,;.]|$|(?:of|from|and|who|was|is|has|had|said|says|lives|died|in|won|wins)\b))"
            ),
            0.65,
            check=lambda text, start, end: _bracket_age(text, start),
        ),
        Rule(
            "how old answer",
            _rx(r"\bhow\s+old\s+are\s+you\s*+\??\s*+(?:a\s*+:\s*+)?(?:i'?m\s++)?(?P<v>\d{1,3})\b"),
            0.85,
            not_followed_by=_UNITS_AFTER,
        ),
    )

    def validate(self, value: str) -> bool:
        """Every number in the value (``34``, ``40s``, ``50th``, ``30 and 40``) is a human age."""
        numbers = re.findall(r"\d+", value)
        return bool(numbers) and all(0 < int(n) < 120 for n in numbers)


# ---- INCOME -----------------------------------------------------------------------------------
_MONEY = (
    r"(?:(?:US\$|\$|USD\s?|EUR\s?|GBP\s?|€|£)\s?\d[\d,]*(?:\.\d{1,2})?(?:\s?(?:k|K|thousand|million|mil|m|grand)\b)?"
    r"|\b\d[\d,]{0,30}+(?:\.\d+)?\s?(?:k|K)\b"
    r"|\b\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?(?:\s?(?:dollars|usd|euros?|eur|pounds))?"
    r"|\b\d+(?:\.\d+)?\s?(?:thousand|grand)\b"
    r"|\b\d{4,7}(?:\.\d{2})?\s?(?:dollars|usd|euros?|eur|pounds)\b)"
)
_INCOME_WORDS = (
    r"salary|salaries|income|incomes|earn|earns|earned|earning|earnings|make|makes|making|made|wage|wages"
    r"|compensation|comp|gross|net|annual|annually|yearly|take[\s-]*home|get\s+paid|pay\s+is|paid\s+about|my\s+pay"
    r"|paycheck|pension|revenue|stipend|allowance"
)
_INCOME_CONTEXT = _rx(rf"\b(?:{_INCOME_WORDS})\b")
_INCOME_AFTER = _rx(
    r"^[ \t]*+[/(-]?[ \t]*+(?:a|per|each|an?|every)?[ \t]*+(?:year|yr|annum|annually|salary|income|hour|hr)\b"
    r"|^[ \t]*+(?:in[ \t]+)?(?:salary|income|annually|yearly|combined|household|gross|net)\b"
    r"|^[ \t]*+(?:before|after|pre|post)[ \t-]*+tax"
)
#: A bare number right after an income key (``income=85000``, ``salary: 85000``).
_INCOME_FIELD = _rx(
    rf"\b(?:{_INCOME_WORDS})(?:\s*+\([^)\n]{{0,15}}\))?[\"']?\s*+(?:[:=\-–?]|is|was|of|about|around|approx\.?|roughly|~)?"
    r"\s*+(?:is\s++|was\s++|about\s++|around\s++|roughly\s++|approximately\s++)?[\"']?"
    r"(?P<v>(?:US\$|\$|USD\s?|EUR\s?|€|£)?\s?(?:\d{1,3}(?:,\d{3})+(?:\.\d{2})?|\d{4,7}(?:\.\d{2})?)"
    r"(?:\s?(?:dollars|usd|euros?|eur|pounds|gbp))?)\b"
)


class IncomeRecognizer(RuleRecognizer):
    """Money amounts with income context (salary, income, earn, make ... a year, before tax). A
    price without that context is not an income."""

    ENTITY = "INCOME"
    TRIGGER = re.compile(r"\d")
    RULES = (
        Rule("income field", _INCOME_FIELD, 0.85),
        Rule(
            "money with income context",
            re.compile(rf"(?P<v>{_MONEY})", FLAGS),
            0.8,
            context_before=_INCOME_CONTEXT,
            context_after=_INCOME_AFTER,
            window=40,
        ),
        Rule(
            "number before income words",
            _rx(r"(?<![\w$.,-])(?P<v>\d{4,7}|\d{1,3}(?:,\d{3})+)(?![\w,.-])"),
            0.75,
            context_after=_INCOME_AFTER,
            window=30,
        ),
    )


# ---- STREET_ADDRESS ---------------------------------------------------------------------------
#: USPS Publication 28 street suffixes (names and standard abbreviations) and the road types of
#: the Australian / UK standards.
_SUFFIXES = _words(
    """
    alley aly allee anex arcade arc avenue ave av bayou bay beach bch bend bnd bluff bluffs blf bottom boulevard
    blvd branch br bridge brg brook brooks burg burgs bypass byp camp canyon cyn cape causeway cswy center
    centre centers ctr circle circles cir cliff cliffs club common commons corner corners course court courts ct
    cove coves creek crk crescent cres crest crossing xing crossroad curve dale dam divide drive drives dr
    estate estates expressway expy extension extensions ext fall falls ferry field fields flat flats ford fords
    forest forge forges fork forks fort freeway fwy garden gardens gdns gateway glen glens green greens grove
    groves gr harbor harbors harbour haven heights hts highway hwy hill hills hollow inlet island islands isle
    junction junctions jct key keys knoll knolls lake lakes land landing lane ln light lights loaf lock locks
    lodge loop mall manor manors meadow meadows mews mill mills mission motorway mount mountain mountains mtn
    neck orchard oval overpass park parks parkway parkways pkwy pass passage path pike pine pines place pl plain
    plains plaza plz point points port ports prairie radial ramp ranch rapid rapids rest ridge ridges river road
    roads rd route rte row rue run shoal shoals shore shores skyway spring springs spur spurs square squares sq
    station stravenue stream street streets st summit terrace ter throughway trace track trafficway trail trl
    trailer tunnel turnpike tpke underpass union unions valley valleys viaduct view views village villages ville
    vista walk walks wall way ways well wells wharf wynd accessway amble approach boardwalk brae break brow
    circuit circus close concourse corso courtyard cul-de-sac distributor driveway esplanade fairway frontage
    gate glade grange laneway link lookout meander nook outlook parade pathway promenade quadrant quays retreat
    rise riviera rotary strand subway tollway vale walkway access alleyway anchorage broadway byway centreway
    chase circlet colonnade copse cross crossway cruiseway deviation entrance footway foreshore front gates
    highroad interchange intersection lees mew parklands piazza plateau quad quadrangle quay ridgeway riverway
    roadway siding slope terraces towers trunkway villas yard top edge turn range
    """
)
_STREET_SUFFIX = "(?:" + "|".join(sorted(set(_SUFFIXES), key=len, reverse=True)) + ")"
_UNIT_WORD = (
    r"(?:(?:apt|apartment|suite|ste|unit|fl|floor|level|lvl|room|rm|bldg|building|flat|studio|lot|space|spc|dept)\b|#)"
)
_UNIT = rf"{_UNIT_WORD}\.?[ \t]*+#?[ \t]*+(?=[a-z]?\d|[a-z]\b)[a-z0-9][a-z0-9-]{{0,5}}\b"
_UNIT_PREFIX = (
    r"(?:(?:flat|unit|apt|apartment|studio|suite|ste|level|lvl)\b\.?\s*+#?\s*+(?=[a-z]?\d|[a-z]\b)[a-z0-9-]{1,5},?\s+)"
)
_NAME_WORD = (
    r"(?!(?:and|or|the|a|an|in|on|at|to|for|of|from|with|is|was|are|my|your|our|it|i|we|you|he|she|they|but|so"
    r"|by|as|if|me)\b)[^\W\d_][\w'.-]*"
)
_ORDINAL = r"\d{1,3}(?:st|nd|rd|th)"
_DIRECTION = r"(?:[nsew]\.?|ne|nw|se|sw|north|south|east|west)"
#: The first form starts at the start of a word: from inside a run of letters it can only match
#: where the run's start matches too (leftmost wins), and without the look-behind every letter of
#: a long run would rescan the run to its end (quadratic in the run's length).
_NON_US = (
    r"(?:(?<![^\W\d_])[^\W\d_]+(?:stra(?:ß|ss)e|str\.|weg|allee|gasse|platz|ring|damm|laan|straat|gracht|plein|gatan|vägen|gränd"
    r"|vej|veien|gata|katu|tie|utca|ulica)\s+\d{1,5}[a-z]?(?:[/-]\d{1,5}[a-z]?)?"
    r"|(?:via|viale|corso|piazza|rue|avenue|boulevard|calle|avenida|paseo|plaza|rua|travessa|estrada|plac|ulica|ul\.)"
    r"\s+(?:[^\W\d_][\w'.-]*\s+){1,4}\d{1,5}[a-z]?\b"
    r"|\d{1,5}[a-z]?,?\s+(?:rue|avenue|boulevard|allée|chemin|impasse|place|via|calle)\s+(?:[^\W\d_][\w'.-]*\s*){1,4})"
)


#: English words that end like a street of another language (``During 2020``, ``Spring 2021``).
_ENGLISH_ENDING_LIKE_STREET = frozenset("during spring string bring offering gathering bearing hearing".split())  # noqa: SIM905


def _not_english_word(text: str, start: int) -> float | None:
    word = re.match(r"[^\W\d_]+", text[start : start + 40])
    return None if word and word.group().lower() in _ENGLISH_ENDING_LIKE_STREET else 0.7


class StreetAddressRecognizer(RuleRecognizer):
    """Building number + street name + suffix (``1600 Pennsylvania Avenue NW``, ``7 Sanders
    Courtyard``), with its unit (``Apt. 4B``, ``Suite 210``, ``Flat 3``); unit lines alone; PO
    boxes; common European street forms (``Hauptstraße 5``, ``12 rue de la Paix``)."""

    ENTITY = "STREET_ADDRESS"
    TRIGGER = re.compile(r"\d")
    RULES = (
        Rule(
            "street line",
            _rx(
                rf"(?<![\w$#.,/:-])(?:{_UNIT_PREFIX}(?:\d{{1,6}}[a-z]?(?:[/-]\d{{1,5}}[a-z]?)?,?[ \t]+)?"
                rf"|\d{{1,6}}[a-z]?(?:[/-]\d{{1,5}}[a-z]?)?,?[ \t]+)(?:{_DIRECTION}[ \t]+)?"
                rf"(?:(?:{_ORDINAL}|{_NAME_WORD})[ \t]+){{0,3}}(?:{_ORDINAL}[ \t]+)?{_STREET_SUFFIX}\b\.?"
                rf"(?:[ \t]+{_DIRECTION}\b\.?)?(?:[ \t]*+,?[ \t]*+{_UNIT}(?:[ \t]*+,?[ \t]*+{_UNIT})?)?"
            ),
            0.85,
            check=lambda text, start, end: _street_check(text, start, end),
        ),
        Rule(
            "unit",
            _rx(
                r"(?<![\w-])(?:apt|apartment|suite|ste|unit|flat)\b\s*+\.?\s*+#?\s*+(?=[a-z]?\d|[a-z]\b)[a-z0-9][a-z0-9-]{0,5}\b"
            ),
            0.65,
        ),
        Rule(
            "unit after street",
            _rx(rf"(?<=,)[ \t]*(?P<v>{_UNIT})[ \t]*(?=,)"),
            0.6,
            context_before=_rx(rf"\d{{1,6}}[a-z]?\s+(?:[\w'.-]+\s+){{0,4}}{_STREET_SUFFIX}\b\.?,?[ \t]*$"),
            window=60,
        ),
        Rule("unit line", _rx(rf"^[ \t>?*|-]*+(?P<v>{_UNIT}|#\s?\d{{1,5}}[a-z]?)[ \t]*+,?[ \t]*+$"), 0.8),
        Rule("po box", _rx(r"\bp\.?\s?o\.?\s*box\s+\d{1,6}\b"), 0.85),
        Rule("european street", _rx(_NON_US), 0.7, check=lambda text, start, end: _not_english_word(text, start)),
    )


def _street_check(text: str, start: int, end: int) -> float | None:
    value = text[start:end]
    words = re.findall(r"[^\W\d_]+", value)
    if len(words) < 2 and not re.search(_ORDINAL, value, re.IGNORECASE):
        return None  # ``5 ways`` is no address
    # ``10 days walk``, ``3 times way``: a unit of time or count is no house number
    if re.match(r"\d+\s+(?:days?|weeks?|months?|years?|hours?|minutes?|times?|items?|people|stars?)\b", value, re.I):
        return None
    return 0.85


# ---- PHONE_NUMBER -----------------------------------------------------------------------------
_PHONE_CANDIDATE = re.compile(
    r"(?:(?<![\w+@/.:-])|(?<=[^\W\d_][.:]))(?:\+|00)?\(?\+?\d[\d().\-/ \t]{5,24}\d\)?"
    r"(?:[ \t]*(?:,[ \t]*)?(?:x|ext\.?|extn\.?|extension|ex\.?|#)[ \t]*\d{1,6})?(?![\w@]|-[\d@-]|\.\d|:\d)",
    re.IGNORECASE,
)
#: A label glued to a number (``tel:+44 ...``, ``Tel.0501 ...``, ``T:030 ...``): only a phone
#: word may touch it; ``id:12345678`` or ``v2.4567890`` stays a number.
_GLUED_PHONE_LABEL = re.compile(
    r"(?<![\w.])(?:tel|phone|ph|t|m|mob|mobile|cell|fax|f|p|h|w|o|tlf|tfn|puh|telefon|telephone|telefono|tél|sms"
    r"|whatsapp|office|home|work|direct|desk)[.:]$",
    re.IGNORECASE,
)
#: An IBAN's country and check digits right before a candidate: its digit groups are no phone.
_IBAN_HEAD = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){0,8}[ ]?$")
_PHONE_WORDS = (
    r"phone|tel|telephone|mobile|mob|cell|cellphone|call|calls|calling|text|txt|sms|whatsapp|signal|fax|landline"
    r"|dial|ring|callback|voicemail|telefon|telefono|teléfono|téléphone|telefone|puhelin|tlf|mobil|handy|gsm"
)
_PHONE_CONTEXT = _rx(
    rf"\b(?:{_PHONE_WORDS}|reach|contact|kontakt|line|ph|numbers?|nummer|numero|número|num|no|to)\b\W{{0,4}}(?:\w+\W{{1,3}}){{0,6}}$"
)
_STRONG_PHONE_CONTEXT = _rx(rf"\b(?:{_PHONE_WORDS})\b[^\n]{{0,30}}$")
_NOT_PHONE_CONTEXT = _rx(
    r"\b(?:order|ticket|invoice|inv|ref|reference|tracking|account|acct|id|case|claim|sku|item|serial|confirmation"
    r"|transaction|txn|req|request|po|model|version|build|batch|rows|user_id)\b\W{0,4}(?:(?:no|num|number|#)\W{0,3})?$"
    r"|#\s*$|\$\s*$|\bHTTP/\d(?:\.\d)?\"?\s*$"  # an access log's status and byte count
)
#: Searched in a phone number: a start inside a run of blanks is never the leftmost match (the blank
#: before it matches too), so the look-behind skips it.
_EXT = re.compile(r"(?<![ \t])[ \t]*+(?:,[ \t]*+)?(?:x|ext\.?|extn\.?|extension|ex\.?|#)[ \t]*\d{1,6}$", re.IGNORECASE)
_BLANK_RUN = re.compile(r"[ \t]+")
_DATE_LIKE = re.compile(
    r"^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d{2})"
    r"|\d{1,2}\.[ ]\d{1,2}\.[ ](?:\d{4}|\d{2}))(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$"
)


def _other_number(part: str) -> bool:
    """A number of a shape other recognizers own: SSN, ZIP+4, a card (Luhn), a date, an IPv4."""
    core = part.strip()
    digits = re.sub(r"\D", "", core)
    return bool(
        re.fullmatch(r"\d{3}-\d{2}-\d{4}|\d{5}-\d{4}|\d{1,3}(?:\.\d{1,3}){3}", core)
        or _DATE_LIKE.match(core)
        or (13 <= len(digits) <= 19 and re.fullmatch(r"[\d \-]+", core) and _luhn(digits))
    )


def _luhn(digits: str) -> bool:
    """The Luhn (mod 10) check of a digit string (python-stdnum's)."""
    return bool(digits) and bool(stdnum_luhn.is_valid(digits))


class PhoneNumberRecognizer(RuleRecognizer):
    """Phone numbers in US and international formats, local formats included (``020 7946 0958``,
    ``0611-58 78 81``, ``(091)-9074833``), with their extension (``x204``, ``ext. 12``). A
    number must look like one (a ``+``/``00`` prefix, or groups of digits); a run of bare
    digits needs phone context. Dates, IP addresses, SSNs, ZIP+4, card numbers and numbers after
    ``order`` / ``ticket`` / ``#`` are left to others or alone."""

    ENTITY = "PHONE_NUMBER"

    def find(self, text: str) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        for m in _PHONE_CANDIDATE.finditer(text):
            start, end = m.span()
            if start and text[start - 1] in ".:" and not _GLUED_PHONE_LABEL.search(text, max(0, start - 12), start):
                continue
            if _IBAN_HEAD.search(text, max(0, start - 48), start):
                continue
            value = m.group().rstrip(" \t(/.-")
            end = start + len(value)
            # a closing parenthesis without its opening one belongs to the text, not the number
            if value.endswith(")") and value.count("(") < value.count(")"):
                value = value[:-1]
                end -= 1
            if value.startswith("(") and value.count("(") > value.count(")"):
                value = value[1:]
                start += 1
            scored = self._score(text, start, value)
            if scored is not None:
                results.append(self._result(start, end, scored[0], scored[1]))
            else:
                results.extend(self._parts(text, start, value))
        return results

    def _parts(self, text: str, start: int, value: str) -> list[RecognizerResult]:
        """A candidate that is no phone number as a whole may be two numbers side by side
        (``ssn 536-90-4399 415 555 0134``, a card then a phone): split at a blank where both
        sides are explained (a phone number, or a number of a known other shape: SSN, ZIP+4,
        card, date, IP address) and at least one is a phone number."""
        for cut in list(_BLANK_RUN.finditer(value))[:12]:
            if cut.start() == 0:
                continue
            found: list[RecognizerResult] = []
            explained = True
            for at, part in ((start, value[: cut.start()]), (start + cut.end(), value[cut.end() :])):
                scored = self._score(text, at, part)
                if scored is not None:
                    found.append(self._result(at, at + len(part), scored[0], scored[1]))
                elif not _other_number(part):
                    explained = False
                    break
            if explained and found:
                return found
        return []

    @staticmethod
    def _score(text: str, start: int, value: str) -> tuple[float, str] | None:
        ext = _EXT.search(value)
        number = value[: ext.start()] if ext else value
        digits = re.sub(r"\D", "", number)
        if not 7 <= len(digits) <= 15:
            return None
        core = number.strip()
        if _DATE_LIKE.match(core) or re.fullmatch(r"\d{1,3}(?:\.\d{1,3}){3}", core):
            return None  # a date, an IPv4 address
        if re.fullmatch(r"\d{3}-\d{2}-\d{4}|\d{5}-\d{4}|\d{1,3}(?:,\d{3})+(?:\.\d+)?", core):
            return None  # SSN, ZIP+4, an amount
        if re.fullmatch(r"\d+\.\d+", core):
            return None  # a decimal number
        groups = re.findall(r"\d+", number)
        if 13 <= len(digits) <= 19 and _luhn(digits) and digits[0] in "23456" and not core.startswith(("+", "00")):
            return None  # a card number
        before = text[max(0, start - 40) : start]
        context = bool(_PHONE_CONTEXT.search(before))
        not_phone = _NOT_PHONE_CONTEXT.search(before)
        if not_phone and not _STRONG_PHONE_CONTEXT.search(before, not_phone.start()):
            return None  # ``order #...``, even after ``I'm calling about``
        prefixed = core.startswith(("+", "00")) or core.startswith("(+")
        if len(groups) == 1:
            if prefixed and len(digits) >= 9:
                return 0.6, "international, no separators"
            if context and len(digits) >= 7:
                return 0.75, "digits with phone context"
            if ext is not None and len(digits) >= 10:
                return 0.6, "digits with an extension"
            if re.fullmatch(r"[2-9]\d{2}[2-9]\d{6}|0[1-9]\d{8,9}", digits) and not before.rstrip().endswith(("=", ":")):
                return 0.45, "national number"
            return None
        if max(len(g) for g in groups) > (12 if prefixed else 8) or len(groups) > (8 if prefixed else 6):
            return None
        if len(groups[-1]) < 2:
            return None
        us = re.fullmatch(r"(?:\+?1[ .\-]?)?\(?\d{3}\)?[ .\-]?\d{3}[ .\-]\d{4}", core)
        if context:
            return 0.8, "phone with context"
        if prefixed or us or "(" in core:
            return 0.65, "phone format"
        if len(digits) >= 8:
            return 0.45, "digit groups"
        return None


# ---- EMAIL_ADDRESS inside URLs, query strings and key=value pairs ------------------------------
class EmbeddedEmailRecognizer(RuleRecognizer):
    """E-mail addresses glued to other text (``?email=jo@example.com``, ``<jo@example.com>``,
    ``mailto:jo@example.com``). Presidio's pattern allows ``/ ? = &`` in a local part, so in a URL
    it swallows the path, fails validation and finds nothing: here the local part is what mail
    systems really use."""

    ENTITY = "EMAIL_ADDRESS"
    TRIGGER = re.compile("@")
    RULES = (
        Rule(
            "e-mail (strict local part)",
            re.compile(
                r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
                r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*"
                r"\.[A-Za-z]{2,24}(?![A-Za-z0-9-])"
            ),
            0.9,
        ),
    )


# ---- EMAIL_ADDRESS spelled out ----------------------------------------------------------------
_AT_MARKED = r"[ \t]*+(?:\[at\]|\(at\)|\{at\}|<at>)[ \t]*+"
_DOT_MARKED = r"(?:[ \t]*+(?:\[dot\]|\(dot\)|\{dot\}|<dot>)[ \t]*+|[ \t]++dot[ \t]++)"
_LOCAL = r"[a-z0-9][a-z0-9._%+-]{0,63}"
_LABEL_RX = r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?"
_TLD = r"(?:com|net|org|edu|gov|mil|int|info|biz|io|co|me|app|dev|mail|online|email|[a-z]{2})"
#: The domains of the big mail providers: ``at gmail.com`` after a word is an address, not prose.
_MAIL_PROVIDER = (
    r"(?:gmail|googlemail|yahoo|ymail|hotmail|outlook|live|msn|icloud|aol|gmx|web|proton|protonmail|pm|yandex|mail"
    r"|zoho|fastmail|seznam|wp|o2|libero|orange|free|laposte|t-online|freenet|btinternet|sky|telia|online|abv|centrum"
    r"|inbox|tutanota|email|post)\.(?:com|net|org|de|fr|it|es|nl|be|at|ch|pl|cz|sk|ru|ua|me|se|no|dk|fi|ee|pt|gr|hu"
    r"|ro|bg|hr|is|ie|co\.uk|com\.br|com\.tr|ca|us|eu)"
)
_SPELLED_EMAIL = re.compile(
    # ``anna [at] example.org`` / ``anna (at) example (dot) org``: a marked at, any dots
    rf"(?<![\w.%+-])(?:{_LOCAL}{_AT_MARKED}{_LABEL_RX}(?:(?:{_DOT_MARKED}|\.){_LABEL_RX}){{0,3}}(?:{_DOT_MARKED}|\.){_TLD}"
    # ``jsmith99 at gmail dot com``: a bare at needs spelled dots (``look at example.com`` is prose)
    rf"|{_LOCAL}[ \t]++at[ \t]++{_LABEL_RX}(?:{_DOT_MARKED}{_LABEL_RX}){{0,3}}{_DOT_MARKED}{_TLD}"
    # ``john at gmail.com``: a bare at before a mail provider's own domain
    rf"|{_LOCAL}[ \t]++at[ \t]++{_MAIL_PROVIDER})(?![\w-])",
    re.IGNORECASE,
)


class SpelledEmailRecognizer(RuleRecognizer):
    """E-mail addresses written to dodge scrapers: ``jsmith99 at gmail dot com``,
    ``anna [at] example [dot] org``, ``bob(at)mail(dot)co(dot)uk``. A bare `` at `` needs
    spelled dots (`` dot ``, ``[dot]``) and a top-level domain at the end."""

    ENTITY = "EMAIL_ADDRESS"
    TRIGGER = re.compile(r"(?i)\bat\b")
    RULES = (
        Rule("e-mail spelled out", _SPELLED_EMAIL, 0.8, check=lambda text, start, end: _spelled_local(text, start)),
    )


def _spelled_local(text: str, start: int) -> float | None:
    """``me at gmail.com``, ``met at web.de``: a pronoun, a stop word or a verb of meeting is no
    mailbox name."""
    local = re.match(r"[^\s\[(]+", text[start : start + 80])
    word = local.group().lower() if local else ""
    if word in STOP_WORDS or word in {
        "met",
        "meet",
        "meeting",
        "look",
        "looked",
        "arrived",
        "arrive",
        "work",
        "worked",
    }:
        return None
    return 0.8


# ---- CREDIT_CARD ------------------------------------------------------------------------------
_CARD = re.compile(r"(?<![\w-])(?:\d[ -]?){11,18}\d(?![\w-])")
_CARD_CONTEXT = re.compile(
    r"\b(?:card|cards|cc|credit|debit|visa|mastercard|maestro|amex|jcb|uatp|diners|discover|unionpay|mir|pan)"
    r"\b[^\n\d]{0,24}$",
    re.IGNORECASE,
)


def _iin_fits(digits: str) -> bool:
    """The issuer range (IIN) of the number allows its length: Visa, Mastercard (51-55,
    2221-2720), Amex, Diners, Discover, JCB (3528-3589; 15 digits from 1800 and 2131), UnionPay,
    Mir, Maestro (50, 56-69: 12 to 19 digits) and UATP (1: 15 digits)."""
    n, p2, p4 = len(digits), int(digits[:2]), int(digits[:4])
    if digits[0] == "1":
        return n == 15  # UATP, JCB 1800
    if p4 == 2131:
        return n == 15
    if digits[0] == "4":
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16
    if p2 in (34, 37):
        return n == 15
    if p2 in (36, 38, 39) or 300 <= int(digits[:3]) <= 305:
        return 14 <= n <= 19
    if 3528 <= p4 <= 3589 or 2200 <= p4 <= 2204:
        return 16 <= n <= 19
    if p2 == 50 or 56 <= p2 <= 69:
        return 12 <= n <= 19
    return False


def _card_check(text: str, start: int, end: int) -> float | None:
    """Luhn, and either the old shape (13-19 digits from 2-6) or an issuer range whose length
    fits; a 12-digit number or one of the rarer ranges starting with 1 only after card context."""
    value = text[start:end]
    digits = re.sub(r"\D", "", value)
    if re.search(r"[ -]{2}", value) or not _luhn(digits):
        return None
    common = 13 <= len(digits) <= 19 and digits[0] in "23456"
    if common and (_iin_fits(digits) or len(digits) != 12):
        return 0.9
    if _iin_fits(digits) and _CARD_CONTEXT.search(text, max(0, start - 40), start):
        return 0.85
    return None


#: How card numbers are written: contiguous, in fours (the last group shorter), or 4-6-4/5 (Amex, Diners).
_CARD_LAYOUT = re.compile(r"\d{13,19}|\d{4}(?:([ -])\d{4}){2}\1\d{1,4}(?:\1\d{1,3})?|\d{4}([ -])\d{6}\2\d{4,5}")
_NOT_CARD_BEFORE = re.compile(
    r"(?i:\b(?:tracking|order|invoice|parcel|shipment|reference|ref|ticket|case)\b)[^\n\d]{0,20}$"
)
_IBAN_BEFORE = re.compile(r"(?<![A-Za-z])[A-Za-z]{2}\d{2}[ -]?$")


def _card_in_context(text: str, start: int, end: int) -> float | None:
    """13 to 19 digits laid out as a card number right after card context (``card number is
    4111 1111 1111 1112``) whose checksum fails: a mistyped or made-up card number is still
    written where a card number goes, and fails closed. Luhn-valid numbers are :func:`_card_check`'s."""
    value = text[start:end]
    digits = re.sub(r"\D", "", value)
    if not 13 <= len(digits) <= 19 or _luhn(digits) or not _CARD_LAYOUT.fullmatch(value):
        return None
    if _IBAN_BEFORE.search(text, max(0, start - 6), start) is not None:
        return None  # the rest of an IBAN
    if _NOT_CARD_BEFORE.search(text, max(0, start - 40), start) is not None:
        return None  # ``My card was shipped, tracking 9400111899223197428``
    return 0.7 if _CARD_CONTEXT.search(text, max(0, start - 40), start) else None


class CardNumberRecognizer(RuleRecognizer):
    """Payment card numbers: 12 to 19 digits, plain or in groups, passing the Luhn check (13-19
    digits from 2-6 anywhere; other issuer ranges, 12-digit Maestro and 15-digit numbers from 1
    after card context); and 13-19 digits laid out as a card number right after card context,
    whatever their checksum."""

    ENTITY = "CREDIT_CARD"
    TRIGGER = re.compile(r"\d{4}")
    RULES = (
        Rule("card number (Luhn)", _CARD, 0.9, check=_card_check),
        Rule("card number after card context", _CARD, 0.7, check=_card_in_context),
    )


# ---- IBAN_CODE (any case) --------------------------------------------------------------------
_IBAN_CANDIDATE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ -]?[A-Za-z0-9]{1,4}){3,8}")


def _iban_ok(compact: str) -> bool:
    if not 15 <= len(compact) <= 34 or not compact[:2].isalpha():
        return False
    return bool(mod_97_10.is_valid(compact[4:] + compact[:4]))  # ISO 13616 on the rearranged IBAN


class IbanAnyCaseRecognizer(RuleRecognizer):
    """IBANs typed in lower case (``gb82 west 1234 ...``), which Presidio's patterns (upper case
    only) miss; validated by the ISO 13616 checksum, trailing groups trimmed until it holds."""

    ENTITY = "IBAN_CODE"

    def find(self, text: str) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        for m in _IBAN_CANDIDATE.finditer(text):
            value = m.group()
            while value:
                compact = re.sub(r"[ -]", "", value).upper()
                if _iban_ok(compact):
                    break
                cut = max(value.rfind(" "), value.rfind("-"))
                value = value[:cut] if cut > 4 else ""
            if not value or value.isupper():
                continue  # upper case: Presidio's own recognizer has it
            results.append(self._result(m.start(), m.start() + len(value), 0.9, "iban checksum"))
        return results


# ---- US_DRIVER_LICENSE ------------------------------------------------------------------------
_DL_CONTEXT = _rx(
    r"(?:driver'?s?|drivers|driving)\s*licen[cs]e|\bd\.?l\.?\b|\blicen[cs]e\b|\blic\b|\bdl\s*(?:#|no|number)"
    r"|\bpermit\b"
)
_DL_VALUE = (
    r"(?<![\w-])(?P<v>[a-z]{1,2}\d{4,14}|[a-z]\d{3}[- ]\d{3,4}[- ]\d{2,4}(?:[- ]\d{2,3})?(?:[- ]\d)?"
    r"|\d{3}[ -]\d{3}[ -]\d{3}|\d{6,12}|\d{2}[a-z]{3}\d{5,6}|[a-z]\d{6}r|\d{8}[a-z]{2}|\d{3}[a-z]{2}\d{4}"
    r"|[a-z]{2}\d{6}[a-z]|[a-z]\d[a-z]\d[a-z]|\d{7,8}[a-z]|[a-z]{1,2}\d{2,7}[a-z]{1,2}\d{0,5})(?![\w-])"
)


class DriverLicenseRecognizer(RuleRecognizer):
    """US driver's licence numbers (the state formats), only next to licence context
    (``driver's license``, ``DL#``, ``licence no``); alone they are any order number."""

    ENTITY = "US_DRIVER_LICENSE"
    TRIGGER = _rx(r"licen[cs]e|\bd\.?l\b|\blic\b|permit")
    RULES = (
        Rule(
            "licence number with context",
            _rx(_DL_VALUE),
            0.85,
            context_before=_rx(rf"(?:{_DL_CONTEXT.pattern})[^\n]{{0,30}}$"),
            window=60,
        ),
    )

    def validate(self, value: str) -> bool:
        return sum(c.isdigit() for c in value) >= 4


# ---- DATE_OF_BIRTH ----------------------------------------------------------------------------
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY = r"(?:[0-2]?\d|3[01])(?:st|nd|rd|th)?"
_DATE = (
    r"(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d{2})"
    rf"|{_MONTH}\s+{_DAY},?\s+\d{{4}}|{_DAY}\s+(?:of\s+)?{_MONTH},?\s+\d{{4}}|{_MONTH}\s+\d{{4}}"
    rf"|{_MONTH}\s+{_DAY}|{_DAY}\s+(?:of\s+)?{_MONTH}"
    # ``22-nov-1972``, ``22.Nov.1972``, ``1972-nov-22``; ``14. 03. 1968``
    rf"|{_DAY}[-/. ]{_MONTH}[-/. ]?(?:\d{{4}}|\d{{2}})|\d{{4}}[-/.]{_MONTH}[-/.]{_DAY}"
    r"|\d{1,2}\.[ ]\d{1,2}\.[ ]?\d{2,4})"
)
_BIRTH_BEFORE = _rx(
    r"(?:\bborn|\bbirth|\bd\.?o\.?b\b|\bbirthday|\bb-?day|\bbirthdate|\bdate\s+of\s+birth|\bnacimiento|\bgeboren"
    r"|\byob\b|\bbirth\s*date|geburtsdatum|\bgeb\.|\bnée?\b|date\s+de\s+naissance|data\s+di\s+nascita"
    r"|data\s+de\s+nascimento|fecha\s+de\s+nacimiento|geboortedatum|födelsedatum|fødselsdato|syntymäaika"
    r"|data\s+urodzenia|születési\s+dátum|datum\s+narození)[^\n]{0,28}$"
)
_BIRTH_AFTER = _rx(
    r"^[^\n]{0,6}\b(?:is\s+|was\s+)?(?:my\s+|his\s+|her\s+)?(?:birthday|date\s+of\s+birth|dob|birth\s*date|b-?day)\b"
)


#: A full numeric date (day, month and a four-digit year in either order).
_NUMERIC_DATE = re.compile(
    r"(?<![\w/.:-])(?P<v>(?P<d1>\d{1,2})(?P<s>[-/.])[ ]?(?P<m1>\d{1,2})(?P=s)[ ]?(?P<y1>(?:19|20)\d\d)"
    r"|(?P<y2>(?:19|20)\d\d)-(?P<m2>\d{1,2})-(?P<d2>\d{1,2}))(?![\w/-]|[.:]\d|T\d)"
)
_TIME_AFTER = re.compile(r"(?<![ \t])[ \t]*+(?:at[ \t]++)?\d{1,2}:\d{2}")
#: A date at least this many years back is a birth date far more often than anything else a
#: visitor writes in a chat (orders, deliveries and log times are recent).
LONG_PAST_YEARS = 14


def _long_past(text: str, start: int, end: int) -> float | None:
    m = _NUMERIC_DATE.fullmatch(text, start, end)
    if m is None:
        return None
    year = int(m.group("y1") or m.group("y2"))
    a, b = int(m.group("d1") or m.group("m2")), int(m.group("m1") or m.group("d2"))
    if not (1 <= a <= 31 and 1 <= b <= 31 and min(a, b) <= 12):
        return None
    if not 1900 <= year <= datetime.date.today().year - LONG_PAST_YEARS:
        return None
    if _TIME_AFTER.match(text, end):
        return None  # ``1984-08-24 16:26:05``: a timestamp, not a birth date
    return 0.55


class DateOfBirthRecognizer(RuleRecognizer):
    """A date with birth context (``born on``, ``DOB:``, ``date of birth``, ``... is my birthday``),
    and a full numeric date of a year long past (``since 07.02.1976``: a birth date, far more
    often than an order). Other dates (orders, deliveries, timestamps) are not personal data here."""

    ENTITY = "DATE_OF_BIRTH"
    TRIGGER = _rx(
        r"born|birth|d\.?o\.?b|b-?day|yob|nacimiento|geboren|geburt|geb\.|née?\b|naissance|nascita|nascimento"
        r"|geboorte|födelse|fødsel|syntymä|urodzenia|születési|narození|(?:19|20)\d\d"
    )
    RULES = (
        Rule(
            "date with birth context",
            _rx(rf"(?<![\w/.-])(?P<v>{_DATE})(?![\w/-]|\.\d)"),
            0.85,
            context_before=_BIRTH_BEFORE,
            context_after=_BIRTH_AFTER,
            window=40,
        ),
        Rule("full date of a year long past", _NUMERIC_DATE, 0.55, check=_long_past),
    )


def custom_recognizers(
    lexicon: Lexicon, person_labels: frozenset[str] = frozenset({"PERSON"})
) -> list[LocalRecognizer]:
    return [
        PersonRecognizer(lexicon, person_labels),
        PhoneNumberRecognizer(),
        SpelledEmailRecognizer(),
        EmbeddedEmailRecognizer(),
        CardNumberRecognizer(),
        IbanAnyCaseRecognizer(),
        DriverLicenseRecognizer(),
        DateOfBirthRecognizer(),
        ZipCodeRecognizer(),
        AgeRecognizer(),
        IncomeRecognizer(),
        StreetAddressRecognizer(),
    ]
