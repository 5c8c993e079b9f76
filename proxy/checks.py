"""Start-up checks shared by ``check-config`` and ``serve``: the config, its recognizer rules and
the spaCy model, every problem as ``FILE:LINE: message``; the CPUs this process may use."""

from __future__ import annotations

import os
from pathlib import Path

from proxy.config import load_config
from proxy.yamlload import ConfigError

__all__ = ["config_problems", "limit_blas_threads", "usable_cpus"]


def usable_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def limit_blas_threads() -> None:
    """One BLAS thread per process, set by the entry points before anything imports numpy: the
    proxy already runs one worker per core, and spaCy's matrices are small, so OpenBLAS's own
    threads only contend with the other workers (measured: NER 20% slower per text with them).
    Ops can still override the variables. Child processes inherit them."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def config_problems(path: str) -> list[str]:
    """Every problem of ``proxy.yaml`` and the recognizer file it names, as ``FILE:LINE: msg``."""
    from proxy.yamlload import load_yaml

    try:
        cfg = load_config(path)
    except ConfigError as exc:
        return exc.problems
    problems: list[str] = []
    from recognizers.engine import load_registry_config

    try:
        load_registry_config(cfg.recognizers_path())
    except ConfigError as exc:
        problems.extend(exc.problems)
    else:
        problems.extend(_pattern_rule_problems(cfg.recognizers_path()))
    import spacy.util

    if not spacy.util.is_package(cfg.detection.model) and not Path(cfg.detection.model).exists():
        loaded = load_yaml(path)
        problems.append(loaded.problem(("detection", "model"), f"spaCy model {cfg.detection.model!r} is not installed"))
    return problems


def _pattern_rule_problems(path: str | Path) -> list[str]:
    """Pattern rules of the (already valid) recognizer file whose matching time grows faster than
    their input (``recognizers.complexity``): one value-free ``FILE:LINE: message`` each. A few
    milliseconds per sound rule; a catastrophic one costs its probe's time budget, never a hang."""
    from presidio_analyzer.input_validation import RecognizerRegistryConfig

    from proxy.yamlload import load_yaml
    from recognizers.complexity import pattern_problems

    loaded = load_yaml(path)
    flags = RecognizerRegistryConfig(**loaded.data).global_regex_flags
    problems: list[str] = []
    for i, rec in enumerate(loaded.data.get("recognizers") or []):
        if not isinstance(rec, dict):
            continue
        for j, pat in enumerate(rec.get("patterns") or []):
            if not (isinstance(pat, dict) and isinstance(pat.get("regex"), str)):
                continue
            where = ("recognizers", i, "patterns", j, "regex")
            for msg in pattern_problems(str(pat.get("name", j)), pat["regex"], flags):
                problems.append(loaded.problem(where, f"recognizer {str(rec.get('name', i))!r}: {msg}"))
    return problems
