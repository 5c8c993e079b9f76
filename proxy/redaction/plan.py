"""Payload walkers: turn a payload into the texts to scan, then rebuild it from the findings.

Sans-io, two phases, so that the caller can await detection in between::

    plan = walker.json_value(value)        # walks the payload, applies field rules
    findings = await detect(plan.texts)    # one call for all segments of the payload
    value, events = plan.finish(findings)  # rewrites the scanned texts

(:func:`proxy.redaction.core.run` does the middle step; the transport only supplies ``detect``.)

Field rules that need no detection (``keep``, ``drop``, ``hash``, ``zip3`` ...) are applied
in the first phase; every string under a ``scan`` rule becomes a segment.
"""

from __future__ import annotations

import json
import math
import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qsl, urlencode

from proxy.errors import PayloadError, PolicyError, UnsupportedContent, Withheld
from proxy.operators import parse_age
from proxy.policy import AuditEvent, PathPart, Policy
from recognizers.types import Finding

__all__ = [
    "Batch",
    "Detect",
    "OnMessage",
    "Plan",
    "TokenVault",
    "Walker",
    "decode_text",
    "parse_json",
    "run",
    "run_sync",
]

#: Detection, injected: one call for all the texts of one payload, findings per text.
Detect = Callable[[list[str]], Awaitable[list[list[Finding]]]]
#: Called once per redacted stream message with its audit events (the transport records them).
OnMessage = Callable[[list[AuditEvent]], None]

R = TypeVar("R", covariant=True)


class TokenVault(Protocol):
    """The pseudonym vault as the core sees it, injected like ``detect`` (``proxy.vault.Vault``):
    one round-trip resolves every pseudonym of a plan; one reveals every token of a chunk."""

    async def pseudonymize_many(self, items: Sequence[tuple[str, str, str]]) -> list[str]: ...

    async def reveal(self, tokens: Sequence[str]) -> dict[str, str]: ...


class Finishable(Protocol[R]):
    """Anything planned: the texts to scan, and how to finish from their findings."""

    @property
    def texts(self) -> list[str]: ...

    async def resolve(self, findings: Sequence[Sequence[Finding]]) -> None: ...

    def finish(self, findings: Sequence[Sequence[Finding]]) -> R: ...


async def run(plan: Finishable[R], detect: Detect) -> R:
    """The one way to run a plan: one detection call for all its texts, one vault call for all
    its pseudonyms (when its policy has any), then finish it. Detection and vault errors
    propagate unchanged (the transport fails closed on them)."""
    texts = plan.texts
    findings = await detect(texts) if texts else []
    if findings:
        await plan.resolve(findings)
    return plan.finish(findings)


def run_sync(plan: Finishable[R], analyze: Callable[[list[str]], list[list[Finding]]]) -> R:
    """:func:`run` with a synchronous detector in this process (the command line)."""
    texts = plan.texts
    return plan.finish(analyze(texts) if texts else [])


@dataclass(eq=False)
class _Slot:
    index: int
    #: A JSON number scanned as text: kept as that number unless a finding changed it.
    number: int | float | None = None


#: A JSON number is scanned only with at least this many digits: the shortest identifiers the
#: detector knows (a ZIP code) have five; an age or an amount alone is no finding without context.
_NUMBER_MIN_DIGITS = 5
#: JSON deeper than this is refused (400): walking it would cost recursion, not privacy.
MAX_JSON_DEPTH = 64
#: Keys that detection found nothing in are remembered (per destination, at most this many, each
#: at most ``_KEY_CACHE_LEN`` characters), so the keys of a log schema are scanned once, not per
#: record. Only keys without findings are kept: no personal data is cached.
_KEY_CACHE_SIZE = 4096
_KEY_CACHE_LEN = 64


@dataclass
class Plan:
    """Texts to scan plus how to rebuild the payload from their findings."""

    policy: Policy
    texts: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    events: list[AuditEvent] = field(default_factory=list)
    template: Any = None
    render: Callable[[Any], Any] = lambda v: v
    #: Slots of keys, and the cache their clean results go to.
    keys: list[int] = field(default_factory=list)
    key_cache: set[str] | None = None
    #: Pseudonyms: the vault, the conversation named in the payload (its scope field), the one
    #: the transport knows (a header, the connection), and the tokens resolved for this plan.
    vault: TokenVault | None = None
    scope: str | None = None
    default_scope: str | None = None
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    def effective_scope(self) -> str:
        """What the same person gets the same token within: ``global``, or the conversation
        (the payload's field, else the transport's header or connection, else this plan)."""
        if self.policy.dest.pseudonyms.scope == "global":
            return "global"
        if self.scope is None and self.default_scope is None:
            self.default_scope = "unnamed:" + secrets.token_hex(8)
        return "conversation:" + str(self.scope if self.scope is not None else self.default_scope)

    async def resolve(self, findings: Sequence[Sequence[Finding]]) -> None:
        await resolve_pseudonyms([self], findings)

    def _token_for(self, entity: str, value: str) -> str | None:
        return self.tokens.get((entity, value))

    def slot(self, text: str, path: str, number: int | float | None = None) -> _Slot:
        self.texts.append(text)
        self.paths.append(path)
        return _Slot(len(self.texts) - 1, number)

    def key_slot(self, key: str, path: str) -> _Slot:
        s = self.slot(key, path)
        self.keys.append(s.index)
        return s

    def finish(self, findings: Sequence[Sequence[Finding]]) -> tuple[Any, list[AuditEvent]]:
        if len(findings) != len(self.texts):
            raise ValueError("findings do not match the plan's texts")
        redacted = []
        events = list(self.events)
        token_for = self._token_for if self.policy.pseudonymises else None
        for text, path, found in zip(self.texts, self.paths, findings, strict=True):
            out, evs = self.policy.redact_text(text, found, path, token_for)
            redacted.append(out)
            events.extend(evs)
        cache = self.key_cache
        if cache is not None:
            for i in self.keys:
                if not findings[i] and len(cache) < _KEY_CACHE_SIZE and len(self.texts[i]) <= _KEY_CACHE_LEN:
                    cache.add(self.texts[i])
        return self.render(_fill(self.template, redacted, self.texts)), events


async def resolve_pseudonyms(plans: Sequence[Plan], findings: Sequence[Sequence[Finding]]) -> None:
    """One vault round-trip for every pseudonym the plans' findings need (each in its plan's
    scope); the tokens go to each plan's ``tokens`` for :meth:`Plan.finish`."""
    items: list[tuple[str, str, str]] = []
    owners: list[Plan] = []
    vault: TokenVault | None = None
    at = 0
    for p in plans:
        n = len(p.texts)
        if p.policy.pseudonymises:
            wanted = [w for text, found in zip(p.texts, findings[at : at + n], strict=True)
                      for w in p.policy.pseudonyms_wanted(text, found)]  # fmt: skip
            if wanted:
                if p.vault is None:
                    raise PolicyError(f"destination {p.policy.name!r} pseudonymises but has no vault")
                vault = p.vault
                scope = p.effective_scope()
                items += [(scope, entity, value) for entity, value in wanted]
                owners += [p] * len(wanted)
        at += n
    if vault is None or not items:
        return
    tokens = await vault.pseudonymize_many(items)
    for p, (_, entity, value), token in zip(owners, items, tokens, strict=True):
        p.tokens[(entity, value)] = token


def _fill(node: Any, texts: list[str], originals: list[str]) -> Any:
    if isinstance(node, _Slot):
        if node.number is not None and texts[node.index] == originals[node.index]:
            return node.number
        return texts[node.index]
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            key = texts[k.index] if isinstance(k, _Slot) else k
            if key in out:  # two keys redacted to the same tag: both kept, told apart
                n = 2
                while f"{key}#{n}" in out:
                    n += 1
                key = f"{key}#{n}"
            out[key] = _fill(v, texts, originals)
        return out
    if isinstance(node, list):
        return [_fill(v, texts, originals) for v in node]
    return node


class Batch:
    """Several plans finished from one detection call (e.g. a request's query, headers and
    body; the lines of one stream chunk)."""

    def __init__(self, plans: Sequence[Plan]) -> None:
        self.plans = list(plans)
        self.texts = [t for p in self.plans for t in p.texts]

    async def resolve(self, findings: Sequence[Sequence[Finding]]) -> None:
        await resolve_pseudonyms(self.plans, findings)

    def finish(self, findings: Sequence[Sequence[Finding]]) -> list[tuple[Any, list[AuditEvent]]]:
        if len(findings) != len(self.texts):
            raise ValueError("findings do not match the batch's texts")
        out = []
        at = 0
        for p in self.plans:
            n = len(p.texts)
            out.append(p.finish(findings[at : at + n]))
            at += n
        return out


class Walker:
    """Builds plans for one destination's policy."""

    def __init__(self, policy: Policy, vault: TokenVault | None = None) -> None:
        self.policy = policy
        self.vault = vault
        self._clean_keys: set[str] = set()
        #: The top-level field that names the conversation (pseudonyms' scope), if it matters.
        self._scope_field = policy.dest.pseudonyms.field if policy.pseudonymises else None

    def _plan(self) -> Plan:
        return Plan(self.policy, key_cache=self._clean_keys, vault=self.vault)

    def _key(self, key: str, where: str, plan: Plan) -> Any:
        """A key that goes out: raw when the config names it (or detection already found nothing
        in it), else scanned like a value. ``where``: its audit path."""
        if key in self.policy.known_names or key in self._clean_keys:
            return key
        return plan.key_slot(key, where + " (key)")

    # ---- JSON ---------------------------------------------------------------------------------
    def json_value(self, value: Any, root: Sequence[PathPart] = ()) -> Plan:
        plan = self._plan()
        if self.policy.dest.minors is not None and not root:
            value = self._minors(value, plan)
        plan.template = self._walk(value, tuple(root), plan, inherited=None)
        if plan.template is _DROPPED:
            plan.template = None
        return plan

    def json_bytes(self, body: bytes, root: Sequence[PathPart] = (), charset: str | None = None) -> Plan:
        value = parse_json(body if charset is None else decode_text(body, charset))
        plan = self.json_value(value, root)
        plan.render = lambda v: _dumps(v).encode()
        return plan

    def _walk(self, value: Any, path: tuple[PathPart, ...], plan: Plan, inherited: str | None) -> Any:
        """``inherited`` is ``scan``/``keep`` when an ancestor's rule covers this whole subtree.

        Items of a top-level array are roots of their own (a batch of messages): field rules
        apply to each item as they would to a single message.
        """
        where = self.policy.audit_path(path)
        full = path
        at = 0
        while at < len(path) and isinstance(path[at], int):
            at += 1
        path = path[at:]
        if (
            self._scope_field is not None
            and len(path) == 1
            and path[0] == self._scope_field
            and plan.scope is None
            and isinstance(value, str | int)
            and not isinstance(value, bool)
        ):
            plan.scope = str(value)
        rule = self.policy.rule_at(path) if path else None
        mode = inherited
        if rule is not None:
            if rule.operator == "keep" and isinstance(value, dict | list):
                # keep takes scalars: a structure under a keep rule is scanned like text, so a
                # client cannot smuggle a whole object past detection in a kept field
                plan.events.append(AuditEvent(where, "scan", reason="keep takes scalars"))
                mode = "scan"
            elif rule.operator in ("keep", "scan"):
                mode = rule.operator
            else:
                keep, new, event = self.policy.field_value(value, rule, where)
                plan.events.append(event)
                return new if keep else _DROPPED
        if mode == "keep":
            return value
        if (
            mode is None
            and path
            and isinstance(value, dict | list)
            and self.policy.dest.default_field != "scan"
            and not self.policy.rules_below(path)
        ):
            # No rule names anything inside: the whole subtree falls under the default.
            if self.policy.dest.default_field == "keep":
                return value
            plan.events.append(AuditEvent(where, "drop", reason="default deny"))
            return _DROPPED
        if isinstance(value, dict | list):
            if isinstance(value, dict):
                out_d: dict[Any, Any] = {}
                for k, v in value.items():
                    got = self._walk(v, (*full, k), plan, mode)
                    if got is not _DROPPED:
                        out_d[self._key(k, self.policy.audit_path((*full, k)), plan)] = got
                return out_d
            out_l = []
            for i, v in enumerate(value):
                got = self._walk(v, (*full, i), plan, mode)
                if got is not _DROPPED:
                    out_l.append(got)
            return out_l
        if mode is None:
            mode = self.policy.dest.default_field if path else "scan"
            if mode == "drop":
                plan.events.append(AuditEvent(where, "drop", reason="default deny"))
                return _DROPPED
            if mode == "keep":
                return value
        # scan: strings and numbers are segments (a number stays a number unless a finding
        # rewrites it: a card number sent as a JSON number); booleans and null stay
        if isinstance(value, str):
            return plan.slot(value, where)
        if isinstance(value, int | float) and not isinstance(value, bool):
            text = _dumps(value)
            if sum(c.isdigit() for c in text) < _NUMBER_MIN_DIGITS:
                return value  # a status code, a count, a duration: no identifier is this short
            return plan.slot(text, where, number=value)
        return value

    # ---- children's data -------------------------------------------------------------------------
    def _minors(self, value: Any, plan: Plan) -> Any:
        """The ``minors`` rule, before any field rule: every message of the payload (the value,
        or each item of a top-level array) whose age field says a child either withholds the
        whole payload (:class:`Withheld`) or loses the rule's fields (audited)."""
        rule = self.policy.dest.minors
        assert rule is not None
        if isinstance(value, list):
            return [self._minors(v, plan) for v in value]
        if not isinstance(value, dict):
            return value
        found = _get(value, rule.field.split("."))
        age = None if found is _DROPPED else parse_age(found)
        if age is None or age >= rule.under:
            return value
        if rule.action == "block":
            raise Withheld("the policy withholds this message; nothing was forwarded", path=rule.field, reason="minor")
        for dotted in rule.drop_fields or (rule.field,):
            value = _without(value, dotted.split("."))
            plan.events.append(AuditEvent(dotted, "drop", reason="minor"))
        return value

    def _form_minor(self, pairs: list[tuple[str, str]], plan: Plan) -> list[tuple[str, str]]:
        """The ``minors`` rule on a form: its keys are flat (``survey.age=11``)."""
        rule = self.policy.dest.minors
        if rule is None:
            return pairs
        ages = [parse_age(v) for k, v in pairs if k == rule.field]
        if not any(a is not None and a < rule.under for a in ages):
            return pairs
        if rule.action == "block":
            raise Withheld("the policy withholds this message; nothing was forwarded", path=rule.field, reason="minor")
        gone = set(rule.drop_fields or (rule.field,))
        plan.events.extend(AuditEvent(d, "drop", reason="minor") for d in sorted(gone))
        return [(k, v) for k, v in pairs if k not in gone]

    # ---- text ---------------------------------------------------------------------------------
    def text(self, text: str, path: str = "body") -> Plan:
        plan = self._plan()
        plan.template = plan.slot(text, path)
        return plan

    def text_bytes(self, body: bytes, charset: str = "utf-8", path: str = "body") -> Plan:
        plan = self.text(decode_text(body, charset), path)
        plan.render = lambda v: v.encode("utf-8")  # forwarded as UTF-8 whatever came in
        return plan

    # ---- form ---------------------------------------------------------------------------------
    def form_bytes(self, body: bytes, charset: str = "utf-8") -> Plan:
        """Form fields follow the same field rules as a flat JSON object."""
        text = decode_text(body, charset)
        try:
            pairs = parse_qsl(
                text, keep_blank_values=True, strict_parsing=bool(text), encoding=charset, errors="strict"
            )
        except (ValueError, UnicodeDecodeError):
            raise PayloadError("malformed form body") from None
        plan = self._plan()
        pairs = self._form_minor(pairs, plan)
        items: list[Any] = []
        for k, v in pairs:
            got = self._walk(v, (k,), plan, None)
            if got is not _DROPPED:
                items.append([self._key(k, self.policy.audit_path((k,)), plan), got])
        plan.template = items
        plan.render = lambda v: urlencode([tuple(p) for p in v]).encode("ascii")
        return plan

    def query(self, pairs: Sequence[tuple[str, str]]) -> Plan:
        """Query-string keys and values are scanned as text."""
        plan = self._plan()
        where = [(k, "query." + self.policy.audit_path((k,))) for k, _ in pairs]
        plan.template = [[self._key(k, w, plan), plan.slot(v, w)] for (k, w), (_, v) in zip(where, pairs, strict=True)]
        plan.render = lambda v: [(k, val) for k, val in v]
        return plan

    def path(self, segments: Sequence[str]) -> Plan:
        """The segments of a URL path (after the route's prefix), scanned like keys: an e-mail
        in ``/users/<e-mail>/messages`` is as personal as in a body. Renders the segments."""
        plan = self._plan()
        plan.template = [plan.key_slot(s, "path") if s and s not in self._clean_keys else s for s in segments]
        plan.render = list
        return plan

    def headers(self, pairs: Sequence[tuple[str, str]]) -> Plan:
        """Header values scanned as text; renders ``[(name, value), ...]``."""
        plan = self._plan()
        plan.template = [[k, plan.slot(v, f"header.{k.lower()}")] for k, v in pairs]
        plan.render = lambda v: [(k, val) for k, val in v]
        return plan

    def message(self, data: str) -> Plan:
        """A chat message (WebSocket text, SSE data): JSON follows the field rules, other text
        is scanned whole. Renders a ``str``."""
        if data.lstrip()[:1] in ("{", "[", '"'):  # a JSON string too: its escapes are decoded
            try:
                value = _loads(data)
            except PayloadError:
                pass
            else:
                plan = self.json_value(value)
                plan.render = _dumps
                return plan
        return self.text(data, "message")


def _get(value: Any, keys: Sequence[str]) -> Any:
    for k in keys:
        if not isinstance(value, dict) or k not in value:
            return _DROPPED
        value = value[k]
    return value


def _without(value: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """A copy of ``value`` without the field at ``keys`` (the payload itself is not changed)."""
    if keys[0] not in value:
        return value
    out = dict(value)
    if len(keys) == 1:
        del out[keys[0]]
    elif isinstance(out[keys[0]], dict):
        out[keys[0]] = _without(out[keys[0]], keys[1:])
    return out


class _Dropped:
    def __repr__(self) -> str:
        return "<dropped>"


_DROPPED = _Dropped()


def _no_constants(name: str) -> Any:
    raise PayloadError("malformed JSON: NaN and Infinity are not valid JSON")


def _loads(text: str) -> Any:
    """The one JSON rule set of the proxy: RFC 8259 (no ``NaN``/``Infinity``), any top-level
    value, at most ``MAX_JSON_DEPTH`` levels deep. Errors name the place, never the content."""
    try:
        value = json.loads(text, parse_constant=_no_constants, parse_float=_finite)
    except json.JSONDecodeError as exc:
        raise PayloadError(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        value = None
        too_deep = True
    except PayloadError:
        raise
    except ValueError:  # an integer of more than 4300 digits
        raise PayloadError("malformed JSON: a number out of range") from None
    else:
        too_deep = isinstance(value, dict | list) and _too_deep(value)
    if too_deep:
        raise PayloadError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if _SURROGATE_ESCAPE.search(text) and not _encodable(value):
        raise PayloadError("malformed JSON: a \\u escape of a lone surrogate")
    return value


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _finite(s: str) -> float:
    v = float(s)
    if not math.isfinite(v):
        raise PayloadError("malformed JSON: a number out of range")
    return v


def _encodable(value: Any) -> bool:
    """No lone surrogate anywhere (it cannot be written as UTF-8); iterative."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return True


def _too_deep(value: dict[str, Any] | list[Any]) -> bool:
    """Iterative (a recursive check would hit the very limit it guards)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def parse_json(body: bytes | str) -> Any:
    return _loads(body if isinstance(body, str) else decode_text(body, "utf-8"))


def decode_text(body: bytes, charset: str) -> str:
    try:
        return body.decode(charset or "utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"invalid {charset or 'utf-8'} at byte {exc.start}") from None
    except LookupError:
        raise UnsupportedContent("unknown charset") from None
