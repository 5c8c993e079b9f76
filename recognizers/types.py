"""Plain data passed from detection to the redaction core (no spaCy, no Presidio)."""

from __future__ import annotations

from dataclasses import dataclass

from proxy.errors import DetectionError


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected PII span in one text: ``text[start:end]`` is of type ``entity``."""

    start: int
    end: int
    entity: str
    score: float
    recognizer: str


__all__ = ["DetectionError", "Finding"]
