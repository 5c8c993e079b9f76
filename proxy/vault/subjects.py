"""Erasure and access requests (``POST /subjects/erase|lookup`` on the admin port, and the
``erase``/``lookup`` commands): validated, run against the vault, audited without the value."""

from __future__ import annotations

import re
import secrets
from typing import Any, Literal

from proxy.audit import AuditLog
from proxy.policy import AuditEvent
from proxy.vault import Vault

__all__ = ["MAX_VALUE", "SubjectRequestError", "parse_request", "run_request"]

_ENTITY = re.compile(r"^[A-Z][A-Z0-9_]{0,47}$")
#: The longest value a request may name (characters).
MAX_VALUE = 4096
Op = Literal["erase", "lookup"]


class SubjectRequestError(ValueError):
    """A request that names no valid entity type or value (the message never quotes the value)."""


def parse_request(body: Any) -> tuple[str, str]:
    """``{"entity": "EMAIL_ADDRESS", "value": "..."}`` -> ``(entity, value)``."""
    if not isinstance(body, dict):
        raise SubjectRequestError('the body must be a JSON object {"entity": ..., "value": ...}')
    unknown = set(body) - {"entity", "value"}
    if unknown:
        raise SubjectRequestError("only the keys entity and value are allowed")
    entity, value = body.get("entity"), body.get("value")
    if not isinstance(entity, str) or not _ENTITY.match(entity):
        raise SubjectRequestError("entity must be an entity type such as EMAIL_ADDRESS")
    if not isinstance(value, str) or not value.strip():
        raise SubjectRequestError("value must be a non-empty string")
    if len(value) > MAX_VALUE:
        raise SubjectRequestError(f"value longer than {MAX_VALUE} characters")
    return entity, value


async def run_request(vault: Vault, audit: AuditLog, op: Op, entity: str, value: str, *, via: str) -> dict[str, Any]:
    """Erase or look up one person; one audit record (entity type, operation, count: never the
    value). ``via``: ``admin`` or ``cli``."""
    rid = f"subject-{secrets.token_hex(8)}"
    if op == "erase":
        n = await vault.erase(entity, value)
        result: dict[str, Any] = {"erased": n}
        reason = f"{n} token(s) erased via {via}"
    else:
        tokens = await vault.lookup(entity, value)
        result = {"tokens": tokens}
        reason = f"{len(tokens)} token(s) found via {via}"
    audit.write([AuditEvent("subject", op, entity, reason=reason)], request_id=rid, destination="vault", direction=via)
    return result
