"""Shared fixtures. Expensive ones are session-scoped: the real spaCy model loads once per run."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def detector() -> object:
    """The real detector (spaCy model, Presidio, our recognizers) as the shipped config builds it."""
    from proxy.config import load_config
    from proxy.detection import make_detector

    return make_detector(load_config(ROOT / "config" / "proxy.yaml", env={}))
