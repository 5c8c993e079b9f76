"""Payload walkers: turn a payload into the texts to scan, then rebuild it from the findings.

Sans-io, two phases, so that the transport can await detection in between::

    plan = redactor.json(value)            # walks the payload, applies field rules
    findings = await detect(plan.texts)    # one call for all segments of the payload
    value, events = plan.finish(findings)  # rewrites the scanned texts

Field rules that need no detection (``keep``, ``drop``, ``hash``, ``zip3`` ...) are applied
in the first phase; every string under a ``scan`` rule becomes a segment.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from proxy.policy import AuditEvent, PathPart, Policy, render_path
from recognizers.types import Finding


class PayloadError(ValueError):
    """The payload cannot be parsed; the message never contains the payload itself."""


@dataclass(eq=False)
class _Slot:
    index: int


@dataclass
class Plan:
    """Texts to scan plus how to rebuild the payload from their findings."""

    policy: Policy
    texts: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    events: list[AuditEvent] = field(default_factory=list)
    template: Any = None
    render: Callable[[Any], Any] = lambda v: v

    def slot(self, text: str, path: str) -> _Slot:
        self.texts.append(text)
        self.paths.append(path)
        return _Slot(len(self.texts) - 1)

    def finish(self, findings: Sequence[Sequence[Finding]]) -> tuple[Any, list[AuditEvent]]:
        if len(findings) != len(self.texts):
            raise ValueError("findings do not match the plan's texts")
        redacted = []
        events = list(self.events)
        for text, path, found in zip(self.texts, self.paths, findings, strict=True):
            out, evs = self.policy.redact_text(text, found, path)
            redacted.append(out)
            events.extend(evs)
        return self.render(_fill(self.template, redacted)), events


def _fill(node: Any, texts: list[str]) -> Any:
    if isinstance(node, _Slot):
        return texts[node.index]
    if isinstance(node, dict):
        return {k: _fill(v, texts) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, texts) for v in node]
    return node


class Redactor:
    """Builds plans for one destination's policy."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    # ---- JSON ---------------------------------------------------------------------------------
    def json_value(self, value: Any, root: Sequence[PathPart] = ()) -> Plan:
        plan = Plan(self.policy)
        plan.template = self._walk(value, tuple(root), plan, inherited=None)
        if plan.template is _DROPPED:
            plan.template = None
        return plan

    def json_bytes(self, body: bytes, root: Sequence[PathPart] = ()) -> Plan:
        value = parse_json(body)
        plan = self.json_value(value, root)
        plan.render = lambda v: json.dumps(v, ensure_ascii=False, separators=(",", ":")).encode()
        return plan

    def _walk(self, value: Any, path: tuple[PathPart, ...], plan: Plan, inherited: str | None) -> Any:
        """``inherited`` is ``scan``/``keep`` when an ancestor's rule covers this whole subtree.

        Items of a top-level array are roots of their own (a batch of messages): field rules
        apply to each item as they would to a single message.
        """
        where = render_path(path)
        full = path
        at = 0
        while at < len(path) and isinstance(path[at], int):
            at += 1
        path = path[at:]
        rule = self.policy.rule_at(path) if path else None
        mode = inherited
        if rule is not None:
            if rule.operator in ("keep", "scan"):
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
                out_d: dict[str, Any] = {}
                for k, v in value.items():
                    got = self._walk(v, (*full, k), plan, mode)
                    if got is not _DROPPED:
                        out_d[k] = got
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
        # scan: strings are segments; numbers, booleans and null stay
        if isinstance(value, str):
            return plan.slot(value, where)
        return value

    # ---- text ---------------------------------------------------------------------------------
    def text(self, text: str, path: str = "body") -> Plan:
        plan = Plan(self.policy)
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
        plan = Plan(self.policy)
        items: list[Any] = []
        for k, v in pairs:
            got = self._walk(v, (k,), plan, None)
            if got is not _DROPPED:
                items.append([k, got])
        plan.template = items
        plan.render = lambda v: urlencode([tuple(p) for p in v]).encode("ascii")
        return plan

    def query(self, pairs: Sequence[tuple[str, str]]) -> Plan:
        """Query-string values are scanned as text (keys kept)."""
        plan = Plan(self.policy)
        plan.template = [[k, plan.slot(v, f"query.{k}")] for k, v in pairs]
        plan.render = lambda v: [(k, val) for k, val in v]
        return plan


class _Dropped:
    def __repr__(self) -> str:
        return "<dropped>"


_DROPPED = _Dropped()


def parse_json(body: bytes) -> Any:
    text = decode_text(body, "utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadError(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise PayloadError("JSON nested too deeply") from None


def decode_text(body: bytes, charset: str) -> str:
    try:
        return body.decode(charset or "utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"invalid {charset or 'utf-8'} at byte {exc.start}") from None
    except LookupError:
        raise PayloadError("unknown charset") from None


def finish_all(plans: Sequence[Plan], findings: Sequence[Sequence[Finding]]) -> list[tuple[Any, list[AuditEvent]]]:
    """Split one detection call's findings back over the plans that contributed texts."""
    out = []
    at = 0
    for p in plans:
        n = len(p.texts)
        out.append(p.finish(findings[at : at + n]))
        at += n
    return out
