"""The benchmark results as pictures, from the data the other steps left (the last step of
``make bench``): PNG files next to ``benchmarks/RESULTS.md``, linked from its ``plots`` section.

* ``plot-latency-cdf.png``: latency CDF of our proxy vs the naive Presidio baseline (and the
  direct path), from ``benchmarks/load-latencies.json`` (written by ``benchmarks.load``); when
  that file is missing, the percentiles of the load section of RESULTS.md are drawn as points.
* ``plot-throughput.png``: messages/s by load case, and log records/s by ingest mode
  (accepted, delivered, backlog drained: HTTP, file and NATS sinks), from RESULTS.md and
  ``benchmarks/ingest.json``.
* ``plot-leak-by-entity.png``: share of PII values leaked by entity type, ours vs vanilla
  Presidio (the accuracy section) and ours on the held-out test set (the heldout section).

    .venv/bin/python -m benchmarks.plots [--results benchmarks/RESULTS.md]

No network, no servers: reads files, writes PNGs (matplotlib, Agg backend).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._common import RESULTS, ROOT, write_section

LATENCIES = ROOT / "benchmarks" / "load-latencies.json"
INGEST = ROOT / "benchmarks" / "ingest.json"
PLOTS = {
    "latency": "plot-latency-cdf.png",
    "throughput": "plot-throughput.png",
    "leak": "plot-leak-by-entity.png",
}


# ---- reading RESULTS.md --------------------------------------------------------------------------
def section(text: str, name: str) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in text or end not in text:
        return ""
    return text.split(start, 1)[1].split(end, 1)[0]


def tables(block: str) -> list[list[dict[str, str]]]:
    """Every markdown table of ``block`` as rows keyed by header cell."""
    out: list[list[dict[str, str]]] = []
    lines = block.splitlines()
    i = 0
    while i < len(lines) - 1:
        if lines[i].startswith("|") and re.match(r"^\|\s*:?-{3}", lines[i + 1]):
            head = [c.strip() for c in lines[i].strip().strip("|").split("|")]
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                rows.append(dict(zip(head, cells, strict=False)))
                i += 1
            out.append(rows)
        else:
            i += 1
    return out


def number(cell: str) -> float:
    """``**1,234**`` / ``2.2%`` / ``68.9`` -> float; ``n/a``, ``-`` -> nan."""
    m = re.search(r"-?[\d,]*\.?\d+", cell.replace("*", ""))
    return float(m.group(0).replace(",", "")) if m else math.nan


def table_with(block: str, column: str) -> list[dict[str, str]]:
    for t in tables(block):
        if t and column in t[0]:
            return t
    return []


# ---- the pictures ----------------------------------------------------------------------------------
def plot_latency(results: str, out: Path) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.8))
    source = ""
    wanted = [("proxy", "(4) our proxy", "C0"), ("naive", "(3) naive Presidio baseline", "C3"),
              ("direct", "(1) direct to upstream", "C7")]  # fmt: skip
    if LATENCIES.exists():
        data = json.loads(LATENCIES.read_text())
        for key, label, color in wanted:
            case = data["cases"].get(key) or {}
            closed = case.get("closed") or {}
            qs = closed.get("ms")
            if qs:
                ys = [i / (len(qs) - 1) for i in range(len(qs))]
                ax.plot(qs, ys, color=color, label=f"{label}: {closed['throughput']:.0f} msg/s, n={closed['count']}")
        source = f"{LATENCIES.name} ({data.get('date', '?')})"
    else:
        rows = table_with(section(results, "load"), "p50 ms")
        for _key, label, color in wanted:
            row = next((r for r in rows if r.get("case", "").startswith(label.split(" ")[0])), None)
            if row:
                xs = [number(row["p50 ms"]), number(row["p95 ms"]), number(row["p99 ms"])]
                ax.plot(xs, [0.5, 0.95, 0.99], "o-", color=color, label=f"{label} (p50, p95, p99 only)")
        source = "RESULTS.md load section (percentiles; run benchmarks.load for the full CDF)"
    ax.set_xscale("log")
    ax.set_xlabel("request latency, ms (log scale)")
    ax.set_ylabel("share of requests at or below")
    ax.set_ylim(0, 1.0)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title("Latency CDF at maximum rate (closed loop): ours vs naive")
    ax.legend(loc="lower right", fontsize=8)
    fig.text(0.01, 0.01, f"source: {source}", fontsize=7, color="0.4")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(out, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return source


def ingest_rows(results: str) -> tuple[list[dict[str, Any]], str]:
    if INGEST.exists():
        data = json.loads(INGEST.read_text())
        return data["modes"], INGEST.name
    rows = table_with(section(results, "ingest"), "accepted rec/s")
    modes = []
    for r in rows:
        modes.append(
            {
                "mode": r["mode"],
                "accepted_per_s": number(r["accepted rec/s"]),
                "delivered_per_s": number(r["delivered rec/s"]),
                "drained_per_s": number(r.get("backlog drained rec/s", "-")),
            }
        )
    return modes, "RESULTS.md ingest section"


def plot_throughput(results: str, out: Path) -> str:
    import matplotlib.pyplot as plt

    load_rows = table_with(section(results, "load"), "msgs/s")
    modes, ingest_source = ingest_rows(results)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 5))
    labels = [r["case"] for r in load_rows]
    values = [number(r["msgs/s"]) for r in load_rows]
    colors = ["C0" if "our proxy" in label and "disabled" not in label else "0.6" for label in labels]
    a1.barh(range(len(values)), values, color=colors)
    a1.set_yticks(range(len(values)), [label.replace(" (the hop's floor)", "") for label in labels], fontsize=8)
    a1.invert_yaxis()
    a1.set_xscale("log")
    a1.set_xlabel("chat messages/s (log scale)")
    a1.set_title("Load: throughput by case (closed loop)")
    for i, v in enumerate(values):
        if not math.isnan(v):
            a1.text(v, i, f" {v:,.0f}", va="center", fontsize=8)
    width = 0.27
    names = [m["mode"] for m in modes]
    for k, (key, label, color) in enumerate(
        [
            ("accepted_per_s", "accepted (202)", "C0"),
            ("delivered_per_s", "delivered", "C2"),
            ("drained_per_s", "backlog drained", "C1"),
        ]
    ):
        vals = [float(m.get(key) or 0.0) for m in modes]
        vals = [0.0 if math.isnan(v) else v for v in vals]
        pos = [i + (k - 1) * width for i in range(len(modes))]
        a2.barh(pos, vals, height=width, label=label, color=color)
        for p, v in zip(pos, vals, strict=True):
            if v:
                a2.text(v, p, f" {v:,.0f}", va="center", fontsize=7)
    a2.set_yticks(range(len(names)), names, fontsize=8)
    a2.invert_yaxis()
    a2.set_xscale("log")
    a2.set_xlabel("log records/s (log scale)")
    a2.set_title("Ingest: POST /logs/ by sink and redaction")
    a2.legend(fontsize=8, loc="lower right")
    fig.text(0.01, 0.01, f"sources: RESULTS.md load section; {ingest_source}", fontsize=7, color="0.4")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(out, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return ingest_source


def plot_leak(results: str, out: Path) -> None:
    import matplotlib.pyplot as plt

    acc = [r for r in table_with(section(results, "accuracy"), "leak ours") if "overall" not in r["entity"]]
    held = {r["entity"]: r for r in table_with(section(results, "heldout"), "leak test")}
    entities = [r["entity"] for r in acc]
    series = [
        ("ours (accuracy corpus)", [number(r["leak ours"]) for r in acc], "C0"),
        ("vanilla Presidio (same corpus)", [number(r["leak vanilla"]) for r in acc], "C3"),
        ("ours, held-out test set", [number(held[e]["leak test"]) if e in held else math.nan for e in entities], "C1"),
    ]
    fig, ax = plt.subplots(figsize=(11, 5.5))
    width = 0.27
    for k, (label, vals, color) in enumerate(series):
        pos = [i + (k - 1) * width for i in range(len(entities))]
        ax.bar(pos, [0.0 if math.isnan(v) else v for v in vals], width=width, label=label, color=color)
    ax.set_xticks(range(len(entities)), entities, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("values leaked, %")
    ax.set_title("Leak by entity type (lower is better)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.text(0.01, 0.01, "source: RESULTS.md accuracy and heldout sections", fontsize=7, color="0.4")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(out, dpi=110, metadata={"Software": None})
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.plots", description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=str(RESULTS), help="RESULTS.md to read and link the pictures from")
    args = ap.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    results_path = Path(args.results)
    results = results_path.read_text(encoding="utf-8")
    here = results_path.parent
    made, notes = [], []
    for key, fn in (("latency", plot_latency), ("throughput", plot_throughput), ("leak", plot_leak)):
        try:
            source = fn(results, here / PLOTS[key])
        except (KeyError, ValueError, OSError) as exc:
            print(f"[plots] {key}: not drawn ({exc.__class__.__name__}: {exc})", file=sys.stderr)
            notes.append(f"{key}: not drawn ({exc.__class__.__name__})")
            continue
        made.append(key)
        if key == "latency" and source:
            notes.append(f"latency from {source}")
    titles = {
        "latency": "Latency CDF, ours vs naive",
        "throughput": "Throughput by case (load, ingest)",
        "leak": "Leak by entity",
    }
    body = ["## Pictures (`benchmarks/plots.py`, drawn from the sections above)", ""]
    for key in made:
        body += [f"### {titles[key]}", "", f"![{titles[key]}]({PLOTS[key]})", ""]
    if notes:
        body += ["Notes: " + "; ".join(notes) + "."]
    write_section("plots", "\n".join(body), results_path)
    print(f"[plots] wrote {', '.join(PLOTS[k] for k in made)} next to {results_path.name}", file=sys.stderr)
    return 0 if len(made) == len(PLOTS) else 1


if __name__ == "__main__":
    raise SystemExit(main())
