"""RFC 5424 messages and RFC 6587 octet-counted framing."""

from __future__ import annotations

import re

import pytest

from proxy.sinks import syslog

# RFC 5424 HEADER SP STRUCTURED-DATA SP MSG, with NILVALUEs where we send them
RFC5424 = re.compile(
    rb"^<(?P<pri>\d{1,3})>1 (?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (?P<host>[\x21-\x7e]{1,255}) "
    rb"(?P<app>[\x21-\x7e]{1,48}) (?P<procid>[\x21-\x7e]{1,128}) (?P<msgid>[\x21-\x7e]{1,32}) - (?P<msg>.*)$",
    re.DOTALL,
)


def test_message_shape() -> None:
    body = b'{"level":"error","message":"x y","_record_id":"abc"}'
    msg = syslog.message(body, 1_700_000_000.25, hostname="web 1", app_name="pii-proxy", facility=16)
    m = RFC5424.match(msg)
    assert m is not None
    assert int(m["pri"]) == 16 * 8 + 3
    assert m["ts"] == b"2023-11-14T22:13:20.250000Z"
    assert m["host"] == b"web_1"
    assert m["app"] == b"pii-proxy"
    assert m["msg"] == body


@pytest.mark.parametrize(
    ("record", "severity"),
    [
        ({"level": "warning"}, 4),
        ({"level": "WARN"}, 4),
        ({"severity": "critical"}, 2),
        ({"level": 7}, 7),
        ({"level": True}, 6),
        ({"level": "verbose"}, 6),
        ({}, 6),
        ("not a dict", 6),
    ],
)
def test_severity(record: object, severity: int) -> None:
    assert syslog.severity_of(record) == severity


def test_header_fields_are_printable_ascii() -> None:
    assert syslog.header_field("", 48) == "-"
    assert syslog.header_field("a b\u00e9c", 48) == "a_b_c"
    assert len(syslog.header_field("x" * 300, 255)) == 255


def test_timestamp_rounding() -> None:
    assert syslog.timestamp(0.9999999) == "1970-01-01T00:00:01.000000Z"


def test_octet_counted_framing_round_trip() -> None:
    msgs = [b"<134>1 - - - - - - {}", '<134>1 - h a - - - {"m":"\u00e9\\nx"}'.encode(), b"a\nb c"]
    framed = b"".join(syslog.frame(m) for m in msgs)
    assert framed.startswith(str(len(msgs[0])).encode() + b" <134>")
    assert syslog.frame(msgs[1]).startswith(str(len(msgs[1])).encode() + b" ")  # bytes, not characters
    got, rest = syslog.unframe(framed + b"12 partial")
    assert got == msgs and rest == b"12 partial"
