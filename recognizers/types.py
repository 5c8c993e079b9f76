"""Plain data passed from detection to the redaction core (no spaCy, no Presidio)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected PII span in one text: ``text[start:end]`` is of type ``entity``."""

    start: int
    end: int
    entity: str
    score: float
    recognizer: str


class DetectionError(RuntimeError):
    """Detection failed; the caller must fail closed (forward nothing raw)."""
