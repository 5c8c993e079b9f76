"""Detection: where is PII in these texts? (Presidio + spaCy + our own recognizers.)"""

from recognizers.types import Finding

__all__ = ["Finding"]
