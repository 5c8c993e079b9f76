"""Retention in a running proxy: at start-up (and every minute) each worker rotates and prunes
the audit log and the dead-letter file, so files past retention go even when nothing is written."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.helpers import running_proxy

DAY = 86400.0


def _aged(path: Path, days: float, text: str = "{}\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    t = time.time() - days * DAY
    os.utime(path, (t, t))
    return path


def test_files_past_retention_are_deleted_and_a_stale_day_is_rotated(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    spool = tmp_path / "spool"
    old_audit = _aged(tmp_path / "audit.jsonl.20251001T000000Z", 60)
    recent_audit = _aged(tmp_path / "audit.jsonl.20261125T000000Z", 5)
    old_dead = _aged(spool / "dead-letter.ndjson.20251001T000000Z", 45)
    _aged(audit, 2, '{"field":"from two days ago"}\n')  # the current file, last written 2 days ago
    with running_proxy(tmp_path, env={"AUDIT_FILE": str(audit), "SPOOL_DIR": str(spool)}):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (old_audit.exists() or old_dead.exists()):
            time.sleep(0.2)
        assert not old_audit.exists() and not old_dead.exists()
        assert recent_audit.exists()  # inside retention: kept
        rotated = sorted(tmp_path.glob("audit.jsonl.2*"))
        assert any("from two days ago" in f.read_text() for f in rotated)  # yesterday's file rotated
        assert "from two days ago" not in audit.read_text()
