"""Data files read by the recognizers (see ``THIRD_PARTY.md`` for each file's source and licence)."""
