"""Each operator, on good and unparseable input."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from proxy import operators as ops


def test_tag() -> None:
    assert ops.tag("PERSON") == "<PERSON>"


@pytest.mark.parametrize(
    ("value", "keep", "expected"),
    [
        ("4111 1111 1111 1234", 4, "**** **** **** 1234"),
        ("555-0134", 2, "***-**34"),
        ("ab", 4, "ab"),
        ("secret", 0, "******"),
    ],
)
def test_mask(value: str, keep: int, expected: str) -> None:
    assert ops.mask(value, keep) == expected


def test_keyed_hash_is_hmac_sha256_hex() -> None:
    got = ops.keyed_hash("maria@example.com", b"k1")
    assert got == hmac.new(b"k1", b"maria@example.com", hashlib.sha256).hexdigest()
    assert len(got) == 64
    assert got == got.lower()
    assert ops.keyed_hash("maria@example.com", b"k1") == got
    assert ops.keyed_hash("maria@example.com", b"k2") != got


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("94107", "941XX"),
        ("94107-1234", "941XX"),
        (" 02139 ", "021XX"),
        ("9410", None),
        ("941077", None),
        ("abcde", None),
    ],
)
def test_zip3(value: str, expected: str | None) -> None:
    assert ops.zip3(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (34, "30-39"),
        (17, "under 18"),
        (0, "under 18"),
        (18, "18-29"),
        (29, "18-29"),
        (80, "80-89"),
        (89, "80-89"),
        (90, "90+"),
        (104, "90+"),
        ("34", "30-39"),
        (" 45 years ", "40-49"),
        (34.9, "30-39"),
        (True, None),
        ("thirty", None),
        ("34 or 35", None),
        (-3, None),
        (200, None),
    ],
)
def test_age_band(value: object, expected: str | None) -> None:
    assert ops.age_band(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("$85,000", "$50,000-$99,999"),
        ("85k", "$50,000-$99,999"),
        ("USD 85,000", "$50,000-$99,999"),
        (85000, "$50,000-$99,999"),
        ("$24,999", "under $25,000"),
        ("$25,000", "$25,000-$49,999"),
        ("$100,000", "$100,000-$149,999"),
        ("$150,000.00", "$150,000-$199,999"),
        ("$1.2 million", "$200,000+"),
        ("250000", "$200,000+"),
        ("lots", None),
        ("$50,000 to $60,000", None),
        (False, None),
    ],
)
def test_income_band(value: object, expected: str | None) -> None:
    assert ops.income_band(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("203.0.113.57", "203.0.113.0"),
        ("2001:db8:85a3:8d3::7348", "2001:db8:85a3::"),
        ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::"),
        ("::ffff:203.0.113.57", "203.0.113.0"),
        ("not an ip", None),
        ("999.1.1.1", None),
    ],
)
def test_ip_truncate(value: str, expected: str | None) -> None:
    assert ops.ip_truncate(value) == expected


def test_custom_bands() -> None:
    assert ops.age_band(34, (21, 65)) == "21-64"
    assert ops.age_band(70, (21, 65)) == "65+"
    assert ops.income_band("$10", (100, 1000)) == "under $100"
