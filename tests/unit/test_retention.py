"""Retention of the audit log and the dead-letter file: rotation by size and by UTC day, deletion
past retention and past ``keep``, several writers at once (real files, real processes)."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

from proxy import retention
from proxy.audit import AuditLog
from proxy.policy import AuditEvent
from proxy.sinks.spool import append_dead_letter

DAY = 86400.0


def all_lines(path: Path) -> list[str]:
    files = [*retention.rotated_files(path), path]
    return [line for f in files if f.exists() for line in f.read_text().splitlines()]


def test_rotates_past_the_size_and_starts_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text("x" * 5000 + "\n")
    policy = retention.Policy(rotate_bytes=4096, retention_days=30, keep=5)
    assert retention.maintain(path, policy)
    (rotated,) = retention.rotated_files(path)
    assert rotated.read_text() == "x" * 5000 + "\n"
    assert path.exists() and path.stat().st_size == 0
    assert not retention.maintain(path, policy)  # empty: nothing to rotate


def test_rotates_at_the_first_maintenance_of_a_new_utc_day(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text("yesterday\n")
    policy = retention.Policy(rotate_bytes=1 << 20, retention_days=30, keep=5)
    now = time.time()
    assert not retention.maintain(path, policy, now=now)  # written today, small: stays
    os.utime(path, (now - DAY, now - DAY))
    assert retention.maintain(path, policy, now=now)
    assert [f.read_text() for f in retention.rotated_files(path)] == ["yesterday\n"]


def test_deletes_rotated_files_past_retention_and_past_keep(tmp_path: Path) -> None:
    path = tmp_path / "dead-letter.ndjson"
    path.touch()
    now = time.time()
    for i, age_days in enumerate([45, 31, 3, 2, 1, 0.5]):
        f = tmp_path / f"dead-letter.ndjson.2026010{i}T000000Z"
        f.write_text(f"{i}\n")
        os.utime(f, (now - age_days * DAY, now - age_days * DAY))
    (tmp_path / "dead-letter.ndjson.unrelated").write_text("kept\n")
    retention.maintain(path, retention.Policy(rotate_bytes=1 << 20, retention_days=30, keep=3), now=now)
    left = [f.read_text() for f in retention.rotated_files(path)]
    assert left == ["3\n", "4\n", "5\n"]  # 45 and 31 days: past retention; then the oldest past keep
    assert (tmp_path / "dead-letter.ndjson.unrelated").exists()


def _writer(path: str, worker: int, n: int) -> None:
    log = AuditLog(path, retention.Policy(rotate_bytes=4096, retention_days=30, keep=1000))
    for i in range(n):
        log.write([AuditEvent(f"w{worker}.{i}", "tag")], request_id="r", destination="d", direction="request")
        if i % 50 == 0:
            time.sleep(0.01)  # past the writer's check interval now and then
            log._next_check = 0.0
    log.close()


def test_two_processes_writing_while_rotating_lose_and_split_nothing(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(path), w, 600)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    lines = all_lines(path)
    fields = [json.loads(line)["field"] for line in lines]  # every line whole JSON
    assert sorted(fields) == sorted(f"w{w}.{i}" for w in range(2) for i in range(600))
    assert len(retention.rotated_files(path)) >= 5  # it did rotate, many times


def test_a_writer_follows_a_rename_made_elsewhere(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(str(path), retention.Policy(rotate_bytes=1 << 20, retention_days=30, keep=5))
    log.write([AuditEvent("a", "tag")], request_id="r", destination="d", direction="request")
    os.rename(path, tmp_path / "audit.jsonl.20260101T000000Z")  # logrotate, or another worker
    log._next_check = 0.0
    log.write([AuditEvent("b", "tag")], request_id="r", destination="d", direction="request")
    assert [json.loads(x)["field"] for x in path.read_text().splitlines()] == ["b"]


def test_dead_letter_appends_rotate_when_due(tmp_path: Path) -> None:
    path = tmp_path / "dead-letter.ndjson"
    policy = retention.Policy(rotate_bytes=4096, retention_days=30, keep=100)
    for i in range(20):
        append_dead_letter(path, [json.dumps({"i": i, "pad": "p" * 400}).encode()], policy)
    got = sorted(json.loads(line)["i"] for line in all_lines(path))
    assert got == list(range(20))
    assert retention.rotated_files(path)
