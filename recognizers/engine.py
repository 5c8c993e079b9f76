"""The detector: one object, one job, ``analyze_many(texts) -> findings``.

It owns a Presidio ``AnalyzerEngine`` built from ``config/recognizers.yaml`` (Presidio's own
format, loaded with Presidio's own loader) plus our Python recognizers, on a spaCy pipeline
restricted to what the recognizers need (``ner``, and lower-cased lemmas for context words).
It never downloads anything: a missing model is an error, and ``tldextract`` (used by Presidio's
email recognizer) is pinned to its bundled public-suffix snapshot.
"""

from __future__ import annotations

import copy
import logging
import re
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import regex
import spacy
import tldextract.tldextract as _tldx
from pydantic import ValidationError
from spacy.attrs import LEMMA, LOWER
from spacy.lang.en.stop_words import STOP_WORDS
from spacy.language import Language
from spacy.tokens import Doc
from thinc.api import Model, NumpyOps

from proxy.errors import DetectionTimeout
from proxy.yamlload import ConfigError, load_yaml
from recognizers.address_block import address_rest, unit_parts, within_sentence
from recognizers.custom import RuleRecognizer, custom_recognizers
from recognizers.international import international_recognizers
from recognizers.names import Lexicon
from recognizers.person import NAME_SUFFIX, PARTICLES_BEFORE, PersonRecognizer
from recognizers.types import DetectionError, Finding

# No outbound call for the public suffix list, ever: the snapshot bundled with tldextract.
_tldx.TLD_EXTRACTOR = _tldx.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)

from presidio_analyzer import AnalysisExplanation, AnalyzerEngine, EntityRecognizer, PatternRecognizer, RecognizerResult  # noqa: E402
from presidio_analyzer.input_validation import RecognizerRegistryConfig  # noqa: E402
from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine  # noqa: E402
from presidio_analyzer.predefined_recognizers import IbanRecognizer  # noqa: E402
from presidio_analyzer.recognizer_registry import RecognizerRegistryProvider  # noqa: E402

log = logging.getLogger("proxy.detection")

_BASE_HOOK = EntityRecognizer.enhance_using_context

#: Texts with no letter at all cannot hold a name: they skip the spaCy pipeline.
_HAS_LETTER = re.compile(r"[^\W\d_]")

_LEMMA_COMPONENT = "proxy_lower_lemma"

#: Presidio's own pattern recognizers cannot match a text that this regex does not find: each
#: is a necessary condition of every one of the recognizer's default patterns (read off
#: Presidio's ``PATTERNS``). They are used only while a recognizer has exactly its default
#: patterns, and case-insensitively when the registry's flags are.
_PRESIDIO_TRIGGERS = {
    "EmailRecognizer": "@",
    "UsSsnRecognizer": r"\d{3}",  # every SSN pattern holds a run of at least three digits
    "UsPassportRecognizer": r"\d{8}",  # nine digits, or a capital letter and eight digits
    "IbanRecognizer": r"[A-Z]{2}\d{2}",  # country code and check digits
    "IpRecognizer": r"\d\.\d|:",  # an IPv4 address has digit.digit, every IPv6 form a colon
}

#: ``analyze`` methods known not to read spaCy's output (entities): their results on a text
#: are the same with or without NER, so a text that goes on to NER reuses them.
_NER_FREE_ANALYZE = (PatternRecognizer.analyze, IbanRecognizer.analyze)

RawResults = dict[str, list[RecognizerResult]]


#: Texts longer than this are analysed in windows of this many characters (see
#: :meth:`Detector.windows`): every step of detection (regexes, spaCy, the context enhancer) then
#: costs at most what it costs on one window, and a payload's budget is checked between windows.
WINDOW_CHARS = 8192
#: Consecutive windows share this many characters: a value (with its context words) shorter than
#: this is seen whole by at least one window.
WINDOW_OVERLAP = 512
#: Short texts are analysed together in sub-batches of at most this many characters (the budget
#: is checked, and charged, between sub-batches).
SUB_BATCH_CHARS = 2 * WINDOW_CHARS


class OverBudget(DetectionTimeout):
    """A payload used up its detection budget: it alone fails closed (503), the detector goes on
    with the next one."""


class Budget:
    """Detector time one payload may still use (``time.perf_counter`` based)."""

    __slots__ = ("deadline", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.perf_counter() + seconds

    def remaining(self) -> float:
        return self.deadline - time.perf_counter()

    def check(self) -> None:
        if time.perf_counter() >= self.deadline:
            raise self.exceeded()

    def exceeded(self) -> OverBudget:
        return OverBudget(f"detection of this payload exceeded its budget of {self.seconds:g}s")


class _BudgetClock:
    """The budget the detector is spending now (None: unbounded, e.g. the CLI)."""

    def __init__(self) -> None:
        self.budget: Budget | None = None

    def timeout(self) -> float | None:
        """The ``timeout=`` for a regex of the ``regex`` module: what is left of the budget."""
        return None if self.budget is None else max(self.budget.remaining(), 0.001)

    def exceeded(self) -> OverBudget:
        return self.budget.exceeded() if self.budget is not None else OverBudget("detection exceeded its budget")


class _BoundedRegex:
    """Stands in for the compiled regex of one of Presidio's ``Pattern`` s: the remaining budget
    becomes the ``regex`` module's ``timeout=``, and a timeout raises :class:`OverBudget`.
    (Presidio's own 60 s timeout logs and *skips* the pattern: a leak, never used here.)"""

    def __init__(self, compiled: Any, clock: _BudgetClock) -> None:
        self.compiled = compiled
        self.pattern = compiled.pattern
        self.flags = compiled.flags
        self._clock = clock

    def finditer(self, text: str, *args: Any, timeout: float | None = None, **kw: Any) -> Iterator[Any]:
        try:
            yield from self.compiled.finditer(text, *args, timeout=self._clock.timeout(), **kw)
        except TimeoutError:
            raise self._clock.exceeded() from None

    def search(self, text: str, *args: Any, timeout: float | None = None, **kw: Any) -> Any:
        try:
            return self.compiled.search(text, *args, timeout=self._clock.timeout(), **kw)
        except TimeoutError:
            raise self._clock.exceeded() from None


_EMAIL_CHAR = r"!#$%&'*+\-/=?^_`{|}~\w"


class _LinearEmail(_BoundedRegex):
    """Presidio's e-mail pattern, with the same matches in linear time.

    The pattern (``\\b(L|L[L.]*L)@domain\\b``) backtracks over every word start of a long run of
    local-part characters that does not end in a valid ``@domain``: quadratic (``"x." * 300000 +
    "@example.com"`` ran for minutes). Every match holds exactly one ``@`` (neither part may hold
    one), so each ``@`` is judged on its own: the character before it must end a local part, the
    domain must match after it, and only then does the pattern run, on the local-part run before
    that ``@`` up to the domain's end, where its first try succeeds. The same leftmost, non-
    overlapping matches as ``finditer`` on the whole text (``tests/unit/test_cost_bounds.py``)."""

    def __init__(self, compiled: Any, clock: _BudgetClock) -> None:
        super().__init__(compiled, clock)
        flags = compiled.flags
        self._last = regex.compile(f"[{_EMAIL_CHAR}]", flags)
        self._run = regex.compile(f"(?r)[{_EMAIL_CHAR}.]+", flags)
        self._domain = regex.compile(r"\w+(?:-+\w+)*(?:\.\w+(?:-+\w+)*)+\b", flags)

    def finditer(self, text: str, *args: Any, timeout: float | None = None, **kw: Any) -> Iterator[Any]:
        clock = self._clock
        try:
            pos = 0
            at = text.find("@")
            seen = 0
            while at >= 0:
                seen += 1
                if seen % 256 == 0 and clock.budget is not None:
                    clock.budget.check()
                if at > pos and self._last.match(text, at - 1):
                    t = clock.timeout()
                    # endpos at the next "@" (no domain holds one): the regex module would
                    # otherwise look for the pattern's required "." up to the end of the text
                    nxt = text.find("@", at + 1)
                    dom = self._domain.match(text, at + 1, len(text) if nxt < 0 else nxt, timeout=t)
                    run = self._run.match(text, pos, at, timeout=t) if dom else None
                    if dom and run:
                        m = self.compiled.search(text, run.start(), dom.end(), timeout=t)
                        if m is not None:
                            yield m
                            pos = m.end()
                at = text.find("@", max(at + 1, pos))
        except TimeoutError:
            raise clock.exceeded() from None


def presidio_trigger(rec: EntityRecognizer) -> re.Pattern[str] | None:
    """The pre-filter of one of Presidio's pattern recognizers (``_PRESIDIO_TRIGGERS``); None
    for any other recognizer, or one whose patterns are not Presidio's defaults."""
    cls = type(rec)
    pattern = _PRESIDIO_TRIGGERS.get(cls.__name__)
    if pattern is None or not cls.__module__.startswith("presidio_analyzer.") or not isinstance(rec, PatternRecognizer):
        return None
    if [p.regex for p in rec.patterns] != [p.regex for p in getattr(cls, "PATTERNS", [])]:
        return None
    return re.compile(pattern, (rec.global_regex_flags or 0) & re.IGNORECASE)


@Language.component(_LEMMA_COMPONENT)
def _lower_lemma(doc: Doc) -> Doc:
    """Presidio's context enhancer compares lemmas with context words; lower-cased text is
    enough for that and costs nothing next to a tagger + lemmatizer."""
    if len(doc):
        doc.from_array([LEMMA], doc.to_array([LOWER]))
    return doc


def load_registry_config(path: str | Path, text: str | None = None) -> dict[str, Any]:
    """Read and validate a Presidio recognizer-registry YAML (``text``: its content, read
    earlier); errors as ``FILE:LINE: message``."""
    loaded = load_yaml(path, text=text)
    if not isinstance(loaded.data, dict):
        raise ConfigError([f"{path}:1: the recognizer registry must be a mapping"])
    try:
        RecognizerRegistryConfig(**loaded.data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            problems.append(loaded.problem(loc, f"{'.'.join(map(str, err['loc']))}: {err['msg']}"))
        raise ConfigError(problems) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError([f"{path}:1: {exc}"]) from None
    problems = []
    for i, rec in enumerate(loaded.data.get("recognizers") or []):
        if not isinstance(rec, dict):
            continue
        for j, pat in enumerate(rec.get("patterns") or []):
            if isinstance(pat, dict) and isinstance(pat.get("regex"), str):
                try:
                    re.compile(pat["regex"])
                except re.error as exc:
                    problems.append(loaded.problem(("recognizers", i, "patterns", j, "regex"), f"bad regex: {exc}"))
    if problems:
        raise ConfigError(problems)
    return dict(loaded.data)


class _LocalSpacyEngine(SpacyNlpEngine):  # type: ignore[misc]
    """``SpacyNlpEngine`` that loads an installed package by name, never downloads, and keeps
    only the components detection needs."""

    def __init__(self, model: str, ner_entities: dict[str, str]) -> None:
        labels = {"PERSON", "PER", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT",
                  "WORK_OF_ART", "LAW", "LANGUAGE", "DATE", "TIME", "PERCENT", "MONEY",
                  "QUANTITY", "ORDINAL", "CARDINAL"}  # fmt: skip
        ner_conf = NerModelConfiguration(
            model_to_presidio_entity_mapping=dict(ner_entities),
            labels_to_ignore=sorted(labels - set(ner_entities)),
            low_score_entity_names=[],
        )
        super().__init__(models=[{"lang_code": "en", "model_name": model}], ner_model_configuration=ner_conf)
        self.model_name = model

    def load(self) -> None:
        if not spacy.util.is_package(self.model_name) and not Path(self.model_name).exists():
            raise DetectionError(
                f"spaCy model {self.model_name!r} is not installed (run `make install`); "
                "the proxy never downloads models at run time"
            )
        nlp = spacy.load(self.model_name)
        # The rule lemmatizer's word lists (WordNet) tell common words from names; read them
        # before the lemmatizer itself is dropped from the pipeline.
        tables: dict[str, Any] = {}
        if "lemmatizer" in nlp.pipe_names:
            lookups = getattr(nlp.get_pipe("lemmatizer"), "lookups", None)
            if lookups is not None:
                tables = {name: lookups.get_table(name) for name in lookups.tables}
        self.lexicon = Lexicon.load(tables)
        keep = {"ner"}
        for name in list(nlp.pipe_names):
            if name not in keep:
                nlp.remove_pipe(name)
        nlp.add_pipe(_LEMMA_COMPONENT)
        _use_numpy_blas(nlp)
        self.nlp = {"en": nlp}


def _use_numpy_blas(nlp: Language) -> None:
    """Run the pipeline's matrix products through numpy's BLAS instead of thinc's bundled BLIS.

    The NER model multiplies small matrices (one row per token); measured on this project's
    2-core EPYC, BLIS took 2.6x as long per product as numpy's OpenBLAS, and NER as a whole ran
    30-35% faster with numpy's. Same maths, so the same entities (the accuracy benchmark and
    ``tests/unit/test_recognizers.py`` run on this path)."""
    ops = NumpyOps(use_blis=False)
    for _, component in nlp.pipeline:
        model = getattr(component, "model", None)
        if isinstance(model, Model):
            for node in model.walk():
                node.ops = ops


class _DropMessages(logging.Filter):
    """Presidio re-adds its spaCy recognizer when the YAML disables it, warns about it, then
    removes it again: the warning says the opposite of what happens, so it is not logged."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)


def build_analyzer(
    model: str, recognizers_path: str | Path, ner_entities: dict[str, str], recognizers_text: str | None = None
) -> AnalyzerEngine:
    conf = load_registry_config(recognizers_path, recognizers_text)
    nlp_engine = _LocalSpacyEngine(model, ner_entities)
    nlp_engine.load()
    presidio_log = logging.getLogger("presidio-analyzer")
    quiet = _DropMessages("NLP recognizer (e.g. SpacyRecognizer")
    presidio_log.addFilter(quiet)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Presidio warns about languages it will not use
            provider = RecognizerRegistryProvider(registry_configuration=conf, nlp_engine=nlp_engine)
            registry = provider.create_recognizer_registry()
    finally:
        presidio_log.removeFilter(quiet)
    labels = frozenset(label for label, entity in ner_entities.items() if entity == "PERSON")
    for rec in custom_recognizers(nlp_engine.lexicon, labels):
        registry.add_recognizer(rec)
    for rec in international_recognizers(nlp_engine.lexicon):
        registry.add_recognizer(rec)
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])


class Detector:
    """``analyze_many(texts)`` -> one list of :class:`Finding` per text, in order.

    Not thread-safe: the transport gives it one thread of its own.
    """

    def __init__(
        self,
        model: str,
        recognizers_path: str | Path,
        ner_entities: dict[str, str] | None = None,
        score_thresholds: dict[str, float] | None = None,
        recognizers_text: str | None = None,
        budget: float | None = None,
    ) -> None:
        """``recognizers_text``: the recognizer file's content as read earlier (a restarted
        detection process must use the rules its worker validated, not whatever is on disk now).
        ``budget``: the most detector time (seconds) one payload of :meth:`analyze_groups` may use
        (``timeouts.detection_budget``); None: only the budgets the caller gives."""
        self.analyzer = build_analyzer(model, recognizers_path, ner_entities or {"PERSON": "PERSON"}, recognizers_text)
        self.nlp: Language = self.analyzer.nlp_engine.nlp["en"]
        self.thresholds = dict(score_thresholds or {"default": 0.35})
        self.default_threshold = self.thresholds.get("default", 0.35)
        self.min_threshold = min(self.thresholds.values())
        #: Skip AnalyzerEngine.analyze's per-call overhead (same results; see _fast_analyze).
        self.fast_path = True
        #: The budget being spent (see analyze_groups); Presidio's regexes read it.
        self.clock = _BudgetClock()
        self.window_chars = WINDOW_CHARS
        self.budget = budget
        self._bound_patterns()
        self._prepare_fast_path()
        #: Texts in which no capitalised word could be a name skip spaCy (see PersonRecognizer).
        self.ner_precheck = True
        self.person: PersonRecognizer | None = next(
            (r for r in self.analyzer.registry.recognizers if isinstance(r, PersonRecognizer)), None
        )
        # Warm up: the first call of every recognizer compiles its patterns.
        self.analyze_many(["warm up john@example.com 94107"])

    def describe(self) -> list[tuple[str, list[str], list[str]]]:
        """``(name, supported entities, context words)`` of every recognizer, in registry order
        (plain data: it crosses to the worker for the Presidio face's ``/recognizers``)."""
        return [
            (str(r.name), [str(e) for e in r.supported_entities], [str(w) for w in (r.context or [])])
            for r in self.analyzer.registry.recognizers
        ]

    def _bound_patterns(self) -> None:
        """Every regex pattern of a Presidio ``PatternRecognizer`` (Presidio's own and ops-written
        ones) runs under the budget's clock; Presidio's e-mail pattern in linear time."""
        for rec in self.analyzer.registry.recognizers:
            if not isinstance(rec, PatternRecognizer):
                continue
            flags = rec.global_regex_flags
            email = type(rec).__name__ == "EmailRecognizer" and presidio_trigger(rec) is not None
            for pattern in rec.patterns:
                compiled = regex.compile(pattern.regex, flags=flags)
                pattern.compiled_regex = (_LinearEmail if email else _BoundedRegex)(compiled, self.clock)
                pattern.compiled_with_flags = flags

    # ---- cost bounds -------------------------------------------------------------------------
    def windows(self, text: str) -> list[tuple[int, str]]:
        """``(offset, piece)`` covering ``text``: the text itself when it fits one window, else
        windows of at most ``window_chars`` overlapping by ``WINDOW_OVERLAP``, cut at whitespace
        where there is some near the cut."""
        size = self.window_chars
        if len(text) <= size:
            return [(0, text)]
        overlap = min(WINDOW_OVERLAP, size // 4)
        out: list[tuple[int, str]] = []
        start = 0
        while True:
            end = min(start + size, len(text))
            if end < len(text):
                ws = max(text.rfind(" ", end - overlap // 2, end), text.rfind("\n", end - overlap // 2, end))
                if ws > start:
                    end = ws + 1
            out.append((start, text[start:end]))
            if end >= len(text):
                return out
            nxt = end - overlap
            ws = max(text.find(" ", nxt, nxt + overlap // 2), -1)
            start = ws + 1 if ws >= 0 else nxt

    def analyze_groups(
        self, groups: Sequence[Sequence[str]], budgets: Sequence[float | None] | None = None
    ) -> list[list[list[Finding]] | str]:
        """Findings per text of each group (one caller's payload), or, for a group that ran past
        its budget (seconds of detector time, None: unbounded), a value-free message: that group
        alone fails closed, the others are served.

        The cost of each step is bounded: short texts go through :meth:`analyze_many` together
        in sub-batches of at most ``SUB_BATCH_CHARS`` characters, long ones window by window
        (:meth:`windows`; findings mapped back and merged), every Presidio regex runs with the
        budget left as its timeout, and budgets are checked and charged between steps. A step
        charges its time to every group in it; a regex timeout in a shared sub-batch re-runs its
        texts one by one, so that only the payload that caused it fails."""
        given = list(budgets) if budgets is not None else [None] * len(groups)
        budgets = [b if self.budget is None else self.budget if b is None else min(b, self.budget) for b in given]
        out: list[list[list[Finding]] | str] = [[[] for _ in g] for g in groups]
        failed: dict[int, str] = {}
        left: list[float | None] = list(budgets)
        Unit = tuple[int, int, int, str]  # group, text, offset, piece
        short: list[Unit] = []
        long: list[list[Unit]] = []
        for g, texts in enumerate(groups):
            for i, text in enumerate(texts):
                pieces = self.windows(text)
                if len(pieces) == 1:
                    short.append((g, i, 0, text))
                else:
                    long.append([(g, i, off, piece) for off, piece in pieces])
        steps: list[list[Unit]] = []
        step: list[Unit] = []
        chars = 0
        for u in short:
            if step and (chars + len(u[3]) > SUB_BATCH_CHARS or len(step) >= 64):
                steps.append(step)
                step, chars = [], 0
            step.append(u)
            chars += len(u[3])
        if step:
            steps.append(step)
        for windows in long:
            steps.extend([w] for w in windows)

        def run(units: list[Unit]) -> None:
            for g in {u[0] for u in units}:
                spare = left[g]
                if spare is not None and spare <= 0 and g not in failed:  # work left, no time left
                    failed[g] = f"detection of this payload exceeded its budget of {budgets[g]:g}s"
            units = [u for u in units if u[0] not in failed]
            if not units:
                return
            owners = {u[0] for u in units}
            spares = [left[g] for g in owners]
            budget = None if None in spares else max(b for b in spares if b is not None)
            self.clock.budget = Budget(budget) if budget is not None else None
            started = time.perf_counter()
            try:
                results = self.analyze_many([u[3] for u in units])
            except OverBudget:
                if len(units) > 1:  # whose text was it? each alone, on its own budget
                    for u in units:
                        run([u])
                    return
                results = None
                failed[units[0][0]] = f"detection of this payload exceeded its budget of {budgets[units[0][0]]:g}s"
            finally:
                self.clock.budget = None
            spent = time.perf_counter() - started
            for g in owners:
                spare = left[g]
                if spare is not None:
                    left[g] = spare - spent
            if results is None:
                return
            for (g, i, off, _), found in zip(units, results, strict=True):
                target = out[g]
                assert isinstance(target, list)
                target[i].extend(Finding(f.start + off, f.end + off, f.entity, f.score, f.recognizer) for f in found)

        for units in steps:
            run(units)
        for g, why in failed.items():
            out[g] = why
        for g, texts in enumerate(groups):
            result = out[g]
            if isinstance(result, list):
                for i, text in enumerate(texts):
                    if len(text) > self.window_chars:  # windows overlap: drop repeats, keep order
                        result[i] = sorted(set(result[i]), key=lambda f: (f.start, f.end, f.entity))
        return out

    def _suspects(self, text: str) -> list[tuple[int, int]] | None:
        """Spans of the words NER could add a name on; None: run NER whatever the text."""
        if not _HAS_LETTER.search(text):
            return []
        if not self.ner_precheck or self.person is None:
            return None
        return self.person.suspects(text)

    def _keep(self, r: RecognizerResult) -> bool:
        return bool(r.score >= self.thresholds.get(r.entity_type, self.default_threshold))

    def _plain_doc(self, text: str) -> Doc:
        """Tokens and lemmas, no NER."""
        return self.nlp.get_pipe(_LEMMA_COMPONENT)(self.nlp.make_doc(text))

    def _results(
        self,
        text: str,
        doc: Doc,
        explain: bool,
        *,
        keep: RawResults | None = None,
        reuse: RawResults | None = None,
    ) -> list[RecognizerResult]:
        """``keep``: filled with the raw results of the recognizers NER cannot change;
        ``reuse``: such results from an earlier pass over the same text (fast path only)."""
        engine: _LocalSpacyEngine = self.analyzer.nlp_engine
        artifacts = engine._doc_to_nlp_artifact(doc, "en")
        results: list[RecognizerResult]
        if explain or not self.fast_path:
            results = self.analyzer.analyze(
                text=text,
                language="en",
                nlp_artifacts=artifacts,
                score_threshold=self.min_threshold,
                return_decision_process=explain,
            )
        else:
            results = self._fast_analyze(text, artifacts, keep, reuse)
        kept = [_trimmed(text, r) for r in results if self._keep(r) and _plausible(text, r)]
        for r in list(kept):
            if r.entity_type == "PERSON":
                if (suffix := NAME_SUFFIX.match(text, r.end)) is not None:
                    r.end = suffix.end()  # ``Tom Holzman MD``
                if (particles := PARTICLES_BEFORE.search(text, max(0, r.start - 40), r.start)) is not None:
                    # ``van de Ridder``, ``Rozemarijn te Boveldt`` (not ``Then de Vries``'s ``Then``)
                    given = particles.group("given") or ""
                    r.start = particles.start() + (len(given) if given.strip().lower() in STOP_WORDS else 0)
            if r.entity_type == "STREET_ADDRESS":
                # within its sentence; ``Piso 29º``, ``кв. 41`` after the street; a unit on the
                # next line on its own
                r.start, r.end = within_sentence(text, r.start, r.end)
                r.end, apart = unit_parts(text, r.end)
                for a, b in apart:
                    kept.append(
                        RecognizerResult(
                            "STREET_ADDRESS", a, b, r.score, r.analysis_explanation, r.recognition_metadata
                        )
                    )
        streets = [(r.start, r.end) for r in kept if r.entity_type == "STREET_ADDRESS"]
        # the city and region of an address block go with it, wherever it is (the country stays)
        codes = [(r.start, r.end) for r in kept if r.entity_type in ("POSTCODE", "US_ZIP_CODE")]
        if streets:
            for a, b, rule in address_rest(text, streets, codes):
                kept.append(_city_result(a, b, rule))
        return kept

    def _prepare_fast_path(self) -> None:
        analyzer = self.analyzer
        self._recognizers: list[EntityRecognizer] = analyzer.registry.get_recognizers(language="en", all_fields=True)
        self._entities: list[str] = analyzer.get_supported_entities(language="en")
        self._hooked = [r for r in self._recognizers if type(r).enhance_using_context is not _BASE_HOOK]
        self._with_context = {r.id for r in self._recognizers if r.context}
        # Presidio's own pattern recognizers are skipped on texts they cannot match (see
        # _PRESIDIO_TRIGGERS). Ops-written recognizers always run.
        self._triggers: dict[str, re.Pattern[str]] = {}
        for r in self._recognizers:
            trigger = presidio_trigger(r)
            if trigger is not None:
                self._triggers[r.id] = trigger
        self._ner_free = {
            r.id for r in self._recognizers if isinstance(r, RuleRecognizer) or type(r).analyze in _NER_FREE_ANALYZE
        }

    def _fast_analyze(
        self, text: str, artifacts: Any, keep: RawResults | None = None, reuse: RawResults | None = None
    ) -> list[RecognizerResult]:
        """What ``AnalyzerEngine.analyze`` computes, without its per-call overhead: the recognizer
        list and entity list are resolved once, and the context enhancer (which deep-copies what it
        is given) only sees results of recognizers that have context words, the only ones it can
        change. ``tests/unit/test_recognizers.py`` checks both paths agree on a corpus.

        ``keep`` / ``reuse``: see ``_results``; copies are kept and handed out, since later steps
        may change a result in place."""
        raw: list[RecognizerResult] = []
        for rec in self._recognizers:
            if reuse is not None and rec.id in reuse:
                raw.extend(copy.copy(r) for r in reuse[rec.id])
                continue
            trigger = self._triggers.get(rec.id)
            if trigger is not None and not trigger.search(text):
                found: list[RecognizerResult] = []
            else:
                found = rec.analyze(text=text, entities=self._entities, nlp_artifacts=artifacts) or []
            for r in found:
                meta = r.recognition_metadata or {}
                meta.setdefault(RecognizerResult.RECOGNIZER_NAME_KEY, rec.name)
                meta.setdefault(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY, rec.id)
                r.recognition_metadata = meta
            if keep is not None and rec.id in self._ner_free:
                keep[rec.id] = [copy.copy(r) for r in found]
            raw.extend(found)
        if not raw:
            return []
        for rec in self._hooked:  # recognizer-level context hooks, as Presidio runs them
            own = [r for r in raw if r.recognition_metadata[RecognizerResult.RECOGNIZER_IDENTIFIER_KEY] == rec.id]
            others = [r for r in raw if r.recognition_metadata[RecognizerResult.RECOGNIZER_IDENTIFIER_KEY] != rec.id]
            raw = others + rec.enhance_using_context(
                text=text,
                raw_recognizer_results=own,
                other_raw_recognizer_results=others,
                nlp_artifacts=artifacts,
                context=None,
            )
        key = RecognizerResult.RECOGNIZER_IDENTIFIER_KEY
        contextual = [r for r in raw if r.recognition_metadata[key] in self._with_context]
        if contextual:
            plain = [r for r in raw if r.recognition_metadata[key] not in self._with_context]
            raw = plain + self.analyzer.context_aware_enhancer.enhance_using_context(
                text=text, raw_results=contextual, nlp_artifacts=artifacts, recognizers=self._recognizers, context=None
            )
        kept = [r for r in raw if r.score >= self.min_threshold]
        return list(EntityRecognizer.remove_duplicates(kept))

    def analyze_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        try:
            # Strings and lexemes spaCy adds for these texts are freed when the zone closes: the
            # vocabulary does not grow with every new word a stream brings (spaCy >= 3.8). Only
            # plain Findings leave the zone.
            with self.nlp.memory_zone():
                if self.person is not None:
                    self.person.remember = self.fast_path  # the second pass reuses the rule hits
                return self._analyze_many([unquoted(t) for t in texts])
        except DetectionError:
            raise
        except Exception as exc:  # fail closed, without the text in the message
            raise DetectionError(f"detection failed: {exc.__class__.__name__}") from None
        finally:
            if self.person is not None:
                self.person.remember = False
                self.person.forget()

    def _analyze_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        """NER runs only where it could add something: a text with no word that could be a name
        the rules miss skips it, and so does a text whose every such word the rules (or another
        recognizer) already put inside a finding. The rest go through ``nlp.pipe`` together,
        reusing the first pass: its tokens, and the results of the recognizers NER cannot change."""
        out: list[list[Finding]] = [[] for _ in texts]
        need: list[int] = []
        first: dict[int, tuple[Doc, RawResults]] = {}
        for i, text in enumerate(texts):
            if not text.strip():
                continue
            suspects = self._suspects(text)
            if suspects is None:
                need.append(i)
                continue
            doc = self._plain_doc(text)
            kept: RawResults = {}
            found = self._results(text, doc, explain=False, keep=kept)
            if suspects and not all(any(r.start <= s and e <= r.end for r in found) for s, e in suspects):
                need.append(i)
                first[i] = (doc, kept)
                continue
            out[i] = [_finding(r) for r in found]
        if need:
            inputs = (first[i][0] if i in first else texts[i] for i in need)
            for i, doc in zip(need, self.nlp.pipe(inputs), strict=True):
                reuse = first[i][1] if i in first else None
                out[i] = [_finding(r) for r in self._results(texts[i], doc, explain=False, reuse=reuse)]
        return out

    def explain(self, text: str) -> list[tuple[Finding, str]]:
        """Findings of one text with a value-free account of how each was decided."""
        text = unquoted(text)
        with self.nlp.memory_zone():
            doc = next(iter(self.nlp.pipe([text])))
            results = self._results(text, doc, explain=True)
        out = []
        for r in results:
            exp = r.analysis_explanation
            why = ""
            if exp is not None:
                parts = [f"original score {exp.original_score:.2f}"]
                if exp.pattern_name:
                    parts.append(f"pattern {exp.pattern_name!r}")
                if exp.score_context_improvement:
                    parts.append(f"context +{exp.score_context_improvement:.2f}")
                if exp.supportive_context_word:
                    parts.append(f"context word {exp.supportive_context_word!r}")
                why = ", ".join(parts)
            out.append((_finding(r), why))
        return out


#: A dotted quad right after ``rv:``, ``Version/``, ``Chrome/`` ... is a version number, not an
#: IP address (user-agent strings in log lines).
_VERSION_BEFORE = re.compile(r"(?:\brv:|/|\bv|\bversion\s?)$", re.IGNORECASE)


#: Quote marks at a line's start (``> 12 Main St``, ``>> Maria``): e-mail and chat quoting.
_QUOTE_MARKS = re.compile(r"^([ \t]*+)(>[> \t]*+)", re.MULTILINE)


def unquoted(text: str) -> str:
    """``text`` with the quote marks that open its lines blanked (same length: offsets hold), so
    that a quoted address block or signature reads as one."""
    if ">" not in text:
        return text
    return _QUOTE_MARKS.sub(lambda m: m.group(1) + " " * len(m.group(2)), text)


def _city_result(start: int, end: int, rule: str = "city of an address") -> RecognizerResult:
    """The rest of an address block (its city and region, a house number beside its street):
    part of the address (the country stays)."""
    explanation = AnalysisExplanation(
        recognizer="AddressBlockRecognizer",
        original_score=0.65,
        pattern_name=rule,
        textual_explanation=f"rule {rule}",
    )
    return RecognizerResult(
        "STREET_ADDRESS",
        start,
        end,
        0.65,
        explanation,
        {
            RecognizerResult.RECOGNIZER_NAME_KEY: "AddressBlockRecognizer",
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: "city",
        },
    )


def _plausible(text: str, r: RecognizerResult) -> bool:
    return not (r.entity_type == "IP_ADDRESS" and _VERSION_BEFORE.search(text, max(0, r.start - 10), r.start))


def _trimmed(text: str, r: RecognizerResult) -> RecognizerResult:
    """``user=jo@example.com``: Presidio's e-mail pattern takes the log key along (``=`` is
    legal in a local part); the value starts after it."""
    if r.entity_type == "EMAIL_ADDRESS":
        local = text[r.start : r.end].split("@", 1)[0]
        cut = max(local.rfind("="), local.rfind(":"))
        if cut >= 0 and cut + 1 < len(local):
            r.start += cut + 1
    return r


def _finding(r: RecognizerResult) -> Finding:
    meta = r.recognition_metadata or {}
    name = str(meta.get(RecognizerResult.RECOGNIZER_NAME_KEY, "unknown"))
    return Finding(start=r.start, end=r.end, entity=r.entity_type, score=round(float(r.score), 4), recognizer=name)
