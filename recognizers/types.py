"""Plain data passed from detection to the redaction core (no spaCy, no Presidio)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from proxy.errors import DetectionError


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected PII span in one text: ``text[start:end]`` is of type ``entity``."""

    start: int
    end: int
    entity: str
    score: float
    recognizer: str


__all__ = ["DetectionError", "Finding", "merge_overlapping"]


S = TypeVar("S")


def merge_overlapping(
    items: Iterable[S], start: Callable[[S], int], end: Callable[[S], int], merge: Callable[[S, S], S]
) -> list[S]:
    """Overlapping spans become one, in order of start: ``merge(kept, next)`` makes the span that
    covers both (so no part of either leaks); the caller decides which one's type and score win.
    The one span merger of the proxy (the policy's findings, the person recognizer's hits)."""
    out: list[S] = []
    for it in sorted(items, key=lambda x: (start(x), -end(x))):
        if out and start(it) < end(out[-1]):
            out[-1] = merge(out[-1], it)
        else:
            out.append(it)
    return out
