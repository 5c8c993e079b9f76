"""The redaction core: pure (no aiohttp, no sockets, no files). The transport hands it bytes, a
content type and a direction; detection is injected as ``detect(texts) -> findings``.

See :mod:`proxy.redaction.core` for the API and ``docs/ARCHITECTURE.md`` for the layers.
"""

from proxy.errors import PayloadError, PolicyError, RedactionError, TooLarge, UnsupportedContent, Withheld
from proxy.redaction.core import (
    Direction,
    HeaderRules,
    HeaderSplit,
    Limits,
    Redaction,
    RequestParts,
    RequestPlan,
    ResponseMode,
    StreamRedactor,
)
from proxy.redaction.decode import ContentDecoder, decode_body
from proxy.redaction.plan import Batch, Detect, OnMessage, Plan, parse_json, run, run_sync

__all__ = [
    "Batch",
    "ContentDecoder",
    "Detect",
    "Direction",
    "HeaderRules",
    "HeaderSplit",
    "Limits",
    "OnMessage",
    "PayloadError",
    "Plan",
    "PolicyError",
    "Redaction",
    "RedactionError",
    "RequestParts",
    "RequestPlan",
    "ResponseMode",
    "StreamRedactor",
    "TooLarge",
    "UnsupportedContent",
    "Withheld",
    "decode_body",
    "parse_json",
    "run",
    "run_sync",
]
