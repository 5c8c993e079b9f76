"""US state and territory codes and names, shared by the ZIP code and the person recognizers.

There is one list; each recognizer takes the part it needs:

- :data:`STATE_CODES`: the 50 states, DC and Puerto Rico. The person recognizer reads a name
  followed by one of them as a city (``Austin, TX 78701``, ``Madison WI``) and drops it.
- :data:`OTHER_ZIP_CODES`: the other USPS codes that carry ZIP codes: the territories (Guam,
  Virgin Islands, American Samoa, Northern Mariana Islands), the freely associated states
  (Micronesia, Marshall Islands, Palau) and the military "states" (AA, AE, AP). A ZIP code after
  them is still a ZIP code (``Hagatna, GU 96910``, ``APO AE 09012``), so the ZIP code recognizer
  uses :data:`ZIP_STATE_CODES` (both lists). The person recognizer does *not* use them: several
  are surnames or words (``Eileen Gu``, ``Tran Vi``, ``known as``), and a name it took for a city
  would leak.
"""

from __future__ import annotations

__all__ = [
    "OTHER_ZIP_CODES",
    "STATE_CODES",
    "STATE_NAMES",
    "WORDLIKE_STATE_CODES",
    "ZIP_STATE_CODES",
    "alternation",
]

STATE_CODES: tuple[str, ...] = (
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY",
    "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH",
    "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "PR",
)  # fmt: skip
OTHER_ZIP_CODES: tuple[str, ...] = ("GU", "VI", "AS", "MP", "FM", "MH", "PW", "AA", "AE", "AP")
ZIP_STATE_CODES: tuple[str, ...] = STATE_CODES + OTHER_ZIP_CODES

#: State codes that are also English words: in lower case, the ZIP code recognizer wants a comma
#: or a line break before them (``call me in 30 minutes`` is no address).
WORDLIKE_STATE_CODES: frozenset[str] = frozenset(
    {"al", "co", "de", "ga", "hi", "id", "in", "la", "ma", "me", "mi", "mo", "ok", "oh", "or", "pa", "wa"}
)

#: Regex alternatives (lower case; match them case-insensitively); two-word names allow any
#: whitespace between their words.
STATE_NAMES: tuple[str, ...] = (
    "alabama", "alaska", "arizona", "arkansas", "california", "colorado", "connecticut", "delaware", "florida",
    "georgia", "hawaii", "idaho", "illinois", "indiana", "iowa", "kansas", "kentucky", "louisiana", "maine",
    "maryland", "massachusetts", "michigan", "minnesota", "mississippi", "missouri", "montana", "nebraska",
    "nevada", r"new\s+hampshire", r"new\s+jersey", r"new\s+mexico", r"new\s+york", r"north\s+carolina",
    r"north\s+dakota", "ohio", "oklahoma", "oregon", "pennsylvania", r"rhode\s+island", r"south\s+carolina",
    r"south\s+dakota", "tennessee", "texas", "utah", "vermont", "virginia", "washington", r"west\s+virginia",
    "wisconsin", "wyoming",
)  # fmt: skip


def alternation(items: tuple[str, ...]) -> str:
    """``A|B|C``, to be put inside a group of a regex."""
    return "|".join(items)
