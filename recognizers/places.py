"""Place names that are also given names (``Jordan``, ``London``, ``Berlin``): the names of
countries (``pycountry``: ISO 3166 names, common and official names) and of the cities that
name a time zone in the IANA time-zone database (``zoneinfo``: ``Europe/London``, some 400
big cities). Both ship offline with their packages; nothing is downloaded.

Used to keep place names out of findings that only structure supports (a list of names, a
capitalised given name before a place preposition); a name in stronger context (``my name is
Jordan``) is still a name.
"""

from __future__ import annotations

import functools
import zoneinfo

__all__ = ["is_place"]


@functools.cache
def _places() -> frozenset[str]:
    import pycountry

    names: set[str] = set()
    for country in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            value = getattr(country, attr, None)
            if value:
                names.add(str(value).casefold())
    for zone in zoneinfo.available_timezones():
        if "/" in zone:
            names.add(zone.rsplit("/", 1)[1].replace("_", " ").casefold())
    return frozenset(names)


def is_place(words: str) -> bool:
    """``words`` (any casing) is the name of a country or of a big city."""
    return words.casefold() in _places()
