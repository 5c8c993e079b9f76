"""Our Python recognizers: where a Presidio pattern is not enough (span groups, required context,
validation). Each is a Presidio ``LocalRecognizer``, so ``explain`` and the analyzer treat them
like Presidio's own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from presidio_analyzer import AnalysisExplanation, LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

FLAGS = re.IGNORECASE | re.MULTILINE


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


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, FLAGS)


class RuleRecognizer(LocalRecognizer):  # type: ignore[misc]
    """Runs a list of :class:`Rule` s; overlapping matches of one recognizer keep the best."""

    ENTITY = ""
    RULES: Sequence[Rule] = ()

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
        results: list[RecognizerResult] = []
        for rule in self.RULES:
            for m in rule.regex.finditer(text):
                group = "v" if "v" in rule.regex.groupindex else 0
                start, end = m.span(group)
                if start < 0 or start == end or not self.validate(m.group(group)):
                    continue
                if rule.not_followed_by and rule.not_followed_by.match(text, m.end()):
                    continue
                if rule.context_before or rule.context_after:
                    before = text[max(0, start - rule.window) : start]
                    after = text[end : end + rule.window]
                    ok = bool(rule.context_before and rule.context_before.search(before)) or bool(
                        rule.context_after and rule.context_after.search(after)
                    )
                    if not ok:
                        continue
                explanation = AnalysisExplanation(
                    recognizer=self.name,
                    original_score=rule.score,
                    pattern_name=rule.name,
                    textual_explanation=f"rule {rule.name}",
                )
                results.append(
                    RecognizerResult(
                        entity_type=self.ENTITY,
                        start=start,
                        end=end,
                        score=rule.score,
                        analysis_explanation=explanation,
                        recognition_metadata={
                            RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                        },
                    )
                )
        return _best_non_overlapping(results)


def _best_non_overlapping(results: list[RecognizerResult]) -> list[RecognizerResult]:
    results.sort(key=lambda r: (-r.score, -(r.end - r.start), r.start))
    kept: list[RecognizerResult] = []
    for r in results:
        if all(r.end <= k.start or r.start >= k.end for k in kept):
            kept.append(r)
    return sorted(kept, key=lambda r: r.start)


_ZIP_CONTEXT = _rx(r"\b(?:zip|zipcode|zip\s*code|postal(?:\s*code)?|post\s*code|postcode)\b")
_US_STATE = (
    r"(?:AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ"
    r"|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR)"
)


class ZipCodeRecognizer(RuleRecognizer):
    """US ZIP codes (5 and 5+4) where context says so: a zip/postal word nearby, or after a state
    (``Springfield, IL 62704``). Order numbers, prices and years are left alone."""

    ENTITY = "US_ZIP_CODE"
    RULES = (
        Rule(
            "zip after state",
            re.compile(rf"(?:\b{_US_STATE}|,)\s+(?P<v>\d{{5}}(?:-\d{{4}})?)\b(?![-\d])"),
            0.75,
        ),
        Rule(
            "zip with context",
            _rx(r"(?<![\w$#.-])(?P<v>\d{5}(?:-\d{4})?)(?![\w-]|\.\d)"),
            0.85,
            context_before=_ZIP_CONTEXT,
            window=32,
        ),
        Rule("zip+4", _rx(r"(?<![\w$#.-])(?P<v>\d{5}-\d{4})(?![\w-])"), 0.5),
    )


_UNITS_AFTER = _rx(
    r"\s*(?:%|percent|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|dollars|bucks|usd|eur|feet|ft"
    r"|inch(?:es)?|lbs?|pounds|kgs?|miles?|km|am\b|pm\b|:\d|\.\d|,\d|/\d|x\b|st\b|nd\b|rd\b|th\b"
    r"|items?|orders?|tickets?|times|k\b|people|of\b)"
)


class AgeRecognizer(RuleRecognizer):
    """A person's age: ``34 years old``, ``34-year-old``, ``34 y/o``, ``I'm 34``, ``aged 34``,
    ``turned 34``, ``age: 34``. The span is the number."""

    ENTITY = "AGE"
    RULES = (
        Rule(
            "n years old",
            _rx(r"\b(?P<v>\d{1,3})\s*-?\s*(?:years?|yrs?|yr)\s*-?\s*old\b"),
            0.9,
        ),
        Rule("n y/o", _rx(r"\b(?P<v>\d{1,3})\s*(?:y/o|yo|y\.o\.)(?!\w)"), 0.85),
        Rule(
            "aged n",
            _rx(r"\b(?:aged?|turned|turning|age\s+is|age\s*[:=]|i\s+am|i'?m|im)\s+(?P<v>\d{1,3})\b"),
            0.75,
            not_followed_by=_UNITS_AFTER,
        ),
    )

    def validate(self, value: str) -> bool:
        return int(value) < 130


_MONEY = (
    r"(?:(?:US\$|\$|USD\s?|EUR\s?|€|£)\s?\d[\d,]*(?:\.\d{1,2})?(?:\s?(?:k|K|thousand|million|m)\b)?"
    r"|\b\d[\d,]*(?:\.\d+)?\s?(?:k|K)\b"
    r"|\b\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?(?:\s?(?:dollars|usd|euros?|eur))?"
    r"|\b\d+(?:\.\d+)?\s?(?:thousand|grand)\b"
    r"|\b\d{4,7}\s?(?:dollars|usd|euros?))"
)
_INCOME_CONTEXT = _rx(
    r"\b(?:salary|salaries|income|incomes|earn|earns|earned|earning|earnings|make|makes|making|made"
    r"|paid|pay|wage|wages|compensation|comp|household|gross|net|annual|annually|per\s+year|a\s+year"
    r"|per\s+annum|yearly|/\s?yr|/\s?year|p\.?a\.?)\b"
)


class IncomeRecognizer(RuleRecognizer):
    """Money amounts with income context (salary, income, earn, make ... a year). A price without
    that context is not an income."""

    ENTITY = "INCOME"
    RULES = (
        Rule(
            "money with income context",
            re.compile(rf"(?P<v>{_MONEY})", FLAGS),
            0.8,
            context_before=_INCOME_CONTEXT,
            context_after=_rx(
                r"^\W{0,3}(?:a|per|/|each)?\s*(?:year|yr|annum|annually|salary|income)\b"
                r"|^\s*(?:in\s+)?(?:salary|income)\b"
            ),
            window=40,
        ),
    )


_STREET_SUFFIX = (
    r"(?:street|st|avenue|ave|av|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|place|pl|way"
    r"|terrace|ter|parkway|pkwy|circle|cir|highway|hwy|square|sq|trail|trl|plaza|plz|alley|aly"
    r"|crescent|close|row|loop|pike|route|rte)"
)
_UNIT = r"(?:apt|apartment|suite|ste|unit|fl|floor|room|rm|bldg|building|#)\s*\.?\s*#?\s*[a-z0-9][a-z0-9-]{0,5}"


class StreetAddressRecognizer(RuleRecognizer):
    """Building number + street name + suffix, with an optional unit (``Apt. 4B``, ``Suite 210``);
    a unit line alone; PO boxes."""

    ENTITY = "STREET_ADDRESS"
    RULES = (
        Rule(
            "street line",
            _rx(
                rf"\b\d{{1,6}}[a-z]?\s+(?:[nsew]\.?\s+)?(?:[a-z0-9][\w'.-]*\s+){{0,4}}{_STREET_SUFFIX}\b\.?"
                rf"(?:\s*,?\s*{_UNIT})?"
            ),
            0.85,
        ),
        Rule("unit", _rx(r"(?<![\w-])(?:apt|apartment|suite|ste|unit)\s*\.?\s*#?\s*[a-z0-9][a-z0-9-]{0,5}\b"), 0.6),
        Rule("po box", _rx(r"\bp\.?\s?o\.?\s*box\s+\d{1,6}\b"), 0.85),
    )


def custom_recognizers() -> list[LocalRecognizer]:
    return [ZipCodeRecognizer(), AgeRecognizer(), IncomeRecognizer(), StreetAddressRecognizer()]
