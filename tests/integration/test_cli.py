"""The ``redact`` and ``explain`` commands, run as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT, TEST_KEY


def run(
    args: list[str], stdin: bytes, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[bytes]:
    full = {k: v for k, v in os.environ.items() if k != "PSEUDONYM_KEY"}
    full.update({"PYTHONPATH": str(ROOT)})
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "proxy", *args], input=stdin, capture_output=True, cwd=cwd, env=full, timeout=120
    )


def test_redact_text_one_line_per_line(tmp_path: Path) -> None:
    stdin = (
        b"Hi, I am Maria Garcia\n"
        b"\n"
        b"mail me at maria.garcia@example.com\n"
        b"caf\xe9 with Maria Garcia\n"  # invalid UTF-8
        b"   \n"
        b"my zip is 94107 and I'm 34 years old\n"
        b"no newline at the end, Maria Garcia"
    )
    r = run(["redact", "--destination", "chat_partner", "--format", "text"], stdin, {"PSEUDONYM_KEY": TEST_KEY})
    assert r.returncode == 0
    out = r.stdout.decode().split("\n")
    assert out == [
        "Hi, I am <PERSON>",
        "",
        "mail me at <EMAIL_ADDRESS>",
        "",
        "",
        "my zip is 941XX and I'm 30-39 years old",
        "no newline at the end, <PERSON>",
        "",
    ]
    err = r.stderr.decode()
    assert "line 4: invalid utf-8" in err
    assert "Maria" not in err
    assert "caf" not in err


def test_redact_ndjson(tmp_path: Path) -> None:
    stdin = b"\n".join(
        [
            json.dumps({"conversation_id": "c", "text": "I am Maria Garcia", "x": 1}).encode(),
            b'{"text": "broken maria.garcia@example.com"',
            b'"a bare string: maria.garcia@example.com"',
            b"42",
            b"[1, 2]",
            b"",
            json.dumps({"survey": {"email": "maria.garcia@example.com", "age": 34}}).encode(),
        ]
    )
    r = run(["redact", "--destination", "chat_partner", "--format", "ndjson"], stdin, {"PSEUDONYM_KEY": TEST_KEY})
    assert r.returncode == 0
    lines = r.stdout.decode().split("\n")
    assert len(lines) == 8 and lines[-1] == ""
    assert json.loads(lines[0]) == {"conversation_id": "c", "text": "I am <PERSON>"}
    assert lines[1] == "null"
    assert json.loads(lines[2]) == "a bare string: <EMAIL_ADDRESS>"
    assert json.loads(lines[3]) == 42
    assert json.loads(lines[4]) == [1, 2]
    assert lines[5] == ""
    survey = json.loads(lines[6])["survey"]
    assert survey["age"] == "30-39"
    assert len(survey["email"]) == 64
    assert b"maria" not in r.stderr.lower()
    assert "line 2: malformed JSON" in r.stderr.decode()


def test_redact_log_sink_needs_no_key_and_audits_only_when_asked(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    stdin = json.dumps({"client_ip": "203.0.113.57", "message": "login maria.garcia@example.com"}).encode() + b"\n"
    env = {"AUDIT_FILE": str(audit)}
    r = run(["redact", "--destination", "log_sink", "--format", "ndjson"], stdin, env)
    assert r.returncode == 0
    assert json.loads(r.stdout) == {"client_ip": "203.0.113.0", "message": "login <EMAIL_ADDRESS>"}
    assert not audit.exists()
    r = run(["redact", "--destination", "log_sink", "--format", "ndjson", "--audit"], stdin, env)
    assert r.returncode == 0
    records = [json.loads(x) for x in audit.read_text().splitlines()]
    assert {(x["field"], x["operator"]) for x in records} == {("client_ip", "ip_truncate"), ("*", "tag")}
    assert "maria" not in audit.read_text()
    assert "203.0.113.57" not in audit.read_text()


def test_redact_hashing_destination_needs_key() -> None:
    r = run(["redact", "--destination", "chat_partner"], b"hello\n")
    assert r.returncode == 2
    assert b"PSEUDONYM_KEY" in r.stderr


def test_redact_unknown_destination() -> None:
    r = run(["redact", "--destination", "nowhere"], b"hello\n")
    assert r.returncode == 2
    assert b"unknown destination" in r.stderr


def test_explain_prints_findings_never_values() -> None:
    text = "I am Maria Garcia, mail maria.garcia@example.com, zip 94107"
    r = run(["explain", "--destination", "chat_partner"], text.encode())
    assert r.returncode == 0
    rows = [json.loads(x) for x in r.stdout.decode().splitlines()]
    by_entity = {x["entity"]: x for x in rows}
    assert set(by_entity) >= {"PERSON", "EMAIL_ADDRESS", "US_ZIP_CODE"}
    email = by_entity["EMAIL_ADDRESS"]
    assert text[email["start"] : email["end"]] == "maria.garcia@example.com"
    assert email["operator"] == "tag"
    assert by_entity["US_ZIP_CODE"]["operator"] == "zip3"
    assert email["recognizer"] == "EmailRecognizer"
    assert 0 < email["score"] <= 1
    out = r.stdout.decode() + r.stderr.decode()
    for raw in ("Maria Garcia", "maria.garcia@example.com", "94107"):
        assert raw not in out
