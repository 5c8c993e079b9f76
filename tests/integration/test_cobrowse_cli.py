"""`redact --format rrweb` for real: the CLI with the real detector, one rrweb event (or array)
per line, all lines one session: what ops run to try their co-browse policy on a recording."""

from __future__ import annotations

import json
import os
import subprocess

from tests.helpers import PYTHON, ROOT, TEST_KEY

EMAIL = "maria.garcia@example.com"


def test_redact_rrweb_lines_share_one_session() -> None:
    snapshot = {
        "type": 2,
        "timestamp": 1,
        "data": {
            "initialOffset": {"left": 0, "top": 0},
            "node": {
                "type": 0,
                "id": 1,
                "childNodes": [
                    {
                        "type": 2,
                        "tagName": "body",
                        "id": 2,
                        "attributes": {},
                        "childNodes": [
                            {"type": 3, "id": 3, "textContent": f"Signed in as {EMAIL}"},
                            {"type": 2, "tagName": "input", "id": 4, "attributes": {"type": "email"}, "childNodes": []},
                            {"type": 2, "tagName": "input", "id": 5, "attributes": {"type": "text"}, "childNodes": []},
                        ],
                    }
                ],
            },
        },
    }
    lines = [
        json.dumps(snapshot),
        json.dumps({"type": 3, "timestamp": 2, "data": {"source": 5, "id": 4, "text": "x@y.org", "isChecked": False}}),
        json.dumps(
            [
                {"type": 3, "timestamp": 3, "data": {"source": 5, "id": 5, "text": "hi ", "isChecked": False}},
                {"type": 3, "timestamp": 3, "data": {"source": 1, "positions": []}},
            ]
        ),
        "",
        "{broken",
        json.dumps({"type": 8, "timestamp": 4, "data": {}}),  # unknown kind: dropped
    ]
    env = {**os.environ, "PSEUDONYM_KEY": TEST_KEY, "PYTHONPATH": str(ROOT)}
    r = subprocess.run(
        [PYTHON, "-m", "proxy", "redact", "--destination", "cobrowse", "--format", "rrweb"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0
    out = r.stdout.split("\n")[:-1]
    assert len(out) == len(lines)  # one line out per line in
    assert EMAIL not in r.stdout and "x@y.org" not in r.stdout
    assert json.loads(out[0])["data"]["node"]["childNodes"][0]["childNodes"][0]["textContent"].startswith(
        "Signed in as "
    )
    assert json.loads(out[1])["data"]["text"] == "*******"  # the snapshot of line 1 told: type=email
    assert [e["data"].get("text") for e in json.loads(out[2])] == ["hi ", None]
    assert out[3] == "" and out[4] == "null" and out[5] == "null"
    assert "line 5" in r.stderr and "broken" not in r.stderr
