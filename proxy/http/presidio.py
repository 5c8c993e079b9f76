"""The Presidio-compatible REST face: Presidio's analyzer and anonymizer APIs, served from our
detection service by every worker on a third listener (``presidio.port``, off unless set).

Shapes follow Presidio's own servers (``presidio-analyzer/app.py``, ``presidio-anonymizer/app.py``,
``docs/api-docs/api-docs.yml``): ``POST /analyze`` answers a list of
``{analysis_explanation, end, entity_type, score, start}`` (a list of lists for a list of texts),
``POST /anonymize`` and ``POST /deanonymize`` answer ``{text, items}`` as
``presidio_anonymizer``'s ``EngineResult.to_json``, errors are ``{"error": message}`` with
Presidio's status codes (500 for a request without text or language, as Presidio's server).

What is ours and not Presidio's:

* detection is the worker's :class:`~proxy.detection.DetectionService` (through
  ``Runtime.detect``: normalised texts, findings mapped back): concurrent requests, of this face
  and of the proxy's routes, share its batches, its deadline and its per-payload budget; a
  failure or a timeout is a 503 (fail closed), never an empty "no PII" list;
* ``ad_hoc_recognizers`` are parsed by Presidio's own ``PatternRecognizer.from_dict`` but bounded
  (counts, regex length) and every regex is judged by :func:`recognizers.complexity.
  pattern_problems` as an ops rule is, then run by the ``regex`` module with the request's
  remaining budget as its timeout (a timeout is a 503, not a skipped pattern);
* the anonymizer is ``presidio_anonymizer``'s engine with our operators added (``zip3``,
  ``age_band``, ``income_band``, ``ip_truncate``; a value they cannot parse becomes the entity's
  tag, never itself);
* ``pseudonym`` (anonymize and deanonymize) uses the worker's vault (``Runtime.vault``: the
  destinations' vault, the same keys, store, retention and erasure): ``{"type": "pseudonym",
  "scope": "c-42"}`` gives the same token to the same person within the face's scope ``c-42``;
  without ``scope`` each request is its own scope. The face's scopes are namespaced
  (``presidio:scope:<scope>``, ``presidio:request:<random>``), so a client of the face never
  obtains the token a destination gave in a conversation. ``/deanonymize`` restores the tokens
  of the given spans, or, with no ``anonymizer_results`` and a ``pseudonym`` deanonymizer, every
  token in the text (any scope); an unknown, expired or erased token stays as it is. No vault in
  the config: 422 naming the keys; the vault failing: 503, nothing anonymized or restored;
* an optional bearer token (``presidio.token_env``), compared in constant time; body, list and
  result bounds; logs and errors never carry a text or a detected value.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import re
import secrets
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import regex
from aiohttp import web

from proxy import metrics
from proxy.config import Presidio
from proxy.errors import DetectionError, DetectionTimeout, VaultError
from proxy.http.runtime import Runtime, request_id
from proxy.operators import age_band, income_band, ip_truncate, tag, zip3
from proxy.vault import TOKEN, Vault, find_tokens, unmask_text
from recognizers.types import Finding

__all__ = [
    "NO_RECOGNIZERS",
    "AdHocPattern",
    "AdHocRecognizer",
    "AnalyzeRequest",
    "PresidioError",
    "analyze_results",
    "build_presidio_app",
    "parse_analyze",
]

log = logging.getLogger("proxy.presidio")

#: Presidio's message when no recognizer serves a language or the requested entities.
NO_RECOGNIZERS = "No matching recognizers were found to serve the request."
_PARSE = "Failed to parse /analyze request for AnalyzerEngine.analyze(). "
#: Presidio's ``AnalyzerRequest`` default.
DEFAULT_FLAGS = int(re.DOTALL | re.MULTILINE | re.IGNORECASE)
_KNOWN_FLAGS = int(re.IGNORECASE | re.MULTILINE | re.DOTALL | re.VERBOSE | re.ASCII | re.UNICODE)
#: Presidio's LemmaContextAwareEnhancer defaults.
CONTEXT_FACTOR = 0.35
CONTEXT_MIN_SCORE = 0.4
CONTEXT_PREFIX_WORDS = 5
_WORD = re.compile(r"\w+")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,40}$")
_ENTITY_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
MAX_DENY_WORD = 256
#: Seconds one request's regexes (ad-hoc patterns, a regex allow list) may take to be judged by
#: the complexity probes (each pattern's own probes stop at 5 s; a remembered one costs nothing).
PROBE_BUDGET = 10.0
#: ``regex`` timeout of the allow list on one found span (it was probed: far more than enough).
ALLOW_TIMEOUT = 0.1
MAX_CONTEXT_WORD = 128


class PresidioError(Exception):
    """An answer of this face: ``{"error": message}`` with ``status``. Messages never quote a
    text, a value or anything of the request but the names of its fields."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _bad(message: str) -> PresidioError:
    return PresidioError(400, _PARSE + message)


# ---- /analyze: request --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AdHocPattern:
    name: str
    pattern: str
    score: float
    compiled: Any  # regex.Pattern[str]
    #: The deny-list pattern Presidio builds (not an ops-written regex: not probed).
    deny_list: bool = False


@dataclass(frozen=True, slots=True)
class AdHocRecognizer:
    name: str
    entity: str
    language: str
    patterns: tuple[AdHocPattern, ...]
    context: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AnalyzeRequest:
    texts: tuple[str, ...]
    batch: bool
    language: str
    entities: tuple[str, ...] | None = None
    score_threshold: float | None = None
    return_decision_process: bool = False
    ad_hoc: tuple[AdHocRecognizer, ...] = ()
    context: tuple[str, ...] = ()
    allow_list: tuple[str, ...] = ()
    allow_list_match: str = "exact"
    regex_flags: int = DEFAULT_FLAGS
    allow_regex: Any = None  # regex.Pattern[str] | None
    #: Regexes of the request to judge (ad-hoc patterns, the allow list in regex mode).
    to_probe: tuple[tuple[str, str], ...] = field(default=())


def _str_list(body: dict[str, Any], key: str, limit: int, item_chars: int) -> tuple[str, ...] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(f"{key} must be a list of strings")
    if len(value) > limit:
        raise PresidioError(413, f"{key}: at most {limit} items per request")
    if any(len(v) > item_chars for v in value):
        raise PresidioError(413, f"{key}: an item is longer than {item_chars} characters")
    return tuple(value)


def _type_error(exc: TypeError) -> str:
    """Presidio's TypeError text (``__init__() got an unexpected keyword argument 'x'``), with the
    key kept only when it is a short identifier (anything else could be a value)."""
    m = re.search(r"unexpected keyword argument '([^']*)'", str(exc))
    if m:
        key = m.group(1) if _IDENT.match(m.group(1)) else "(not shown)"
        return f"__init__() got an unexpected keyword argument '{key}'"
    m = re.search(r"missing \d+ required positional argument[s]?: (.*)$", str(exc))
    if m and all(_IDENT.match(k.strip(" '")) for k in re.split(r",| and ", m.group(1)) if k.strip(" '")):
        return f"__init__() missing required argument(s): {m.group(1)}"
    return "a recognizer has a field of the wrong type"


def _ad_hoc(raw: Any, i: int, limits: Presidio, flags: int) -> AdHocRecognizer:
    from presidio_analyzer import PatternRecognizer

    if not isinstance(raw, dict):
        raise _bad(f"ad_hoc_recognizers[{i}] must be an object")
    patterns = raw.get("patterns")
    if patterns is not None:
        if not isinstance(patterns, list) or not all(isinstance(p, dict) for p in patterns):
            raise _bad(f"ad_hoc_recognizers[{i}].patterns must be a list of objects")
        if len(patterns) > limits.max_patterns:
            raise PresidioError(413, f"ad_hoc_recognizers[{i}]: at most {limits.max_patterns} patterns")
        for j, p in enumerate(patterns):
            rx, score = p.get("regex"), p.get("score")
            if rx is not None and (not isinstance(rx, str) or len(rx) > limits.max_regex_chars):
                raise PresidioError(
                    413 if isinstance(rx, str) else 400,
                    _PARSE + f"ad_hoc_recognizers[{i}].patterns[{j}].regex must be a string of at most "
                    f"{limits.max_regex_chars} characters",
                )
            if score is not None and (
                isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1
            ):
                raise _bad(f"ad_hoc_recognizers[{i}].patterns[{j}].score must be a number between 0 and 1")
    for key, limit, chars in (("deny_list", limits.max_list_items, MAX_DENY_WORD),
                              ("context", limits.max_list_items, MAX_CONTEXT_WORD)):  # fmt: skip
        _str_list(raw, key, limit, chars)
    for key in ("name", "supported_entity", "supported_language"):
        if key in raw and not isinstance(raw[key], str):
            raise _bad(f"ad_hoc_recognizers[{i}].{key} must be a string")
    entity = raw.get("supported_entity")
    if isinstance(entity, str) and not _ENTITY_NAME.match(entity):
        raise _bad(f"ad_hoc_recognizers[{i}].supported_entity must be a name of letters, digits and '_'")
    dls = raw.get("deny_list_score")
    if dls is not None and (isinstance(dls, bool) or not isinstance(dls, int | float) or not 0 <= dls <= 1):
        raise _bad(f"ad_hoc_recognizers[{i}].deny_list_score must be a number between 0 and 1")
    try:
        rec = PatternRecognizer.from_dict(dict(raw))
    except TypeError as exc:
        raise _bad(_type_error(exc)) from None
    except ValueError as exc:
        text = str(exc)
        if "should be initialized" in text or "Only one" in text:
            msg = text  # Presidio's fixed messages
        elif "regex" in text.lower():
            msg = "a pattern does not compile"
        else:
            msg = "invalid recognizer"
        raise _bad(f"ad_hoc_recognizers[{i}]: {msg}") from None
    compiled: list[AdHocPattern] = []
    deny = getattr(rec, "deny_list", None) or []
    for j, pat in enumerate(rec.patterns):
        is_deny = bool(deny) and j == len(rec.patterns) - 1 and pat.name == "deny_list"
        try:
            rx = regex.compile(pat.regex, flags)
        except (regex.error, TypeError, ValueError, OverflowError):
            raise _bad(f"ad_hoc_recognizers[{i}].patterns[{j}] does not compile") from None
        compiled.append(AdHocPattern(str(pat.name), str(pat.regex), float(pat.score), rx, is_deny))
    return AdHocRecognizer(
        name=str(rec.name),
        entity=str(rec.supported_entities[0]),
        language=str(rec.supported_language),
        patterns=tuple(compiled),
        context=tuple(str(w) for w in (rec.context or [])),
    )


def parse_analyze(body: Any, limits: Presidio, languages: Sequence[str] = ("en",)) -> AnalyzeRequest:
    """Validate an ``/analyze`` body as Presidio's ``AnalyzerRequest`` and server would, plus our
    bounds. Raises :class:`PresidioError` (400, 413; 500 where Presidio's server answers 500)."""
    if not isinstance(body, dict):
        raise PresidioError(400, "Invalid request json")
    text = body.get("text")
    if not text:
        raise PresidioError(500, "No text provided")
    batch = isinstance(text, list)
    texts = text if batch else [text]
    if not all(isinstance(t, str) for t in texts):
        raise _bad("text must be a string or a list of strings")
    if len(texts) > limits.max_texts:
        raise PresidioError(413, f"text: at most {limits.max_texts} texts per request")
    language = body.get("language")
    if not language:
        raise PresidioError(500, "No language provided")
    if not isinstance(language, str) or language not in languages:
        raise PresidioError(500, NO_RECOGNIZERS)
    entities = _str_list(body, "entities", limits.max_list_items, 64)
    threshold = body.get("score_threshold")
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1
    ):
        raise _bad("score_threshold must be a number between 0 and 1")
    correlation = body.get("correlation_id")
    if correlation is not None and not isinstance(correlation, str | int):
        raise _bad("correlation_id must be a string")
    flags = body.get("regex_flags", DEFAULT_FLAGS)
    if flags is None:
        flags = DEFAULT_FLAGS
    if isinstance(flags, bool) or not isinstance(flags, int) or flags < 0 or flags & ~_KNOWN_FLAGS:
        raise _bad("regex_flags must be a combination of Python's re flags (I, M, S, X, A, U)")
    match = body.get("allow_list_match", "exact")
    if match is None:
        match = "exact"
    if match not in ("exact", "regex"):
        raise _bad("allow_list_match must be 'exact' or 'regex'")
    allow = _str_list(body, "allow_list", limits.max_list_items, MAX_DENY_WORD) or ()
    to_probe: list[tuple[str, str]] = []
    allow_rx = None
    if match == "regex" and allow:
        joined = "|".join(allow)
        if len(joined) > limits.max_regex_chars:
            raise PresidioError(413, f"allow_list: at most {limits.max_regex_chars} characters of regex in all")
        try:
            allow_rx = regex.compile(joined, flags)
        except (regex.error, TypeError, ValueError, OverflowError):
            raise _bad("allow_list does not compile as a regex") from None
        to_probe.append(("allow_list", joined))
    raw_ad_hoc = body.get("ad_hoc_recognizers")
    ad_hoc: list[AdHocRecognizer] = []
    if raw_ad_hoc:
        if not isinstance(raw_ad_hoc, list):
            raise _bad("ad_hoc_recognizers must be a list")
        if len(raw_ad_hoc) > limits.max_ad_hoc_recognizers:
            raise PresidioError(413, f"ad_hoc_recognizers: at most {limits.max_ad_hoc_recognizers} per request")
        for i, raw in enumerate(raw_ad_hoc):
            rec = _ad_hoc(raw, i, limits, flags)
            ad_hoc.append(rec)
            to_probe.extend((f"ad_hoc_recognizers[{i}].{p.name}", p.pattern) for p in rec.patterns if not p.deny_list)
    context = _str_list(body, "context", limits.max_list_items, MAX_CONTEXT_WORD) or ()
    return AnalyzeRequest(
        texts=tuple(texts),
        batch=batch,
        language=language,
        entities=entities,
        score_threshold=None if threshold is None else float(threshold),
        return_decision_process=bool(body.get("return_decision_process")),
        ad_hoc=tuple(ad_hoc),
        context=context,
        allow_list=allow,
        allow_list_match=match,
        regex_flags=flags,
        allow_regex=allow_rx,
        to_probe=tuple(to_probe),
    )


class _Probes:
    """:func:`recognizers.complexity.pattern_problems` of each request regex, remembered (a client
    such as LiteLLM sends the same ad-hoc recognizers with every request)."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._seen: OrderedDict[tuple[str, int], list[str]] = OrderedDict()
        self._lock = threading.Lock()

    def problems(self, name: str, pattern: str, flags: int) -> list[str]:
        from recognizers.complexity import pattern_problems

        key = (pattern, flags)
        with self._lock:
            if key in self._seen:
                self._seen.move_to_end(key)
                found = self._seen[key]
                return [m.replace("pattern 'p'", f"pattern {name!r}") for m in found]
        found = pattern_problems("p", pattern, flags)
        with self._lock:
            self._seen[key] = found
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)
        return [m.replace("pattern 'p'", f"pattern {name!r}") for m in found]


# ---- /analyze: results ---------------------------------------------------------------------------
@dataclass(slots=True)
class Result:
    entity_type: str
    start: int
    end: int
    score: float
    recognizer: str
    pattern_name: str | None = None
    pattern: str | None = None
    regex_flags: int | None = None
    original_score: float = 0.0
    context_word: str = ""
    ad_hoc: AdHocRecognizer | None = None

    def to_dict(self, explain: bool) -> dict[str, Any]:
        explanation = None
        if explain:
            textual = None if self.pattern is not None else f"Identified as {self.entity_type} by {self.recognizer}"
            explanation = {
                "original_score": self.original_score,
                "pattern": self.pattern,
                "pattern_name": self.pattern_name,
                "recognizer": self.recognizer,
                "regex_flags": self.regex_flags,
                "score": self.score,
                "score_context_improvement": self.score - self.original_score,
                "supportive_context_word": self.context_word,
                "textual_explanation": textual,
                "validation_result": None,
            }
        return {
            "analysis_explanation": explanation,
            "end": self.end,
            "entity_type": self.entity_type,
            "score": self.score,
            "start": self.start,
        }


def run_ad_hoc(req: AnalyzeRequest, deadline: float) -> list[list[Result]]:
    """The ad-hoc recognizers' matches in every text (in a thread): ``regex`` timeouts from what
    is left until ``deadline`` (``time.monotonic``); past it :class:`DetectionTimeout`."""
    out: list[list[Result]] = [[] for _ in req.texts]
    recs = [r for r in req.ad_hoc if r.language == req.language and (req.entities is None or r.entity in req.entities)]
    for i, text in enumerate(req.texts):
        for rec in recs:
            for p in rec.patterns:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DetectionTimeout("ad-hoc recognizers exceeded the detection budget")
                try:
                    for m in p.compiled.finditer(text, timeout=left):
                        if m.end() > m.start():
                            out[i].append(
                                Result(
                                    rec.entity,
                                    m.start(),
                                    m.end(),
                                    p.score,
                                    rec.name,
                                    p.name,
                                    p.pattern,
                                    req.regex_flags,
                                    p.score,
                                    ad_hoc=rec,
                                )
                            )
                except TimeoutError:
                    raise DetectionTimeout("ad-hoc recognizers exceeded the detection budget") from None
    return out


def _enhance(text: str, r: Result, extra: Sequence[str]) -> None:
    """Presidio's context enhancement of one ad-hoc result: a context word of its recognizer found
    in the five words before it (or in the request's ``context``) raises its score by 0.35, to at
    least 0.4 (Presidio compares lemmas; this compares lower-cased words)."""
    rec = r.ad_hoc
    if rec is None or not rec.context:
        return
    before = [w.lower() for w in _WORD.findall(text[max(0, r.start - 256) : r.start])][-CONTEXT_PREFIX_WORDS:]
    words = before + [w.lower() for w in extra]
    for cw in rec.context:
        low = cw.lower()
        if low and any(low in w for w in words):
            r.score = min(max(r.score + CONTEXT_FACTOR, CONTEXT_MIN_SCORE), 1.0)
            r.context_word = low
            return


def _remove_duplicates(results: list[Result]) -> list[Result]:
    """Presidio's ``EntityRecognizer.remove_duplicates``: zero scores out; a result contained in
    another of the same type with at least its score out."""
    kept: list[Result] = []
    for r in sorted(results, key=lambda x: (-x.score, x.start, -(x.end - x.start))):
        if r.score == 0:
            continue
        if any(k.entity_type == r.entity_type and k.start <= r.start and r.end <= k.end for k in kept):
            continue
        kept.append(r)
    return sorted(kept, key=lambda x: (x.start, x.end, x.entity_type))


def analyze_results(
    req: AnalyzeRequest, findings: Sequence[Sequence[Finding]], ad_hoc: Sequence[Sequence[Result]]
) -> list[list[Result]]:
    """Per text: our detector's findings and the ad-hoc matches, filtered as Presidio's
    ``AnalyzerEngine.analyze`` does (entities, context, score threshold, allow list, duplicates)."""
    out: list[list[Result]] = []
    threshold = req.score_threshold or 0.0
    for text, found, extra in zip(req.texts, findings, ad_hoc, strict=True):
        results = [Result(f.entity, f.start, f.end, f.score, f.recognizer, original_score=f.score) for f in found]
        if req.entities is not None:
            results = [r for r in results if r.entity_type in req.entities]
        for r in extra:
            _enhance(text, r, req.context)
        results.extend(extra)
        results = [r for r in results if r.score >= threshold]
        if req.allow_list:
            if req.allow_regex is not None:
                try:
                    results = [
                        r
                        for r in results
                        if req.allow_regex.search(text[r.start : r.end], timeout=ALLOW_TIMEOUT) is None
                    ]
                except TimeoutError:
                    raise DetectionTimeout("the allow list exceeded its time on a finding") from None
            else:
                allowed = set(req.allow_list)
                results = [r for r in results if text[r.start : r.end] not in allowed]
        out.append(_remove_duplicates(results))
    return out


# ---- the app ------------------------------------------------------------------------------------
@dataclass
class Face:
    rt: Runtime
    limits: Presidio
    token: str | None
    probes: _Probes = field(default_factory=_Probes)
    anonymizer: Any = None
    deanonymizer: Any = None

    @property
    def recognizers(self) -> list[tuple[str, list[str], list[str]]]:
        description = getattr(self.rt.detection.backend, "description", None)
        return list(description or [])

    def entities(self) -> list[str]:
        seen: dict[str, None] = {}
        for _, ents, _ in self.recognizers:
            for e in ents:
                seen.setdefault(e, None)
        return list(seen)

    @property
    def languages(self) -> tuple[str, ...]:
        return (self.rt.cfg.detection.language,)


FACE = web.AppKey("presidio_face", Face)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(value: Any, status: int = 200, *, sort_keys: bool = False) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(value, sort_keys=sort_keys).encode(), content_type="application/json"
    )


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


_ROUTES = frozenset(
    ["/analyze", "/anonymize", "/deanonymize", "/recognizers", "/supportedentities", "/health",
     "/anonymizers", "/deanonymizers"]
)  # fmt: skip


@web.middleware
async def _edge(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Auth, then the handler; every failure becomes ``{"error": ...}``; one metric per request."""
    started = metrics.now()
    face = request.app[FACE]
    rid = request_id(request)
    route = "presidio:" + (request.path if request.path in _ROUTES else "-")
    try:
        if face.token is not None and request.path != "/health":
            given = request.headers.get("Authorization", "")
            scheme, _, value = given.partition(" ")
            if not (scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), face.token.encode())):
                raise PresidioError(401, "Unauthorized")
        resp = await handler(request)
    except asyncio.CancelledError:
        raise
    except PresidioError as exc:
        resp = _error(exc.status, exc.message)
        if exc.status == 401:
            resp.headers["WWW-Authenticate"] = "Bearer"
    except DetectionTimeout as exc:
        log.warning("presidio %s rid=%s: %s", route, rid, exc.__class__.__name__)
        resp = _error(503, f"{exc}; nothing was analysed")
    except DetectionError as exc:
        log.warning("presidio %s rid=%s: %s", route, rid, exc.__class__.__name__)
        resp = _error(503, "detection failed; nothing was analysed")
    except VaultError as exc:
        log.warning("presidio %s rid=%s: the vault failed (%s)", route, rid, exc.__class__.__name__)
        resp = _error(503, "the pseudonym vault is unavailable; nothing was changed")
    except web.HTTPRequestEntityTooLarge:
        resp = _error(413, f"request body too large (limit {face.limits.max_body_bytes} bytes)")
    except web.HTTPException as exc:
        resp = _error(exc.status, exc.reason)
    except Exception as exc:
        log.error(
            "presidio internal error rid=%s: %s\n%s",
            rid,
            exc.__class__.__name__,
            "".join(traceback.format_tb(exc.__traceback__)),
        )
        resp = _error(500, "Internal server error")
    resp.headers["X-Request-Id"] = rid
    metrics.observe_request(route, resp.status, metrics.now() - started)
    return resp


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise PresidioError(400, "Invalid request json") from None


async def _analyze(request: web.Request) -> web.StreamResponse:
    face = request.app[FACE]
    req = parse_analyze(await _body(request), face.limits, face.languages)
    if req.entities is not None:
        known = set(face.entities()) | {r.entity for r in req.ad_hoc if r.language == req.language}
        if face.recognizers and not known.intersection(req.entities):
            raise PresidioError(500, NO_RECOGNIZERS)
    cfg = face.rt.cfg.timeouts
    if req.to_probe:
        problems: list[str] = []
        probing_until = time.monotonic() + PROBE_BUDGET
        for name, pattern in req.to_probe:
            if time.monotonic() > probing_until:
                raise _bad(f"checking the request's regexes took over {PROBE_BUDGET:g} s; send fewer or simpler ones")
            problems += await asyncio.to_thread(face.probes.problems, name, pattern, req.regex_flags)
        if problems:
            raise _bad("; ".join(problems))
    deadline = time.monotonic() + min(cfg.detection_budget, cfg.detection_deadline)
    detect = face.rt.detect(list(req.texts))
    if req.ad_hoc:
        findings, extra = await asyncio.gather(detect, asyncio.to_thread(run_ad_hoc, req, deadline))
    else:
        findings, extra = await detect, [[] for _ in req.texts]
    results = analyze_results(req, findings, extra)
    for per_text in results:
        for r in per_text:
            metrics.count_finding("presidio", "AD_HOC" if r.ad_hoc is not None else r.entity_type, "analyze")
    dicts = [[r.to_dict(req.return_decision_process) for r in per_text] for per_text in results]
    return _json(dicts if req.batch else dicts[0], sort_keys=True)


def _results_list(body: dict[str, Any], key: str, limit: int, *, need_score: bool) -> list[dict[str, Any]]:
    raw = body.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise PresidioError(422, f"Invalid input, {key} must be a list")
    if len(raw) > limit:
        raise PresidioError(413, f"{key}: at most {limit} items per request")
    for item in raw:
        if not isinstance(item, dict):
            raise PresidioError(422, f"Invalid input, every item of {key} must be an object")
        for k in ("start", "end"):
            v = item.get(k)
            if isinstance(v, bool) or not isinstance(v, int):
                raise PresidioError(422, f"Invalid input, {key}: {k} must be an integer")
        et = item.get("entity_type")
        if not isinstance(et, str) or not _ENTITY_NAME.match(et):
            raise PresidioError(422, f"Invalid input, {key}: entity_type must be a name of letters, digits and '_'")
        score = item.get("score")
        if need_score and (isinstance(score, bool) or not isinstance(score, int | float)):
            raise PresidioError(422, f"Invalid input, {key}: score must be a number")
    return raw


def _operators(body: dict[str, Any], key: str, limit: int) -> dict[str, Any]:
    from presidio_anonymizer.entities import OperatorConfig

    raw = body.get(key)
    if raw is None:
        return {}
    if not isinstance(raw, dict) or len(raw) > limit:
        raise PresidioError(422, f"Invalid input, {key} must be an object of at most {limit} entries")
    out: dict[str, Any] = {}
    for entity, conf in raw.items():
        if not isinstance(conf, dict) or not isinstance(conf.get("type"), str):
            raise PresidioError(422, f"Invalid input, every operator of {key} must be an object with a type")
        if conf["type"] == "custom":
            raise PresidioError(400, "Custom type anonymizer is not supported")
        if conf["type"] == PSEUDONYM:
            scope = conf.get("scope")
            if scope is not None and (not isinstance(scope, str) or not 0 < len(scope) <= MAX_SCOPE_CHARS):
                raise PresidioError(
                    422, f"Invalid input, the pseudonym operator's scope must be a string of 1 to {MAX_SCOPE_CHARS} "
                    "characters"
                )  # fmt: skip
        out[str(entity)] = OperatorConfig.from_json(dict(conf))
    return out


# ---- pseudonyms: the vault behind the ``pseudonym`` operator ----------------------------------------
PSEUDONYM = "pseudonym"
#: Characters of a pseudonym operator's ``scope``.
MAX_SCOPE_CHARS = 256
#: The prefix of the face's vault scopes: never a destination's (``conversation:...``, ``global``).
SCOPE_PREFIX = "presidio:"


def _vault_of(face: Face) -> Vault:
    """The worker's vault, or Presidio's "invalid operator" 422 saying why there is none."""
    vault = face.rt.vault
    if vault is None:
        s = face.rt.cfg.secrets
        raise PresidioError(
            422,
            f"Invalid operator class '{PSEUDONYM}'. (the pseudonym vault is off: it needs {s.vault_key_env} and "
            f"{s.pseudonym_key_env} set and a destination in use that pseudonymises or un-masks)",
        )
    return vault


def _operator_for(entity: str, operators: dict[str, Any]) -> Any:
    """The operator presidio's engine will choose for an entity type (its own, else DEFAULT)."""
    return operators.get(entity) or operators.get("DEFAULT")


def _token_entity(entity: str) -> str:
    """The entity part of a token as the vault's :data:`~proxy.vault.TOKEN` reads it back."""
    return entity.upper()[:48]


def _count_entity(face: Face, entity: str) -> str:
    """A metric label: a known entity type, else ``OTHER`` (a client's types are unbounded)."""
    return entity if entity in face.entities() else "OTHER"


@dataclass
class _Pseudonyms:
    """What the ``pseudonym`` operators of one request use in presidio's engine (run in a thread).
    ``/anonymize`` runs the engine twice: first collecting the values of the spans as the engine
    settles them (after its conflict resolution and whitespace merging), then, once the vault gave
    their tokens in one round-trip, for real. Only the values replaced are ever sent to the vault
    (no token for a fragment the engine merged away, which an erasure could never find)."""

    vault: Vault
    loop: asyncio.AbstractEventLoop
    tokens: dict[tuple[str, str, str], str] = field(default_factory=dict)
    revealed: dict[str, str] = field(default_factory=dict)
    #: The first pass: the (scope, entity, value) the engine asks for.
    collecting: dict[tuple[str, str, str], None] | None = None

    def _wait(self, coro: Any) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(self.vault.timeout + 1.0)
        except TimeoutError:
            future.cancel()
            raise VaultError("vault call timed out") from None

    def token(self, scope: str, entity: str, value: str) -> str:
        key = (scope, _token_entity(entity), value)
        if self.collecting is not None:
            self.collecting[key] = None
            return ""
        if key not in self.tokens:  # not collected (not expected): asked for on its own
            (self.tokens[key],) = self._wait(self.vault.pseudonymize(key[1], [value], scope))
        return self.tokens[key]

    def reveal(self, text: str) -> str:
        wanted = [t for t in find_tokens(text) if t not in self.revealed]
        if wanted:
            self.revealed.update(self._wait(self.vault.reveal(wanted)))
        return unmask_text(text, self.revealed)


def _param_error(exc: Exception) -> PresidioError:
    msg = getattr(exc, "err_msg", "") or "invalid parameter"
    # Presidio's parameter messages name parameters and operators; cap them all the same.
    return PresidioError(422, str(msg)[:300])


async def _anonymize(request: web.Request) -> web.StreamResponse:
    from presidio_anonymizer.entities import InvalidParamError, RecognizerResult

    face = request.app[FACE]
    body = await _body(request)
    if not body or not isinstance(body, dict):
        raise PresidioError(400, "Invalid request json")
    operators = _operators(body, "anonymizers", face.limits.max_list_items)
    if body.get("analyzer_results") is None:
        raise PresidioError(422, "Invalid input, request must contain analyzer results")
    raw = _results_list(body, "analyzer_results", face.limits.max_results, need_score=True)
    text = body.get("text", "")
    if not isinstance(text, str):
        raise PresidioError(422, "Invalid input, text must be a string")
    results = [RecognizerResult.from_json(r) for r in raw]

    def run() -> Any:
        return face.anonymizer.anonymize(text=text, analyzer_results=results, operators=operators)

    async def engine() -> Any:
        try:
            return await asyncio.to_thread(run)
        except InvalidParamError as exc:
            raise _param_error(exc) from None

    pseudonymised = [e for e, conf in operators.items() if conf.operator_name == PSEUDONYM]
    if pseudonymised:
        ctx = _Pseudonyms(_vault_of(face), asyncio.get_running_loop(), collecting={})
        per_request = f"{SCOPE_PREFIX}request:{secrets.token_hex(16)}"
        for entity in pseudonymised:
            params = operators[entity].params
            scope = params.pop("scope", None)
            params["_scope"] = per_request if scope is None else f"{SCOPE_PREFIX}scope:{scope}"
            params["_vault"] = ctx
        await engine()  # collects the values to pseudonymise
        assert ctx.collecting is not None
        wanted, ctx.collecting = list(ctx.collecting), None
        if wanted:
            ctx.tokens.update(zip(wanted, await ctx.vault.pseudonymize_many(wanted), strict=True))
    result = await engine()
    for item in result.items:
        metrics.count_finding("presidio", _count_entity(face, item.entity_type), str(item.operator))
    return web.Response(body=str(result.to_json()).encode(), content_type="application/json")


async def _deanonymize(request: web.Request) -> web.StreamResponse:
    from presidio_anonymizer.entities import InvalidParamError, OperatorResult

    face = request.app[FACE]
    body = await _body(request)
    if not body or not isinstance(body, dict):
        raise PresidioError(400, "Invalid request json")
    text = body.get("text")
    if not isinstance(text, str):
        raise PresidioError(422, "Invalid input, text must be a string")
    raw = _results_list(body, "anonymizer_results", face.limits.max_results, need_score=False)
    operators = _operators(body, "deanonymizers", face.limits.max_list_items)
    entities = [OperatorResult.from_json(r) for r in raw]
    revealing = [e for e, conf in operators.items() if conf.operator_name == PSEUDONYM]
    if revealing:
        ctx = _Pseudonyms(_vault_of(face), asyncio.get_running_loop())
        for entity in revealing:
            operators[entity].params.pop("scope", None)  # a token is revealed whatever its scope
            operators[entity].params["_vault"] = ctx

        def reveals(entity: str) -> bool:
            conf = _operator_for(entity, operators)
            return conf is not None and conf.operator_name == PSEUDONYM

        if not raw:
            # no spans (a client that keeps only the text): every token whose entity type goes to
            # the pseudonym deanonymizer is a span; only the ones restored become items
            found = [(m.start(), m.end(), m.group(0)[1:-18]) for m in TOKEN.finditer(text)]
            if len(found) > face.limits.max_results:
                raise PresidioError(413, f"text: at most {face.limits.max_results} tokens per request")
            entities = [OperatorResult(start, end, entity) for start, end, entity in found if reveals(entity)]
        wanted = [t for e in entities if reveals(e.entity_type) for t in find_tokens(text[e.start : e.end])]
        if wanted:
            ctx.revealed.update(await ctx.vault.reveal(wanted))
        if not raw:
            entities = [e for e in entities if text[e.start : e.end] in ctx.revealed]

    def run() -> Any:
        return face.deanonymizer.deanonymize(text=text, entities=entities, operators=operators)

    try:
        result = await asyncio.to_thread(run)
    except InvalidParamError as exc:
        raise _param_error(exc) from None
    except ValueError:
        # a wrong key or a value that was not encrypted: no detail (it could quote the value)
        raise PresidioError(422, "Invalid input, a value cannot be decrypted with the given key") from None
    for item in result.items:
        metrics.count_finding("presidio", _count_entity(face, item.entity_type), str(item.operator))
    return web.Response(body=str(result.to_json()).encode(), content_type="application/json")


def _language(request: web.Request, face: Face) -> None:
    language = request.query.get("language")
    if language is not None and language not in face.languages:
        raise PresidioError(500, NO_RECOGNIZERS)


async def _recognizers(request: web.Request) -> web.StreamResponse:
    face = request.app[FACE]
    _language(request, face)
    return _json([name for name, _, _ in face.recognizers])


async def _supported(request: web.Request) -> web.StreamResponse:
    face = request.app[FACE]
    _language(request, face)
    return _json(face.entities())


async def _health(request: web.Request) -> web.StreamResponse:
    face = request.app[FACE]
    if not face.rt.detection.ready:
        raise PresidioError(503, "detection is not running")
    return web.Response(text="Presidio Analyzer service is up", content_type="text/plain")


def _listed(face: Face, names: list[str]) -> list[str]:
    """Operator names, without ``pseudonym`` while there is no vault (it would answer 422)."""
    return sorted(n for n in names if n != PSEUDONYM or face.rt.vault is not None)


async def _anonymizers(request: web.Request) -> web.StreamResponse:
    face = request.app[FACE]
    return _json(_listed(face, face.anonymizer.get_anonymizers()))


async def _deanonymizers(request: web.Request) -> web.StreamResponse:
    face = request.app[FACE]
    return _json(_listed(face, face.deanonymizer.get_deanonymizers()))


# ---- our operators, for presidio_anonymizer's engine ------------------------------------------------
def _our_operators() -> list[type[Any]]:
    from presidio_anonymizer.operators import Operator, OperatorType

    def make(op_name: str, fn: Callable[[str], str | None]) -> type[Any]:
        class _Ours(Operator):  # type: ignore[misc]
            def operate(self, text: str, params: dict[str, Any] | None = None) -> str:
                out = fn(text)
                # a value the generaliser cannot parse becomes its tag, never itself
                return out if out is not None else tag(str((params or {}).get("entity_type", "PII")))

            def validate(self, params: dict[str, Any] | None = None) -> None:
                return None

            def operator_name(self) -> str:
                return op_name

            def operator_type(self) -> Any:
                return OperatorType.Anonymize

        _Ours.__name__ = _Ours.__qualname__ = f"Operator_{op_name}"
        return _Ours

    return [
        make("zip3", zip3),
        make("age_band", age_band),
        make("income_band", income_band),
        make("ip_truncate", ip_truncate),
    ]


def _pseudonym_operators() -> tuple[type[Any], type[Any]]:
    """``pseudonym`` for presidio's engines: its params carry the request's :class:`_Pseudonyms`
    (``_vault``) and scope (``_scope``), set by the face, never by the client."""
    from presidio_anonymizer.operators import Operator, OperatorType

    class Pseudonymize(Operator):  # type: ignore[misc]
        def operate(self, text: str, params: dict[str, Any] | None = None) -> str:
            p = params or {}
            return str(p["_vault"].token(p["_scope"], str(p.get("entity_type", "PII")), text))

        def validate(self, params: dict[str, Any] | None = None) -> None:
            if not isinstance((params or {}).get("_vault"), _Pseudonyms):
                raise VaultError("the pseudonym operator has no vault")

        def operator_name(self) -> str:
            return PSEUDONYM

        def operator_type(self) -> Any:
            return OperatorType.Anonymize

    class Reveal(Pseudonymize):
        def operate(self, text: str, params: dict[str, Any] | None = None) -> str:
            return str((params or {})["_vault"].reveal(text))

        def operator_type(self) -> Any:
            return OperatorType.Deanonymize

    return Pseudonymize, Reveal


def build_presidio_app(rt: Runtime, limits: Presidio, environ: dict[str, str] | None = None) -> web.Application:
    """The face's application over a worker's :class:`Runtime` (its detection service must be
    started by the worker's main application)."""
    from presidio_anonymizer import AnonymizerEngine, DeanonymizeEngine

    env = os.environ if environ is None else environ
    token = env.get(limits.token_env) or None
    anonymizer = AnonymizerEngine()
    for op in _our_operators():
        anonymizer.add_anonymizer(op)
    pseudonymize, reveal = _pseudonym_operators()
    anonymizer.add_anonymizer(pseudonymize)
    deanonymizer = DeanonymizeEngine()
    deanonymizer.add_deanonymizer(reveal)
    app = web.Application(client_max_size=limits.max_body_bytes, middlewares=[_edge])
    app[FACE] = Face(rt, limits, token, anonymizer=anonymizer, deanonymizer=deanonymizer)
    app.router.add_post("/analyze", _analyze)
    app.router.add_post("/anonymize", _anonymize)
    app.router.add_post("/deanonymize", _deanonymize)
    app.router.add_get("/recognizers", _recognizers)
    app.router.add_get("/supportedentities", _supported)
    app.router.add_get("/health", _health)
    app.router.add_get("/anonymizers", _anonymizers)
    app.router.add_get("/deanonymizers", _deanonymizers)
    return app
