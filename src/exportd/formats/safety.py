"""Spreadsheet formula injection (OWASP "CSV injection"): a text cell a spreadsheet could
read as a formula is prefixed with an apostrophe, so it shows the text instead of
running it.  Numbers and dates are typed values and stay untouched.

The rule, for every text cell and every header (a rename is text the user chose): a
cell is risky when its first character that is not *ignorable* is one of
= + - @ or their full-width forms (U+FF1D, U+FF0B, U+FF0D, U+FF20), or when
its leading ignorable run holds a TAB, CR or LF.  Ignorable is what importers drop or
treat as blank before a value: C0 controls (NUL included: LibreOffice drops it and ran
``"\\x00=SUM(40;2)"``), the space, DEL and the C1 controls, no-break spaces, the other
Unicode spaces, the zero-width and direction marks and the byte-order mark (the
``IGNORABLE`` ranges below).  The apostrophe goes in front of everything, so whatever
an importer drops afterwards, the first character it keeps is the apostrophe.

One exception: a signed plain number (``-1``, ``+2.5``: a sign, ASCII digits, at most
one decimal part and nothing else) is left as it is.  A spreadsheet reads it as that
number, never as something that runs, and the apostrophe only showed (``'-1`` in an
XLSX text cell).

Control characters are *not* stripped from text: once the leading run is judged they
cannot start a formula (tested with LibreOffice, tests/security/
test_libreoffice_formulas.py), a pipeline reading the CSV gets the value that was
stored, and XLSX already carries them as its ``_xHHHH_`` escapes.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

# Code point ranges, inclusive.
IGNORABLE = (
    (0x00, 0x20),  # C0 controls (NUL, TAB, LF, CR…) and the space
    (0x7F, 0xA0),  # DEL, the C1 controls, the no-break space
    (0xAD, 0xAD),  # soft hyphen
    (0x061C, 0x061C),  # Arabic letter mark
    (0x1680, 0x1680),  # Ogham space mark
    (0x180E, 0x180E),  # Mongolian vowel separator
    (0x2000, 0x200F),  # en quad … hair space, zero-width space and joiners, LRM, RLM
    (0x2028, 0x202F),  # line and paragraph separators, bidi embeddings, narrow NBSP
    (0x205F, 0x206F),  # medium mathematical space, word joiner, bidi isolates…
    (0x3000, 0x3000),  # ideographic space
    (0xFEFF, 0xFEFF),  # byte-order mark (zero-width no-break space)
)
FORMULA_FIRST = "=+-@\uff1d\uff0b\uff0d\uff20"  # ASCII and full-width
LINE_AND_TAB = "\t\r\n"


def _class(ranges: tuple[tuple[int, int], ...], escape: str) -> str:
    """A regex character class; ``escape`` formats a code point for the engine."""
    parts = (
        escape.format(a) if a == b else f"{escape.format(a)}-{escape.format(b)}" for a, b in ranges
    )
    return "[" + "".join(parts) + "]"


def _pattern(escape: str) -> str:
    first = tuple((ord(c), ord(c)) for c in FORMULA_FIRST + LINE_AND_TAB)
    # TAB, CR and LF are ignorable too: the class after the run lets them end it.
    return "^" + _class(IGNORABLE, escape) + "*" + _class(first, escape)


# The same pattern for Python's re (headers) and for RE2 in Arrow (columns).
_RISKY = re.compile(_pattern("\\U{:08x}"))
_RISKY_RE2 = _pattern("\\x{{{:x}}}")
_PLAIN_NUMBER = "^[+-][0-9]+(?:[.][0-9]+)?$"  # the exception: what it says
_PLAIN_NUMBER_RE = re.compile(_PLAIN_NUMBER.replace("$", "\\Z"))
# The first one or two UTF-8 bytes of every character the pattern can start with.  A
# cell that starts otherwise cannot be risky: most cells are ruled out by their first
# byte, cells in other scripts by their second, and only the rest meet the regex.
_STARTS = {chr(c).encode()[:2] for a, b in IGNORABLE for c in range(a, b + 1)} | {
    c.encode()[:2] for c in FORMULA_FIRST + LINE_AND_TAB
}
_LEADS = {start[0] for start in _STARTS}
_MAY_LEAD = pa.array([byte in _LEADS for byte in range(256)])
# Indexed by first byte * 256 + second byte; an ASCII first byte decides alone.
_MAY_START = pa.array(
    [
        first in _LEADS if first < 0x80 else bytes((first, second)) in _STARTS
        for first in range(256)
        for second in range(256)
    ]
)
_SAFE_BYTE = pa.array([ord("a")], pa.uint8())


def is_risky(text: str) -> bool:
    return _RISKY.match(text) is not None and _PLAIN_NUMBER_RE.match(text) is None


def neutralise(text: str) -> str:
    return "'" + text if is_risky(text) else text


def neutralise_array(array: pa.Array) -> pa.Array:
    """The same, vectorised over an Arrow text array (other types pass through).

    Only cells whose first bytes could begin a risky cell meet the regex, and only the
    risky cells are copied (a regex over every cell and a prefixed copy of every cell
    took 0.5 s a million rows of four text columns).  A column with none comes back as
    it was; a dictionary column has only its dictionary neutralised."""
    if pa.types.is_dictionary(array.type):
        dictionary = neutralise_array(array.dictionary)
        if dictionary is array.dictionary:
            return array
        return pa.DictionaryArray.from_arrays(array.indices, dictionary)
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return array
    if len(array) < PYTHON_BELOW:
        return neutralise_cells(array)
    return neutralise_vectorised(array)


# Shorter text columns are checked cell by cell in Python: the vectorised path's dozen
# Arrow calls cost about 0.1 ms whatever the length, ten times what ten cells take.
PYTHON_BELOW = 64


def neutralise_cells(array: pa.Array) -> pa.Array:
    """:func:`neutralise_array` of a text array, one cell at a time."""
    cells = array.to_pylist()
    if not any(cell and is_risky(cell) for cell in cells):
        return array
    return pa.array([cell and neutralise(cell) for cell in cells], array.type)


def neutralise_vectorised(array: pa.Array) -> pa.Array:
    """:func:`neutralise_array` of a text array, with Arrow's kernels."""
    candidate = _may_be_risky(array)
    if candidate is None:
        return array
    # A null or empty cell may be a candidate (see _byte_at): the regex says no.
    candidates = pc.filter(array, candidate)
    regex = pc.and_not(
        pc.match_substring_regex(candidates, _RISKY_RE2),
        pc.match_substring_regex(candidates, _PLAIN_NUMBER),
    )
    matched = pc.fill_null(regex, False)
    if not pc.any(matched).as_py():
        return array
    risky = pc.replace_with_mask(candidate, candidate, matched)  # back to the column's rows
    # Every operand of the array's own type: a plain "" would not join large strings.
    quote, nothing = pa.scalar("'", array.type), pa.scalar("", array.type)
    prefixed = pc.binary_join_element_wise(quote, pc.filter(array, risky), nothing)
    return pc.replace_with_mask(array, risky, prefixed)


def _may_be_risky(array: pa.Array) -> pa.Array | None:
    """A mask of the cells the regex must see, or None when there are none."""
    first = _byte_at(array, 0)
    lead = pc.take(_MAY_LEAD, first)
    if not pc.any(lead).as_py():
        return None  # the common case: one pass over the first bytes
    if not pc.any(pc.greater_equal(first, 0x80)).as_py():
        return lead
    # Not all ASCII: the second byte tells a no-break space from a pound sign, and an
    # ideographic space from kana.
    second = pc.cast(_byte_at(array, 1), pa.uint16())
    pair = pc.add(pc.multiply(pc.cast(first, pa.uint16()), 256), second)
    candidate = pc.take(_MAY_START, pair)
    return candidate if pc.any(candidate).as_py() else None


def _byte_at(array: pa.Array, index: int) -> pa.Array:
    """Each cell's byte at ``index`` (uint8), read straight from Arrow's buffers: a set
    lookup of one-byte strings took twice as long.

    The cut to that byte leaves a buffer of those bytes and, per cell, the offset of its
    own.  A cell too short to have one reads its neighbour's (or, last, a safe byte):
    harmless, as an empty cell is never risky and a character that needs a second byte
    has one."""
    large = pa.types.is_large_string(array.type)
    cut = pc.binary_slice(array.view(pa.large_binary() if large else pa.binary()), index, index + 1)
    _, offsets, data = cut.buffers()
    starts = pa.Array.from_buffers(
        pa.int64() if large else pa.int32(), len(cut), [None, offsets], offset=cut.offset
    )
    found = pa.Array.from_buffers(pa.uint8(), data.size, [None, data]) if data else _SAFE_BYTE[:0]
    return pc.take(pa.concat_arrays([found, _SAFE_BYTE]), starts)
