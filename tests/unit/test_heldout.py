"""The held-out corpus (``benchmarks.heldout`` + ``benchmarks.heldout_styles``): a deterministic,
disjoint dev/test split, labels that cover exactly the inserted values, every style on both sides,
per-value regions, and ``--show-misses`` refusing the test side.

The corpus is synthetic (mimesis values); assertions report indexes and counts, never the text.
"""

from __future__ import annotations

import random
import re
import zlib

import pytest

from benchmarks import heldout
from benchmarks.heldout_styles import (
    MILITARY,
    STYLES,
    TEMPLATES,
    HeldMessage,
    _StyleValues,
    fill,
    style_templates,
)

_SLOT = re.compile(r"\{\{[^}]*\}\}")


@pytest.fixture(scope="module")
def corpus() -> heldout.Corpus:
    return heldout.generate(n=60, seed=11, n_styles=400, n_faker=40)


def _makers(locales: tuple[str, ...], tag: str) -> dict[str, _StyleValues]:
    return {
        loc: _StyleValues(loc, random.Random(f"{tag}:{loc}"), zlib.crc32(f"{tag}:{loc}".encode())) for loc in locales
    }


_NOW = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?")


def _without_clock(msgs: list[HeldMessage]) -> list[tuple[str, tuple[object, ...], str]]:
    """presidio-evaluator draws its (non-PII) date-times up to now: mask them."""
    return [(_NOW.sub("<now>", m.text), m.spans, m.style) for m in msgs]


def test_generation_is_deterministic(corpus: heldout.Corpus) -> None:
    again = heldout.generate(n=60, seed=11, n_styles=400, n_faker=40)
    assert _without_clock(corpus.dev) == _without_clock(again.dev)
    assert _without_clock(corpus.test) == _without_clock(again.test)
    other = heldout.generate(n=60, seed=12, n_styles=400, n_faker=40)
    assert [m.text for m in other.test] != [m.text for m in corpus.test]


def test_first_family_does_not_depend_on_the_styles_count(corpus: heldout.Corpus) -> None:
    fewer = heldout.generate(n=60, seed=11, n_styles=10, n_faker=40)
    assert fewer.dev[:60] == corpus.dev[:60] and fewer.test[:60] == corpus.test[:60]


def test_faker_family_splits_templates_and_keeps_countries_neutral(corpus: heldout.Corpus) -> None:
    for side, msgs in (("dev", corpus.dev), ("test", corpus.test)):
        faker = [m for m in msgs if m.style == heldout.FAKER_FAMILY]
        assert len(faker) == 40 and all(m.kind == f"{side}:faker" for m in faker)
        assert all(len(m.regions) == len(m.spans) for m in faker)
        for m in faker:
            for s in m.spans:
                value = m.text[s.start : s.end]
                assert value.strip(), m.text
                if s.entity == "STREET_ADDRESS":  # a country inside an address is its own neutral span
                    assert not re.search(r"\b(?:Sweden|Finland|Denmark|Estonia|Iceland|Norway)\b", value), value


def test_split_of_templates_is_disjoint_and_complete() -> None:
    dev, test = style_templates("dev"), style_templates("test")
    for style, all_templates in TEMPLATES.items():
        assert len(set(all_templates)) == len(all_templates), style  # no duplicate template
        assert not set(dev[style]) & set(test[style]), style
        assert sorted(dev[style] + test[style]) == sorted(all_templates), style
        assert all(heldout.is_test_template(t) for t in test[style])
        assert not any(heldout.is_test_template(t) for t in dev[style])
    first = heldout.templates()
    assert not {t for t in first if heldout.is_test_template(t)} & {t for t in first if not heldout.is_test_template(t)}


def test_locales_are_held_out(corpus: heldout.Corpus) -> None:
    assert not set(heldout.DEV_LOCALES) & set(heldout.TEST_LOCALES)
    for side, locales in (("dev", heldout.DEV_LOCALES), ("test", heldout.TEST_LOCALES)):
        msgs: list[HeldMessage] = [m for m in getattr(corpus, side) if m.style != heldout.FAKER_FAMILY]
        assert all(m.kind.startswith(f"{side}:") and m.kind.split(":")[1] in locales for m in msgs)
        # every region of a value is one of the side's locales' regions (or the US military's)
        allowed = {heldout.REGIONS[loc] for loc in locales} | {MILITARY}
        assert {r for m in msgs for r in m.regions} <= allowed, side


def test_messages_come_from_the_side_templates(corpus: heldout.Corpus) -> None:
    """A message's literal text (its values taken out) is that of one of its side's templates."""
    for side in ("dev", "test"):
        literals = {style: [[p for p in _SLOT.split(t)] for t in ts] for style, ts in style_templates(side).items()}
        for i, m in enumerate(getattr(corpus, side)):
            if m.style in (heldout.FAMILY, heldout.FAKER_FAMILY):
                continue
            assert any(_matches(m.text, parts) for parts in literals[m.style]), (side, i)


def _matches(text: str, parts: list[str]) -> bool:
    pattern = "(?s)" + "(.*?)".join(re.escape(p) for p in parts)
    return re.fullmatch(pattern, text) is not None


def test_every_style_appears_on_both_sides(corpus: heldout.Corpus) -> None:
    for side in ("dev", "test"):
        assert all(style_templates(side)[s] for s in STYLES), side
        seen = {m.style for m in getattr(corpus, side)}
        assert seen == {heldout.FAMILY, *STYLES, heldout.FAKER_FAMILY}, side


@pytest.mark.parametrize("style", sorted(TEMPLATES))
def test_labels_cover_exactly_the_inserted_values(style: str) -> None:
    """Every PII value inserted into a template is one labeled span (or part of one, when two
    values of one entity stand side by side: a first and a last name); no span covers template
    text or an unlabeled filler; neutral pieces keep their own label."""
    makers = _makers(heldout.DEV_LOCALES + heldout.TEST_LOCALES, style)
    for t_idx, template in enumerate(TEMPLATES[style]):
        for loc in sorted(makers):
            f = fill(template, makers[loc], makers)
            assert len(f.spans) == len(f.regions), (t_idx, loc)
            literal = "".join(_SLOT.split(template))
            inserted = "".join(f.text[a:b] for a, b, _ in f.pieces)
            assert len(literal) + len(inserted) == len(f.text), (t_idx, loc)
            owner: list[str | None] = [None] * len(f.text)  # entity of the piece under each char
            for a, b, entity in f.pieces:
                for i in range(a, b):
                    owner[i] = entity or ""
            for a, b, entity in f.pieces:
                if entity is None or not f.text[a:b].strip():
                    continue
                holders = [s for s in f.spans if s.start <= a and b <= s.end]
                assert len(holders) == 1 and holders[0].entity == entity, (t_idx, loc, a)
            previous_end = -1
            for s in f.spans:
                assert s.start > previous_end - 1 and s.start < s.end, (t_idx, loc)
                previous_end = s.end
                assert f.text[s.start : s.end].strip() == f.text[s.start : s.end], (t_idx, loc, s.start)
                for i in range(s.start, s.end):
                    # inside a span: a piece of the span's entity, or the spaces joining two of them
                    assert owner[i] == s.entity or (owner[i] in (None, "") and f.text[i] == " "), (t_idx, loc, i)


def test_address_blocks_cover_at_least_twenty_countries(corpus: heldout.Corpus) -> None:
    big = heldout.generate(n=0, seed=7, n_styles=1500)
    union = {
        r
        for side in ("dev", "test")
        for m in getattr(big, side)
        if m.style == "address"
        for s, r in zip(m.spans, m.regions, strict=True)
        if s.entity == "STREET_ADDRESS"
    }
    assert len(union - {MILITARY}) >= 20
    assert MILITARY in {r for m in big.test for r in m.regions}  # APO/FPO on the test side too
    assert MILITARY in {r for m in big.dev for r in m.regions}


def test_show_misses_refuses_the_test_side(capsys: pytest.CaptureFixture[str]) -> None:
    assert heldout.main(["--split", "test", "--show-misses", "3", "--no-write"]) == 2
    assert "dev side only" in capsys.readouterr().err
