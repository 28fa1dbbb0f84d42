"""Spreadsheet formula injection (OWASP "CSV injection"): a text cell that starts with
= + - @ TAB CR or LF is prefixed with an apostrophe, so Excel and friends show it as
text instead of running it.  Numbers and dates are typed values and stay untouched."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

DANGEROUS_FIRST = ("=", "+", "-", "@", "\t", "\r", "\n")
_PATTERN = "^[=+\\-@\\t\\r\\n]"


def neutralise(text: str) -> str:
    return "'" + text if text.startswith(DANGEROUS_FIRST) else text


def neutralise_array(array: pa.Array) -> pa.Array:
    """The same, vectorised over an Arrow string array (other types pass through)."""
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return array
    risky = pc.match_substring_regex(array, _PATTERN)
    # Every operand of the array's own type: a plain "" would not join large strings.
    quote, nothing = pa.scalar("'", array.type), pa.scalar("", array.type)
    prefixed = pc.binary_join_element_wise(quote, array, nothing)
    return pc.if_else(risky, prefixed, array)
