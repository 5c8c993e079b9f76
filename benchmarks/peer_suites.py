"""Public peer test suites, replayed: our detector vs vanilla Presidio, per entity, in one run.

    .venv/bin/python -m benchmarks.peer_suites [--show N] [--no-write]

Replays every case of ``benchmarks/data/peer_suites.json`` (Presidio's recognizer tables and e2e
texts, presidio-research's generated samples, scrubadub's and DataFog's test corpora; made by
``benchmarks/peer_suites_extract.py`` from transcripts of the public files, each at a recorded
commit) through **our detector** (``Detector.analyze_many`` + ``merge_overlaps``, as
``benchmarks.accuracy`` runs it) and through **vanilla Presidio** (``AnalyzerEngine()`` on the same
spaCy model, ``benchmarks.accuracy.run_vanilla``), and scores, per entity:

- **positives found**: a peer's expected value counts as found when every word of it (less the
  words that identify nobody, ``benchmarks.accuracy.GENERIC``: ``Mr``, ``Street`` ...) is wholly
  covered by findings of *any* type: what matters to a redacting proxy is that nothing is left;
  ``typed`` counts those covered by findings of the expected type;
- **negatives kept clean**: a case that a peer says holds no value of an entity is clean when no
  finding of that entity (``US_ZIP_CODE`` and ``POSTCODE`` are one) is in it; ``any tag`` counts
  those with no in-scope finding at all (an invalid IBAN whose digit groups are tagged as phone
  numbers is clean of IBANs, not of any tag);
- **agreement** = (positives found + negatives clean) / (positives + negatives).

Cases whose peer expects a value only at a very low score (Presidio's licence and passport
patterns without context) are shown apart as ``weak``. Values of kinds we do not detect at all are
shown apart (what each side covers of them). Texts whose every value is labeled
(presidio-research) also give the over-redaction: words outside every label that were changed.

Writes its section of ``benchmarks/RESULTS.md`` (between ``<!-- peer:start -->`` and
``<!-- peer:end -->``) unless ``--no-write``. ``--show N`` prints N of our disagreements of each
class (public test strings).
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._common import machine_line, write_section
from benchmarks.accuracy import GENERIC, MODEL, Pred, run_ours, run_vanilla
from benchmarks.corpus import LabeledMessage

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data" / "peer_suites.json"
_WORD = re.compile(r"\w+")

#: Entities that stand for one another when a negative is checked or a type compared.
FAMILY = {"POSTCODE": "US_ZIP_CODE"}


def family(entity: str) -> str:
    return FAMILY.get(entity, entity)


# ---- scoring ------------------------------------------------------------------------------
def _cover(text: str, preds: Iterable[Pred]) -> bytearray:
    cover = bytearray(len(text))
    for p in preds:
        for i in range(max(0, p.start), min(len(text), p.end)):
            cover[i] = 1
    return cover


#: Words that identify nobody on their own: ``benchmarks.accuracy.GENERIC`` (``Mr``, ``Street``
#: ...), name suffixes, the words of presidio-research's "the corner of X and Y" addresses, and
#: the ``nan`` (a pandas NaN) its generator wrote for missing states.
NEUTRAL = GENERIC | frozenset(["nan", "md", "jr", "sr", "phd", "corner", "and"])


@functools.cache
def _countries() -> re.Pattern[str]:
    """Country names (ISO 3166 names, common and official, from ``pycountry``): in an address the
    country may stay (issue 13: "the country name may stay; everything else goes")."""
    import pycountry

    names: set[str] = set()
    for c in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            value = getattr(c, attr, None)
            if value:
                names.add(str(value))
    alternation = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternation})(?!\w)", re.IGNORECASE)


def leaked(text: str, start: int, end: int, cover: bytearray, entity: str = "") -> list[str]:
    """The words of the value ``text[start:end]`` left wholly or partly uncovered, less the
    neutral ones (and, in an address, the country's name); a value without any countable word
    (``::``) needs each of its non-space characters covered."""
    neutral = bytearray(len(text))
    if entity == "STREET_ADDRESS":
        for m in _countries().finditer(text, start, end):
            neutral[m.start() : m.end()] = b"\x01" * (m.end() - m.start())
    all_words = list(_WORD.finditer(text, start, end))
    words = [m for m in all_words if m.group().casefold() not in NEUTRAL and not all(neutral[m.start() : m.end()])]
    if all_words and not words:  # "Mr." alone: nothing that identifies anyone
        return []
    if not words:
        chars = [i for i in range(start, end) if not text[i].isspace()]
        return [] if all(cover[i] for i in chars) else [text[start:end]]
    return [m.group() for m in words if not all(cover[max(m.start(), start) : min(m.end(), end)])]


def covered(text: str, start: int, end: int, cover: bytearray, entity: str = "") -> bool:
    return not leaked(text, start, end, cover, entity)


@dataclass
class Row:
    positives: int = 0
    found: int = 0
    typed: int = 0
    negatives: int = 0
    clean: int = 0
    clean_any: int = 0

    def agreement(self) -> float | None:
        total = self.positives + self.negatives
        return (self.found + self.clean) / total if total else None


@dataclass
class Disagreement:
    kind: str  # "missed", "partly", "over-redacted", "over-redacted (other tag)", "outside labels"
    entity: str
    ref: str
    text: str
    detail: str
    span: tuple[int, int] = (0, 0)
    #: the other side (vanilla Presidio) does what the peer expects here
    other_agrees: bool = False

    def key(self) -> tuple[str, str, str, tuple[int, int]]:
        return (self.kind.split(" ")[0], self.entity, self.ref, self.span)


@dataclass
class Side:
    rows: dict[str, Row] = field(default_factory=lambda: defaultdict(Row))
    by_source: dict[int, Row] = field(default_factory=lambda: defaultdict(Row))
    out_of_scope: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    labeled_words: int = 0
    labeled_changed: int = 0
    changed_by: Counter[str] = field(default_factory=Counter)
    disagreements: list[Disagreement] = field(default_factory=list)


def _possessive(text: str, m: re.Match[str]) -> bool:
    """The ``s`` of ``Arne's``: part of the name before it, not a word of its own."""
    return m.group() == "s" and m.start() > 0 and text[m.start() - 1] in "'’"


def score(cases: Sequence[dict[str, Any]], preds: Sequence[Sequence[Pred]], in_scope: frozenset[str]) -> Side:
    side = Side()
    for case, found in zip(cases, preds, strict=True):
        text, ref = case["text"], case["ref"]
        scoped = [p for p in found if p.entity in in_scope]
        cover = _cover(text, found)
        suffix = " (weak)" if case.get("weak") else ""
        src_row = side.by_source[case["source"]]
        for e in case["expected"]:
            a, b, entity = e["start"], e["end"], e["entity"]
            if not e["in_scope"]:
                tally = side.out_of_scope[e["peer_entity"]]
                tally[0] += 1
                tally[1] += covered(text, a, b, cover, entity)
                continue
            row = side.rows[entity + suffix]
            row.positives += 1
            src_row.positives += 1
            left = leaked(text, a, b, cover, entity)
            ok = not left
            row.found += ok
            src_row.found += ok
            same = _cover(text, (p for p in found if family(p.entity) == family(entity)))
            row.typed += covered(text, a, b, same, entity)
            if not ok:
                touching = sorted({p.entity for p in found if p.start < b and p.end > a})
                detail = f"value {text[a:b]!r}"
                if touching:
                    detail += f"; partly covered by {', '.join(touching)}; left: {', '.join(left)}"
                side.disagreements.append(
                    Disagreement("partly" if touching else "missed", entity + suffix, ref, text, detail, (a, b))
                )
        for neg in case["negative_for"]:
            if neg != "*" and neg not in in_scope:
                tally = side.out_of_scope[f"{neg} (negatives kept clean)"]
                tally[0] += 1
                tally[1] += not any(family(p.entity) == family(neg) for p in found)
                continue
            row = side.rows[("any entity" if neg == "*" else neg) + suffix]
            row.negatives += 1
            src_row.negatives += 1
            hits = scoped if neg == "*" else [p for p in found if family(p.entity) == family(neg)]
            row.clean += not hits
            src_row.clean += not hits
            row.clean_any += not scoped
            if hits or scoped:
                shown = hits or scoped
                side.disagreements.append(
                    Disagreement(
                        "over-redacted" if hits else "over-redacted (other tag)",
                        neg + suffix,
                        ref,
                        text,
                        "; ".join(f"{text[p.start : p.end]!r} as {p.entity}" for p in shown),
                        (-1, -1) if hits else (-2, -2),
                    )
                )
        if case.get("fully_labeled"):
            labeled = bytearray(len(text))
            for e in case["expected"]:
                for i in range(e["start"], e["end"]):
                    labeled[i] = 1
            for m in _WORD.finditer(text):
                if any(labeled[m.start() : m.end()]) or _possessive(text, m):
                    continue
                side.labeled_words += 1
                if any(cover[m.start() : m.end()]):
                    side.labeled_changed += 1
                    tag = next((p.entity for p in found if p.start < m.end() and p.end > m.start()), "?")
                    side.changed_by[tag] += 1
                    side.disagreements.append(
                        Disagreement("outside labels", tag, ref, text, f"word {m.group()!r} changed as {tag}", m.span())
                    )
    return side


# ---- running ------------------------------------------------------------------------------
def load(path: Path = DATA) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def messages(cases: Sequence[dict[str, Any]]) -> list[LabeledMessage]:
    return [LabeledMessage(text=c["text"], spans=(), kind="peer") for c in cases]


def our_entities() -> frozenset[str]:
    from benchmarks.peer_suites_extract import OURS

    return OURS


# ---- report -------------------------------------------------------------------------------
def _pct(num: int, den: int) -> str:
    return f"{100 * num / den:.1f}%" if den else "n/a"


def _agree(r: Row) -> str:
    a = r.agreement()
    return "n/a" if a is None else f"{100 * a:.1f}%"


def render(data: dict[str, Any], ours: Side, vanilla: Side, seconds: tuple[float, float]) -> str:
    cases = data["cases"]
    sources = data["sources"]
    values = sum(len(c["expected"]) for c in cases)
    negs = sum(len(c["negative_for"]) for c in cases)
    lines = [
        "## Public peer suites: our detector vs vanilla Presidio, per entity",
        "",
        f"{len(cases)} cases ({values} expected values, {negs} negative checks) from the test suites of "
        "Microsoft Presidio, presidio-research, scrubadub and DataFog, each file at the commit listed below "
        "(`benchmarks/data/peer_suites.json`, made by `benchmarks/peer_suites_extract.py` from the transcripts in "
        "`benchmarks/data/peer_sources/`). Command: `.venv/bin/python -m benchmarks.peer_suites`; "
        f"{machine_line()}. Vanilla = Presidio's default `AnalyzerEngine()` on `{MODEL}`. Replay time: ours "
        f"{seconds[0]:.1f} s, vanilla {seconds[1]:.1f} s.",
        "",
        "A value is found when each of its words (but `Mr`, `Street` ...) is covered by a finding of any type "
        "(`typed`: of its own type); a negative case is clean when no finding of that entity is in it (`any tag`: "
        "no finding at all of a type we detect). Agreement = (found + clean) / (values + negatives).",
        "",
        "| entity | values | found ours | found vanilla | typed ours | negatives | clean ours | clean vanilla "
        "| clean ours, any tag | agreement ours | agreement vanilla |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    total_o, total_v = Row(), Row()
    for name in sorted(set(ours.rows) | set(vanilla.rows), key=lambda n: (" (weak)" in n, n == "any entity", n)):
        o, v = ours.rows.get(name, Row()), vanilla.rows.get(name, Row())
        if " (weak)" not in name:
            for t, r in ((total_o, o), (total_v, v)):
                t.positives += r.positives
                t.found += r.found
                t.negatives += r.negatives
                t.clean += r.clean
        lines.append(
            f"| {name} | {o.positives} | {o.found} | {v.found} | {o.typed} | {o.negatives} | {o.clean} | {v.clean} | "
            f"{o.clean_any} | {_agree(o)} | {_agree(v)} |"
        )
    lines.append(
        f"| **all but weak** | {total_o.positives} | {total_o.found} | {total_v.found} | | {total_o.negatives} | "
        f"{total_o.clean} | {total_v.clean} | | **{_agree(total_o)}** | **{_agree(total_v)}** |"
    )
    lines += [
        "",
        "Values of kinds we do not detect (kept for the record; covering them is over-redaction by our policy, "
        "except where a place is part of an address):",
        "",
        "| peer kind | values | covered by ours | covered by vanilla |",
        "| --- | ---: | ---: | ---: |",
    ]
    for kind in sorted(set(ours.out_of_scope) | set(vanilla.out_of_scope)):
        n, o = ours.out_of_scope[kind]
        _, v = vanilla.out_of_scope[kind]
        lines.append(f"| {kind} | {n} | {o} | {v} |")
    lines += [
        "",
        f"Fully labeled texts (presidio-research): words outside every label changed: ours "
        f"{_pct(ours.labeled_changed, ours.labeled_words)} ({ours.labeled_changed} of {ours.labeled_words}; "
        f"by tag: {', '.join(f'{k} {n}' for k, n in ours.changed_by.most_common(5)) or 'none'}), vanilla "
        f"{_pct(vanilla.labeled_changed, vanilla.labeled_words)} ({vanilla.labeled_changed}; by tag: "
        f"{', '.join(f'{k} {n}' for k, n in vanilla.changed_by.most_common(5)) or 'none'}).",
        "",
        "| source | file | commit | cases | agreement ours | agreement vanilla |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    n_cases = Counter(c["source"] for c in cases)
    for i, s in enumerate(sources):
        lines.append(
            f"| {s['repo']} ({s['licence'].split(' ')[0]}) | `{s['path']}` | `{s['commit'][:12]}` | {n_cases[i]} | "
            f"{_agree(ours.by_source[i])} | {_agree(vanilla.by_source[i])} |"
        )
    kinds = Counter(d.kind for d in ours.disagreements)
    lines += [
        "",
        "Our disagreements by class: " + (", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "none") + ". "
        "`.venv/bin/python -m benchmarks.peer_suites --show 20 --no-write` lists them (public test strings).",
    ]
    return "\n".join(lines) + "\n"


def mark_other(ours: Side, vanilla: Side) -> None:
    """Flag each of our disagreements where vanilla Presidio does what the peer expects."""
    theirs = {d.key() for d in vanilla.disagreements}
    for d in ours.disagreements:
        if d.kind == "outside labels":
            d.other_agrees = not any(k[0] == "outside" and k[2] == d.ref and k[3] == d.span for k in theirs)
        elif d.kind.startswith("over-redacted"):
            d.other_agrees = not any(k[0] == "over-redacted" and k[1] == d.entity and k[2] == d.ref for k in theirs)
        else:
            d.other_agrees = not any(k[0] in ("missed", "partly") and k[2] == d.ref and k[3] == d.span for k in theirs)


def show(side: Side, n: int, out: Any = sys.stdout) -> None:
    groups: dict[tuple[str, str], list[Disagreement]] = defaultdict(list)
    for d in side.disagreements:
        groups[(d.kind, d.entity)].append(d)
    for (kind, entity), items in sorted(groups.items(), key=lambda kv: (kv[0][0], -len(kv[1]))):
        print(f"\n== {kind}: {entity} ({len(items)})", file=out)
        for d in items[:n]:
            mark = " (vanilla gets it right)" if d.other_agrees else ""
            print(f"  [{d.ref}] {d.text[:140]!r}\n      {d.detail}{mark}", file=out)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--show", type=int, default=0, metavar="N", help="print N of our disagreements of each class")
    ap.add_argument("--no-write", action="store_true", help="print only; do not update RESULTS.md")
    ap.add_argument("--no-vanilla", action="store_true", help="skip the vanilla Presidio side")
    args = ap.parse_args(argv)

    data = load()
    cases = data["cases"]
    msgs = messages(cases)
    scope = our_entities()
    t0 = time.perf_counter()
    preds_o, _ = run_ours(msgs, batch=32)
    t_o = time.perf_counter() - t0
    ours = score(cases, preds_o, scope)
    if args.no_vanilla:
        vanilla, t_v = Side(), 0.0
    else:
        t0 = time.perf_counter()
        preds_v, _ = run_vanilla(msgs)
        t_v = time.perf_counter() - t0
        vanilla = score(cases, preds_v, scope)
        mark_other(ours, vanilla)
    section = render(data, ours, vanilla, (t_o, t_v))
    print(section)
    if args.show:
        show(ours, args.show)
    if not args.no_write:
        write_section("peer", section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
