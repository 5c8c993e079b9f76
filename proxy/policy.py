"""Per-destination decisions: which field gets which rule, which finding gets which operator.

Pure code: no I/O, no asyncio. Decisions are reported as :class:`AuditEvent` s, which never carry
a raw value (only paths, entity types, operators, scores and recognizer names).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from proxy import operators as ops
from proxy.config import Destination, FieldRule
from proxy.errors import PolicyError
from recognizers.types import Finding, merge_overlapping

__all__ = ["AuditEvent", "PathPart", "Policy", "PolicyError", "TokenFor", "merge_overlaps", "render_path"]

#: The token of ``(entity, value)`` resolved for this plan by the vault (``pseudonym``), or None.
TokenFor = Callable[[str, str], "str | None"]

#: A concrete path component: a key, or an array index.
PathPart = str | int


@dataclass(frozen=True, slots=True)
class AuditEvent:
    path: str
    operator: str
    entity: str | None = None
    score: float | None = None
    recognizer: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in (
            ("field", self.path), ("entity", self.entity), ("operator", self.operator),
            ("score", self.score), ("recognizer", self.recognizer), ("reason", self.reason),
        ) if v is not None}  # fmt: skip


def render_path(path: Sequence[PathPart]) -> str:
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += f".{p}" if out else p
    return out or "$"


class _Pattern:
    __slots__ = ("parts", "rule", "specificity")

    def __init__(self, text: str, rule: FieldRule) -> None:
        self.parts = tuple(text.split("."))
        self.rule = rule
        wild = sum(p in ("*", "**") for p in self.parts)
        self.specificity = (-self.parts.count("**"), -wild, len(self.parts))

    def matches(self, path: Sequence[PathPart]) -> bool:
        return _match(self.parts, tuple(path))

    def could_match_below(self, path: Sequence[PathPart]) -> bool:
        """Whether some strict descendant of ``path`` could match this pattern."""
        return _prefix(self.parts, tuple(path))


def _part_ok(pat: str, part: PathPart) -> bool:
    return pat == "*" or (isinstance(part, str) and pat == part)


def _match(pat: tuple[str, ...], path: tuple[PathPart, ...]) -> bool:
    if not pat:
        return not path
    if pat[0] == "**":
        return any(_match(pat[1:], path[i:]) for i in range(len(path) + 1))
    return bool(path) and _part_ok(pat[0], path[0]) and _match(pat[1:], path[1:])


def _prefix(pat: tuple[str, ...], path: tuple[PathPart, ...]) -> bool:
    if not path:
        return bool(pat)
    if not pat:
        return False
    if pat[0] == "**":
        return True
    return _part_ok(pat[0], path[0]) and _prefix(pat[1:], path[1:])


class Policy:
    """The decisions of one destination."""

    def __init__(self, name: str, dest: Destination, key: bytes | None) -> None:
        self.name = name
        self.dest = dest
        self.key = key
        self.patterns = sorted(
            (_Pattern(p, dest.rule_for(p)) for p in dest.fields),
            key=lambda p: p.specificity,
            reverse=True,
        )
        self.allow = {a.casefold() for a in dest.allow_list}
        #: Keys the config names: the only keys written raw into audit records and kept unscanned.
        self.known_names = frozenset(part for p in self.patterns for part in p.parts if part not in ("*", "**"))
        if key is None and dest.uses("hash"):
            raise PolicyError(f"destination {name!r} uses the hash operator but no key is set")
        #: Findings get the ``pseudonym`` operator somewhere: plans resolve them in the vault.
        self.pseudonymises = "pseudonym" in dest.entities.values()

    def audit_path(self, path: Sequence[PathPart]) -> str:
        """A path for audit records and metrics: keys the config does not name become ``*``
        (a key may be personal data: an e-mail used as a map key)."""
        return render_path([p if isinstance(p, int) or p in self.known_names else "*" for p in path])

    # ---- fields ---------------------------------------------------------------------------
    def rule_at(self, path: Sequence[PathPart]) -> FieldRule | None:
        for p in self.patterns:
            if p.matches(path):
                return p.rule
        return None

    def rules_below(self, path: Sequence[PathPart]) -> bool:
        return any(p.could_match_below(path) for p in self.patterns)

    def field_value(self, value: Any, rule: FieldRule, path: str) -> tuple[bool, Any, AuditEvent]:
        """Apply a value operator to a whole field: (keep?, new value, event)."""
        op = rule.operator
        entity = rule.entity or (path.rsplit(".", 1)[-1].upper() if path else "VALUE")
        if op == "drop":
            return False, None, AuditEvent(path, "drop", reason="policy")
        if isinstance(value, dict | list):
            return False, None, AuditEvent(path, "drop", reason=f"{op} needs a scalar")
        if value is None:
            return True, None, AuditEvent(path, op, reason="null")
        if op in ("keep", "scan"):  # handled by the walker, never here
            raise PolicyError(f"unexpected field operator {op}")
        out = self._apply(op, value, entity, rule.keep_last)
        if out is None:
            return False, None, AuditEvent(path, "drop", reason=f"{op} could not parse the value")
        return True, out, AuditEvent(path, op)

    # ---- findings in text -----------------------------------------------------------------
    def operator_for(self, entity: str) -> str:
        return self.dest.entities.get(entity, self.dest.entities["default"])

    def allowed(self, value: str) -> bool:
        """Whether a found value is on the destination's allow-list (never redacted)."""
        return value.casefold() in self.allow

    def spans(self, text: str, findings: Sequence[Finding]) -> list[Finding]:
        """The findings of ``text`` that will be rewritten: allow-list applied, overlaps merged."""
        return merge_overlaps([f for f in findings if not self.allowed(text[f.start : f.end])])

    def pseudonyms_wanted(self, text: str, findings: Sequence[Finding]) -> list[tuple[str, str]]:
        """``(entity, value)`` of every span of ``text`` that gets the ``pseudonym`` operator: what
        the vault must resolve before :meth:`redact_text` (one round-trip per plan)."""
        if not self.pseudonymises:
            return []
        return [
            (f.entity, text[f.start : f.end])
            for f in self.spans(text, findings)
            if self.operator_for(f.entity) == "pseudonym"
        ]

    def redact_text(
        self, text: str, findings: Sequence[Finding], path: str, token_for: TokenFor | None = None
    ) -> tuple[str, list[AuditEvent]]:
        spans = self.spans(text, findings)
        events: list[AuditEvent] = []
        out = text
        for f in reversed(spans):
            op = self.operator_for(f.entity)
            if op == "pseudonym":
                token = token_for(f.entity, text[f.start : f.end]) if token_for is not None else None
                if token is None:  # never resolved: fail closed, nothing of the value goes out
                    raise PolicyError("a pseudonym was not resolved by the vault")
                out = out[: f.start] + token + out[f.end :]
                events.append(AuditEvent(path, op, f.entity, f.score, f.recognizer))
                continue
            replacement = self._apply(op, text[f.start : f.end], f.entity, self.dest.mask_keep_last)
            if replacement is None:  # a generaliser could not parse the value: tag it
                op, replacement = "tag", ops.tag(f.entity)
            out = out[: f.start] + replacement + out[f.end :]
            events.append(AuditEvent(path, op, f.entity, f.score, f.recognizer))
        events.reverse()
        return out, events

    def _apply(self, op: str, value: Any, entity: str, keep_last: int) -> str | None:
        """One value operator on a field's value or a finding's text; None when a generaliser
        cannot parse it (the caller then drops the field or tags the finding)."""
        if op == "tag":
            return ops.tag(entity)
        if op == "drop":
            return ""
        if op == "age_band":  # parsed from the value itself: a JSON number stays a number
            return ops.age_band(value, self.dest.bands.age)
        if op == "income_band":
            return ops.income_band(value, self.dest.bands.income)
        text = value if isinstance(value, str) else json.dumps(value)
        if op == "mask":
            return ops.mask(text, keep_last)
        if op == "hash":
            return None if self.key is None else ops.keyed_hash(text, self.key)
        if op == "zip3":
            return ops.zip3(text)
        if op == "ip_truncate":
            return ops.ip_truncate(text)
        return None


def merge_overlaps(findings: Sequence[Finding]) -> list[Finding]:
    """Overlapping findings become one span covering all of them (so no part of any leaks),
    typed by the best-scoring one (the longer on a tie)."""

    def merge(last: Finding, f: Finding) -> Finding:
        best = last if (last.score, last.end - last.start) >= (f.score, f.end - f.start) else f
        return Finding(last.start, max(last.end, f.end), best.entity, best.score, best.recognizer)

    return merge_overlapping(findings, lambda f: f.start, lambda f: f.end, merge)
