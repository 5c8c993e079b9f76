"""Config loading: interpolation, FILE:LINE errors, refusal of unknown keys."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from proxy.config import load_config
from proxy.yamlload import ConfigError, interpolate, load_yaml

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = (ROOT / "config" / "proxy.yaml").read_text()


def test_interpolation() -> None:
    missing: list[str] = []
    env = {"A": "x", "EMPTY": ""}
    assert interpolate("${A}", env, missing) == "x"
    assert interpolate("${B:-dflt}/${A}", env, missing) == "dflt/x"
    assert interpolate("${EMPTY:-d}", env, missing) == "d"
    assert interpolate("${EMPTY}", env, missing) == ""
    assert interpolate("${NOPE}", env, missing) == ""
    assert missing == ["NOPE"]


def test_shipped_config_defaults_and_env() -> None:
    cfg = load_config(ROOT / "config" / "proxy.yaml", env={})
    assert cfg.upstreams["chat_partner"].url == "demo:echo"
    assert cfg.sinks["log_sink"].chosen == "file"
    assert cfg.audit.file == "var/audit.jsonl"
    assert cfg.spool.dir == "var/spool"
    assert cfg.limits.max_body_bytes == 1024 * 1024
    cfg2 = load_config(
        ROOT / "config" / "proxy.yaml",
        env={"CHAT_PARTNER_URL": "http://partner.test:8000/", "LOG_SINK_URL": "http://sink.test/in", "SPOOL_DIR": "/s"},
    )
    assert cfg2.upstreams["chat_partner"].url == "http://partner.test:8000"
    assert cfg2.sinks["log_sink"].chosen == "http"
    assert cfg2.spool.dir == "/s"


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "proxy.yaml"
    p.write_text(text)
    (tmp_path / "recognizers.yaml").write_text((ROOT / "config" / "recognizers.yaml").read_text())
    return p


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    return info.value.problems


def line_of(text: str, needle: str) -> int:
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError("needle not found")


def test_unknown_key_reported_with_line(tmp_path: Path) -> None:
    text = SHIPPED.replace("  max_batch: 64", "  max_batch: 64\n  max_bacth: 3")
    p = write(tmp_path, text)
    probs = problems_of(p)
    assert probs == [f"{p}:{line_of(text, 'max_bacth')}: detection.max_bacth: unknown key"]


def test_bad_values_reported_with_lines(tmp_path: Path) -> None:
    text = SHIPPED.replace("port: 8080", "port: eighty").replace("text: scan", "text: scna")
    p = write(tmp_path, text)
    probs = problems_of(p)
    assert any(x.startswith(f"{p}:{line_of(text, 'port: eighty')}: listen.port") for x in probs), probs
    assert any(x.startswith(f"{p}:{line_of(text, 'text: scna')}: destinations.chat_partner.fields.text") for x in probs)


def test_yaml_syntax_error_line(tmp_path: Path) -> None:
    text = SHIPPED.replace("  max_batch: 64", "  max_batch: [64")
    p = write(tmp_path, text)
    probs = problems_of(p)
    assert len(probs) == 1
    assert probs[0].startswith(f"{p}:")
    assert "YAML syntax error" in probs[0]


def test_missing_required_env_var(tmp_path: Path) -> None:
    text = SHIPPED.replace("${CHAT_PARTNER_URL:-demo:echo}", "${CHAT_PARTNER_URL}")
    p = write(tmp_path, text)
    probs = problems_of(p)
    assert probs == [
        f"{p}:{line_of(text, '${CHAT_PARTNER_URL}')}: environment variable CHAT_PARTNER_URL is not set "
        "(use ${CHAT_PARTNER_URL:-default} for an optional one)"
    ]


def test_unknown_destination_reference(tmp_path: Path) -> None:
    text = SHIPPED.replace("    destination: log_sink\n", "    destination: nowhere\n")
    p = write(tmp_path, text)
    probs = problems_of(p)
    assert any("unknown destination 'nowhere'" in x for x in probs)


def test_duplicate_key(tmp_path: Path) -> None:
    text = SHIPPED.replace("  max_batch: 64", "  max_batch: 64\n  max_batch: 65")
    p = write(tmp_path, text)
    assert problems_of(p) == [f"{p}:{line_of(text, 'max_batch: 65')}: duplicate key 'max_batch'"]


def test_load_yaml_lines(tmp_path: Path) -> None:
    p = tmp_path / "x.yaml"
    p.write_text("a:\n  b:\n    - 1\n    - c: 2\n")
    loaded = load_yaml(p, env={})
    assert loaded.line_of(("a", "b", 1, "c")) == 4
    assert loaded.line_of(("a", "zzz")) == 1


def run_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy", "check-config", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_check_config_cli_ok() -> None:
    r = run_check()
    assert r.returncode == 0
    assert r.stdout.strip() == "ok"


def test_check_config_cli_broken_files(tmp_path: Path) -> None:
    text = SHIPPED.replace("  max_batch: 64", "  max_batch: 64\n  max_bacth: 3")
    p = write(tmp_path, text)
    rec = tmp_path / "recognizers.yaml"
    rec_text = re.sub(r'regex: ".*ACCT-.*"', 'regex: "ACCT-(\\\\\\\\d{6"', rec.read_text())
    assert rec_text != rec.read_text()
    rec.write_text(rec_text)
    r = run_check(str(p))
    assert r.returncode == 2
    lines = r.stdout.strip().splitlines()
    # proxy.yaml problems come first; the recognizer file is only read when proxy.yaml is valid
    assert lines == [f"{p}:{line_of(text, 'max_bacth')}: detection.max_bacth: unknown key"]
    p.write_text(SHIPPED)
    r = run_check(str(p))
    assert r.returncode == 2
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{rec}:{line_of(rec_text, 'ACCT-(')}: bad regex")


def test_check_config_missing_file(tmp_path: Path) -> None:
    r = run_check(str(tmp_path / "nope.yaml"))
    assert r.returncode == 2
    assert r.stdout.startswith(f"{tmp_path / 'nope.yaml'}:1: cannot read file")
