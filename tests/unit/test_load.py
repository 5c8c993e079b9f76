"""The load benchmark's helpers: the long-message corpus (issue 13) and its targets rows."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from benchmarks import load
from benchmarks._common import LONG_MAX, LONG_MIN, long_bodies, long_texts
from benchmarks.heldout import TEST_LOCALES
from benchmarks.heldout_styles import style_templates

SEED = 20261125


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return long_texts(80, SEED)


def test_long_texts_lengths_within_bounds(texts: list[str]) -> None:
    assert len(texts) == 80
    lengths = [len(t) for t in texts]
    assert all(LONG_MIN <= n <= LONG_MAX for n in lengths), (min(lengths), max(lengths))
    # spread over the range, not all at one end
    assert min(lengths) < 600 and max(lengths) > 1100
    assert len(set(texts)) == len(texts)


def test_long_texts_deterministic(texts: list[str]) -> None:
    assert long_texts(80, SEED) == texts
    assert long_texts(80, SEED + 1) != texts


def test_long_texts_hold_blocks_and_pii(texts: list[str]) -> None:
    """Paragraphs, address blocks and signatures: multi-line texts with e-mails and digits."""
    assert sum("\n\n" in t for t in texts) >= 0.9 * len(texts)
    assert sum("@" in t for t in texts) >= len(texts) // 3
    assert sum(any(c.isdigit() for c in t) for t in texts) >= 0.9 * len(texts)


def test_long_texts_never_use_the_test_split(texts: list[str]) -> None:
    """Only dev templates: no test-only template's fixed wording appears (a test template's
    longest literal run, between its slots)."""
    dev = {lit for ts in style_templates("dev").values() for t in ts for lit in re.split(r"\{\{[^}]*\}\}", t)}
    literals = []
    for ts in style_templates("test").values():
        for t in ts:
            longest = max(re.split(r"\{\{[^}]*\}\}", t), key=len).strip()
            if len(longest) >= 25 and not any(longest in d for d in dev):
                literals.append(longest)
    assert literals
    joined = "\n".join(texts)
    assert not [lit for lit in literals if lit in joined]
    assert TEST_LOCALES  # the generator draws from DEV_LOCALES only (see long_texts)


def test_long_bodies_chat_shape() -> None:
    bodies = long_bodies(10, SEED)
    msgs = [json.loads(b) for b in bodies]
    assert [m["text"] for m in msgs] == long_texts(10, SEED)
    for m in msgs:
        assert set(m) == {"conversation_id", "sender", "sent_at", "text"}
        assert m["sender"] in ("visitor", "agent")
    assert Counter(m["sender"] for m in msgs) == {"visitor": 5, "agent": 5}


def _case(key: str, label: str, ok: int, server_cpu: float) -> load.Case:
    run = load.Run(label, "closed", 10.0)
    run.completed = ok
    run.statuses[200] = ok
    run.cpu = load.Cpu(server=server_cpu)
    case = load.Case(key, label, 2)
    case.closed = run
    return case


def test_speed_rows_ratios_and_verdicts() -> None:
    by = {
        "naive": _case("naive", "(3) naive", 1000, 10.0),
        "proxy": _case("proxy", "(4) our proxy", 4500, 9.0),
        "naive_long": _case("naive_long", "(3L) naive, long", 200, 10.0),
        "proxy_long": _case("proxy_long", "(4L) ours, long", 700, 10.0),
    }
    rows = load.speed_rows(by)
    assert rows[0].startswith("| (4) short >= 4.2x (3) short msgs/s | (4) / (3): 4.50x | **met**")
    assert "10.00 / 2.00 = 5.00x | **met**" in rows[1]
    assert rows[2].startswith("| (4) long >= 4x (3) long msgs/s | (4L) / (3L): 3.50x | **not met**")
    assert "50.00 / 14.29 = 3.50x | **not met**" in rows[3]
    del by["naive_long"]
    assert len(load.speed_rows(by)) == 2


def test_long_cases_use_the_servers_of_3_and_4() -> None:
    assert load.server_of("naive_long") == "naive"
    assert load.server_of("proxy_long") == "proxy"
    assert load.server_of("relay") == "relay"
    assert set(load.SERVER_OF) <= set(load.CASES)
