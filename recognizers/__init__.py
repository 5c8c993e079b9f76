"""Detection: where is PII in these texts? (Presidio + spaCy + our own recognizers.)"""

from recognizers.types import DetectionError, Finding

__all__ = ["DetectionError", "Finding"]
