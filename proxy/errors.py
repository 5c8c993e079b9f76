"""Every exception the proxy raises on purpose, one base per layer, drawn in one place (the model
is httpx's ``_exceptions.py``). None below the transport carries an HTTP status; the transport
maps them to answers in one table (:data:`proxy.http.errors.ANSWERS`). Messages name the
problem and where it is, never a payload value.

::

    ConfigError                        config: a config file is invalid (FILE:LINE problems)
    RedactionError                     core (proxy/redaction, proxy/policy)
    ├── PayloadError                   the payload cannot be parsed (malformed JSON, bad charset ...)
    ├── TooLarge                       a body, line, event or message over its limit
    ├── UnsupportedContent             a content type or coding the core cannot redact
    ├── PolicyError                    the policy cannot be applied (hash without a key)
    └── Withheld                       the policy withholds the whole message (a child's survey)
    DetectionError                     detection (recognizers.types): fail closed
    └── DetectionTimeout               no answer within the deadline
    VaultError                         the pseudonym vault (proxy/vault) cannot answer: fail closed
    SinkError                          sinks (proxy/sinks)
    └── SpoolError                     the spool cannot be used; nothing was committed
        └── SpoolFull                  no room for these records; nothing was committed
    ProxyError                         transport only (proxy/http/errors.py): an HTTP answer
                                       decided by the transport itself (no route, 405, 502/504)

This module imports nothing of ours: every layer, the detector (``recognizers/``) included,
may import it. :mod:`recognizers.types` re-exports ``DetectionError``.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DetectionError",
    "DetectionTimeout",
    "PayloadError",
    "PolicyError",
    "RedactionError",
    "SinkError",
    "TooLarge",
    "UnsupportedContent",
    "VaultError",
    "Withheld",
]


class ConfigError(ValueError):
    """A config file is invalid. ``problems`` holds ``FILE:LINE: message`` strings."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class RedactionError(Exception):
    """Base of the core's errors.

    ``partial`` is what a stream redactor had already redacted before the message that failed:
    safe to forward (everything before the bad message), empty everywhere else."""

    def __init__(self, message: str, *, partial: bytes = b"") -> None:
        super().__init__(message)
        self.message = message
        self.partial = partial


class PayloadError(RedactionError, ValueError):
    """The payload cannot be parsed."""


class TooLarge(RedactionError, ValueError):
    """A body, line, event or message is over its limit; nothing of it was redacted."""


class UnsupportedContent(RedactionError, ValueError):
    """A content type or content coding the core cannot redact."""


class PolicyError(RedactionError, ValueError):
    """The policy cannot be applied as configured (e.g. ``hash`` without a key)."""


class Withheld(RedactionError):
    """The policy withholds the whole message (``minors``: a survey age under the limit).

    ``path`` is the configured field that decided it and ``reason`` why (``minor``): both come
    from the config, never from the payload, so they may be audited and counted."""

    def __init__(self, message: str, *, path: str, reason: str, partial: bytes = b"") -> None:
        super().__init__(message, partial=partial)
        self.path = path
        self.reason = reason


class DetectionError(RuntimeError):
    """Detection failed; the caller must fail closed (forward nothing raw)."""


class DetectionTimeout(DetectionError):
    """Detection did not answer within the deadline."""


class VaultError(RuntimeError):
    """The pseudonym vault cannot answer (store down, timed out); the caller fails closed."""


class SinkError(Exception):
    """Base of the sinks' errors (spool, forwarders)."""
