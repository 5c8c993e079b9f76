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

__all__ = ["is_country", "is_place"]

#: Names people use for countries that ISO 3166 spells otherwise.
_COUNTRY_ALIASES = frozenset({"usa", "uk", "england", "scotland", "wales", "russia", "great britain", "america"})


@functools.cache
def _countries(with_codes: bool) -> frozenset[str]:
    """Casefolded country names (ISO 3166 name, common and official name); with their alpha-2,
    alpha-3 and numeric codes too when ``with_codes`` (what ``pycountry.countries.lookup`` matches)."""
    import pycountry

    attrs = ("name", "common_name", "official_name") + (("alpha_2", "alpha_3", "numeric") if with_codes else ())
    return frozenset(
        str(value).casefold()
        for country in pycountry.countries
        for attr in attrs
        if (value := getattr(country, attr, None))
    )


@functools.cache
def _places() -> frozenset[str]:
    names = set(_countries(with_codes=False))
    for zone in zoneinfo.available_timezones():
        if "/" in zone:
            names.add(zone.rsplit("/", 1)[1].replace("_", " ").casefold())
    return frozenset(names)


def is_place(words: str) -> bool:
    """``words`` (any casing) is the name of a country or of a big city."""
    return words.casefold() in _places()


def is_country(words: str) -> bool:
    """``words`` (any casing) names a country: its name or code, or a common alias (``UK``)."""
    key = words.casefold()
    return key in _countries(with_codes=True) or key in _COUNTRY_ALIASES
