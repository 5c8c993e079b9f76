"""The benchmark suite, as ``make bench`` runs it.

    .venv/bin/python -m benchmarks.run [--duration S] [--soak MINUTES] [--only NAME ...]

Runs, one after the other and each in its own process (so one's memory and threads never weigh
on the next): ``benchmarks.accuracy``, ``benchmarks.heldout``, ``benchmarks.load``,
``benchmarks.ingest`` (when that module exists), ``benchmarks.streaming``,
``benchmarks.pathological``, ``benchmarks.presidio_face``, ``benchmarks.pseudonym``,
``benchmarks.cobrowse``, ``benchmarks.peer_suites``, and last ``benchmarks.plots`` (PNG pictures of the results next to
RESULTS.md). Each writes its own section of ``benchmarks/RESULTS.md``; this writes the header (CPU
count, date, commit, the exact commands and how each step ended). Every step has a time limit; a
failed step is reported and the others run.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks._common import PYTHON, RESULTS, ROOT, cpus

HEADER_START, HEADER_END = "<!-- header:start -->", "<!-- header:end -->"
ALL_STEPS = (
    "accuracy", "heldout", "load", "ingest", "streaming", "pathological", "presidio", "pseudonym", "cobrowse",
    "peer", "plots",
)  # fmt: skip


@dataclass
class Step:
    name: str
    module: str
    args: list[str]
    limit: float  # seconds
    status: str = "not run"
    seconds: float = 0.0

    @property
    def command(self) -> str:
        return " ".join([".venv/bin/python", "-m", self.module, *self.args])


def steps(args: argparse.Namespace) -> list[Step]:
    load_args = ["--duration", f"{args.duration:g}"]
    if args.soak:
        load_args += ["--soak", f"{args.soak:g}"]
    out = [
        Step("accuracy", "benchmarks.accuracy", [], 480),
        Step("heldout", "benchmarks.heldout", [], 300),
        Step("load", "benchmarks.load", load_args, 600 + args.soak * 60),
        Step("ingest", "benchmarks.ingest", [], 480),
        Step("streaming", "benchmarks.streaming", [], 300),
        Step("pathological", "benchmarks.pathological", [], 300),
        Step("presidio", "benchmarks.presidio_face", [], 600),
        Step("pseudonym", "benchmarks.pseudonym", [], 600),
        Step("cobrowse", "benchmarks.cobrowse", [], 600),
        Step("peer", "benchmarks.peer_suites", [], 300),
        # last: draws the pictures from what the steps above left (RESULTS.md, *.json)
        Step("plots", "benchmarks.plots", [], 120),
    ]
    return [s for s in out if not args.only or s.name in args.only]


def available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def commit() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()  # fmt: skip
        # RESULTS.md, its pictures and the JSON they are drawn from are written by this run: only
        # other changes make the tree dirty
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)benchmarks/RESULTS.md", ":(exclude)benchmarks/*.png",
                                ":(exclude)benchmarks/*.json"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev + (" with uncommitted changes" if dirty else "")


def header(plan: list[Step], started: float, done: bool, argv: Sequence[str] = ()) -> str:
    lines = [
        "# Benchmark results",
        "",
        HEADER_START,
        f"Machine: **{cpus()} CPU(s)** usable by this process (`os.sched_getaffinity`), "
        f"{os.cpu_count()} online; Python {sys.version.split()[0]}; commit {commit()}.",
        f"Run started {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))} by "
        + (
            "`make bench` (= `.venv/bin/python -m benchmarks.run`)"
            if not argv
            else f"`.venv/bin/python -m benchmarks.run {' '.join(argv)}`"
        )
        + ("." if done else "; still running or interrupted."),
        "",
        "Every number below is measured next to its baseline in the same run, on the same machine: other "
        "work on the machine makes absolute numbers noisy, ratios much less so. Steps, in order:",
        "",
        "| step | exact command | ended | seconds |",
        "| --- | --- | --- | ---: |",
    ]
    for s in plan:
        lines.append(f"| {s.name} | `{s.command}` | {s.status} | {s.seconds:.0f} |")
    if len(plan) < len(ALL_STEPS):
        lines += [
            "",
            "Sections of steps not listed here come from an earlier run: each names its own command and date.",
        ]
    lines.append(HEADER_END)
    return "\n".join(lines) + "\n"


def write_header(text: str, path: Path = RESULTS) -> None:
    """Put the header block at the top of the file, replacing an older one; keep the sections."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if HEADER_START in old and HEADER_END in old:
        body = old.split(HEADER_START, 1)[1].split(HEADER_END, 1)[1]
    else:
        body = old.split("\n", 1)[1] if old.startswith("# ") else old
    new = text + "\n" + body.lstrip("\n")
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(new.rstrip("\n") + "\n", encoding="utf-8")
    tmp.replace(path)


def run_step(cmd: list[str], limit: float) -> int | None:
    """Run one step; past its limit, stop it (SIGTERM: it stops the servers it started), then
    kill it if it does not end. ``None`` when it had to be stopped."""
    proc = subprocess.Popen(cmd, cwd=ROOT)
    try:
        return proc.wait(limit)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        return None
    except BaseException:  # Ctrl-C or SIGTERM of this runner: stop the step cleanly first
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        raise


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=15.0, help="load: measured seconds per case")
    ap.add_argument("--soak", type=float, default=0.0, metavar="MINUTES", help="load: then soak our proxy")
    ap.add_argument("--only", nargs="+", choices=ALL_STEPS)
    args = ap.parse_args(argv)

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    given = list(argv if argv is not None else sys.argv[1:])
    plan = steps(args)
    started = time.time()
    write_header(header(plan, started, False, given))
    failed = 0
    for s in plan:
        if not available(s.module):
            s.status = "skipped (module not present)"
            print(f"[run] {s.name}: skipped, {s.module} not present", file=sys.stderr, flush=True)
            continue
        print(f"[run] {s.name}: {s.command}", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        code = run_step([PYTHON, "-m", s.module, *s.args], s.limit)
        if code is None:
            s.status = f"**stopped after its limit of {s.limit:.0f} s**"
        else:
            s.status = "ok" if code == 0 else f"**failed (exit {code})**"
        s.seconds = time.monotonic() - t0
        failed += s.status != "ok"
        print(f"[run] {s.name}: {s.status} in {s.seconds:.0f}s", file=sys.stderr, flush=True)
        write_header(header(plan, started, False, given))
    write_header(header(plan, started, True, given))
    print(f"[run] done in {time.time() - started:.0f}s; see {RESULTS.relative_to(ROOT)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
