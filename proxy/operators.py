"""Operators: what a policy does to one detected value or one field's value.

Each is a small pure function. A generaliser that cannot parse its input returns ``None`` and the
caller falls back to the safe choice (the entity tag for text, dropping for a field): an operator
never lets a raw value through because it could not understand it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import itertools
import re
from collections.abc import Callable, Sequence

_ZIP = re.compile(r"^\s*(\d{3})\d{2}(?:\s*-\s*\d{4})?\s*$")
_INT = re.compile(r"(\d{1,3})")
_MONEY = re.compile(
    r"(?P<num>\d{1,3}(?:[,\s]\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s*(?P<suffix>k|K|thousand|m|M|mil|million)?\b"
)


def tag(entity: str) -> str:
    return f"<{entity}>"


def mask(value: str, keep_last: int = 4, char: str = "*") -> str:
    """Mask all but the last ``keep_last`` alphanumerics; separators stay where they are."""
    alnum_total = sum(ch.isalnum() for ch in value)
    keep_from = max(alnum_total - keep_last, 0)
    out, seen = [], 0
    for ch in value:
        if ch.isalnum():
            out.append(ch if seen >= keep_from else char)
            seen += 1
        else:
            out.append(ch)
    return "".join(out)


def keyed_hash(value: str, key: bytes) -> str:
    """HMAC-SHA256 of the UTF-8 value under ``key``: 64 lowercase hex characters."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def zip3(value: str) -> str | None:
    """``94107`` and ``94107-1234`` -> ``941XX``; anything else -> None."""
    m = _ZIP.match(value)
    return f"{m.group(1)}XX" if m else None


def parse_age(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 150 else None
    if isinstance(value, float):
        return int(value) if 0 <= value < 150 else None
    if isinstance(value, str):
        m = _INT.search(value)
        if m and len(_INT.findall(value)) == 1:
            age = int(m.group(1))
            return age if age < 150 else None
    return None


def age_band(value: object, bounds: Sequence[int] = (18, 30, 40, 50, 60, 70, 80, 90)) -> str | None:
    """34 -> ``30-39``; below the first bound -> ``under 18``; from the last -> ``90+``."""
    age = parse_age(value)
    return None if age is None else _band(age, bounds, str)


def _band(amount: float, bounds: Sequence[int], show: Callable[[int], str]) -> str:
    """The label of the band ``amount`` falls in: ``under B0``, ``Bi-(Bi+1 - 1)`` or ``Bn+``."""
    if amount < bounds[0]:
        return f"under {show(bounds[0])}"
    for low, high in itertools.pairwise(bounds):
        if low <= amount < high:
            return f"{show(low)}-{show(high - 1)}"
    return f"{show(bounds[-1])}+"


def parse_money(value: object) -> float | None:
    """``"$85,000"``, ``"85k"``, ``"USD 85,000"``, ``85000`` -> 85000.0; ambiguous -> None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value >= 0 else None
    if not isinstance(value, str):
        return None
    found = list(_MONEY.finditer(value))
    if len(found) != 1:
        return None
    m = found[0]
    digits = m.group("num")
    amount = float(re.sub(r"[,\s]", "", digits))
    suffix = (m.group("suffix") or "").lower()
    if suffix in ("k", "thousand"):
        amount *= 1_000
    elif suffix in ("m", "mil", "million"):
        amount *= 1_000_000
    return amount


def _money(n: int) -> str:
    return f"${n:,}"


def income_band(value: object, bounds: Sequence[int] = (25_000, 50_000, 100_000, 150_000, 200_000)) -> str | None:
    """``"$85,000"`` -> ``$50,000-$99,999``; below the first bound -> ``under $25,000``."""
    amount = parse_money(value)
    return None if amount is None else _band(amount, bounds, _money)


def ip_truncate(value: str) -> str | None:
    """IPv4 keeps its first three octets (``/24``), IPv6 its first 48 bits; else None."""
    text = value.strip()
    try:
        ip = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)
