"""POST /logs/ bodies into records, and records into the lines the sink receives."""

from __future__ import annotations

import json

import pytest

from proxy.errors import PayloadError, TooLarge
from proxy.sinks.records import RECORD_ID, encode_record, new_record_id, parse_records, record_id_of


def test_ndjson_objects_and_other_values() -> None:
    body = b'{"a":1}\r\n\n  \n"text"\n[1,2]\n3\n{"b":{"c":null}}'
    assert parse_records(body, "ndjson") == [
        {"a": 1},
        {"message": "text"},
        {"message": [1, 2]},
        {"message": 3},
        {"b": {"c": None}},
    ]


def test_text_lines_become_messages() -> None:
    assert parse_records(b"first line\r\nsecond\n\n", "text") == [{"message": "first line"}, {"message": "second"}]
    assert parse_records("caf\u00e9\n".encode("latin-1"), "text", "latin-1") == [{"message": "caf\u00e9"}]


def test_empty_body_has_no_records() -> None:
    assert parse_records(b"", "ndjson") == []
    assert parse_records(b"\n\n", "text") == []


@pytest.mark.parametrize(
    ("body", "line"),
    [
        (b'{"a":1}\n{"a":\n{"a":3}\n', 2),
        (b'{"a":1}\n\n\n{oops}\n', 4),
        (b'{"a":NaN}\n', 1),
        (b'{"a":1}\n{"b":"\xff"}\n', 2),
        (b'{"a":1} {"b":2}\n', 1),
    ],
)
def test_bad_line_is_named_and_its_content_is_not(body: bytes, line: int) -> None:
    with pytest.raises(PayloadError) as err:
        parse_records(body, "ndjson")
    assert not isinstance(err.value, TooLarge)
    assert str(err.value).startswith(f"line {line}: ")
    assert "oops" not in str(err.value)


def test_invalid_utf8_text_line() -> None:
    with pytest.raises(PayloadError) as err:
        parse_records(b"ok\nbad \xff\xfe\n", "text")
    assert str(err.value).startswith("line 2: ")


def test_line_too_long_is_413() -> None:
    with pytest.raises(TooLarge) as err:
        parse_records(b'{"a":1}\n' + b"x" * 101 + b"\n", "text", max_line_bytes=100)
    assert str(err.value).startswith("line 2: ")


def test_unknown_charset() -> None:
    with pytest.raises(PayloadError):
        parse_records(b"x", "text", "no-such-charset")


def test_encode_adds_record_id_and_replaces_a_client_one() -> None:
    rid = new_record_id()
    line = encode_record({"a": "\u00e9", RECORD_ID: "client", "z": [1]}, rid)
    assert b"\n" not in line
    value = json.loads(line)
    assert value == {"a": "\u00e9", "z": [1], RECORD_ID: rid}
    assert record_id_of(line) == rid
    assert record_id_of(b"not json") is None


def test_record_ids_are_unique_strings() -> None:
    ids = {new_record_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(isinstance(i, str) and i for i in ids)
