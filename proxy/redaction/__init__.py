"""The redaction core: payload walkers and stream redactors (pure, no I/O)."""

from proxy.redaction.plan import PayloadError, Plan, Redactor, finish_all, parse_json

__all__ = ["PayloadError", "Plan", "Redactor", "finish_all", "parse_json"]
