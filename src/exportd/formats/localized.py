"""Numbers and dates written for people of a locale (an opt-in for CSV), spelled so that
the locale's spreadsheet reads them back as numbers and dates: de_DE ``-1234,5`` and
``01.03.2026 12:30:00``, en_US ``-1234.5`` and ``03/01/2026 12:30:00``.  The default
stays machine-readable.

What a spreadsheet parses, which is not what CLDR shows (tested with LibreOffice set to
de-DE and en-US, tests/integration/test_libreoffice_files.py):

- A date is the locale's short date (CLDR) with a four-digit year and no words; a time
  follows it after a space, on the 24-hour clock with colons, to the second.  CLDR's
  medium ``01.03.2026, 12:30:00`` (de) and ``Mar 1, 2026, 12:30:00 PM`` (en) stayed
  text: the comma, the month's name.
- A number keeps every digit of its shortest form, written out (``1e25`` is 26 digits:
  LibreOffice reads an exponent only when told to detect "special numbers"), with the
  locale's decimal sign, an ASCII minus (CLDR's U+2212 for sv, fi or nb is no sign to a
  spreadsheet) and no grouping, so ids and years stay whole.  NaN is an empty field and
  ±infinity ``INF`` / ``-INF``, as in XLSX: a spreadsheet has neither.

A value that still cannot be written (a timestamp past the year 9999) fails the export
for good (``value_unwritable``): retrying would meet the same value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache

import pyarrow as pa
from babel import Locale, UnknownLocaleError

from exportd.formats.base import INFINITY, unwritable

TIME = " {0.hour:02d}:{0.minute:02d}:{0.second:02d}"
ISO_DATE = "{0.year:04d}-{0.month:02d}-{0.day:02d}"
_FIELDS = {"d": "day", "M": "month", "L": "month", "y": "year"}
# A CLDR pattern: a quoted literal, a run of one pattern letter, or anything else.
_TOKENS = re.compile(r"'[^']*'|([A-Za-z])\1*|[^A-Za-z']+")
_MARKS = dict.fromkeys(map(ord, "\u200e\u200f\u061c"))  # direction marks
_SPACES = dict.fromkeys(map(ord, "\u00a0\u202f"), " ")


@cache
def parse_locale(name: str) -> Locale:
    """``de_DE``, ``de-DE`` or ``de``; ValueError naming the problem otherwise."""
    try:
        return Locale.parse(name.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        raise ValueError(f"not a known locale: {name!r} (e.g. de_DE, en_US, fr)") from None


def uses_decimal_comma(name: str) -> bool:
    return _decimal_sign(parse_locale(name)) == ","


@dataclass(frozen=True, slots=True)
class Spelling:
    """How one locale's numbers and dates are written: ``str.format`` patterns."""

    decimal: str
    date: str
    datetime: str


@cache
def spelling(name: str) -> Spelling:
    locale = parse_locale(name)
    day = _numeric_date(str(locale.date_formats["short"].pattern))
    return Spelling(decimal=_decimal_sign(locale), date=day, datetime=day + TIME)


def _decimal_sign(locale: Locale) -> str:
    return str(locale.number_symbols.get("latn", {}).get("decimal", "."))


def _numeric_date(pattern: str) -> str:
    """CLDR's short date as a format: its fields in its order with its separators, the
    year in four digits; the ISO date when it holds anything but day, month and year."""
    parts: list[str] = []
    fields = ""
    for match in _TOKENS.finditer(pattern):
        token = match.group()
        if token.startswith("'"):
            continue  # a word (Bulgarian's year): no spreadsheet expects it
        letter = match.group(1)
        if letter is None:
            parts.append(
                token.translate(_MARKS).translate(_SPACES).replace("{", "{{").replace("}", "}}")
            )
        elif letter in _FIELDS:
            width = 4 if letter == "y" else min(len(token), 2)
            parts.append(f"{{0.{_FIELDS[letter]}:0{width}d}}")
            fields += _FIELDS[letter][0]
        else:
            return ISO_DATE
    if sorted(fields) != ["d", "m", "y"]:
        return ISO_DATE
    fields_at = [i for i, part in enumerate(parts) if part.startswith("{0.")]
    first, last = fields_at[0], fields_at[-1]
    after = "".join(parts[last + 1 :])
    return "".join(parts[first : last + 1]) + ("." if after == "." else "")  # hu: "dd."


def is_localized(data_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(data_type)
        or pa.types.is_floating(data_type)
        or pa.types.is_decimal(data_type)
        or pa.types.is_timestamp(data_type)
        or pa.types.is_date(data_type)
    )


def localize(array: pa.Array, locale_name: str, *, column: str) -> pa.Array:
    """Numbers and dates as the locale's spreadsheet reads them; other columns as they
    are.  ``column`` names the column when a value cannot be written."""
    if not is_localized(array.type):
        return array
    way = spelling(locale_name)
    try:
        return pa.array([_text(value, way) for value in array.to_pylist()], pa.string())
    except (ArithmeticError, ValueError) as exc:  # OverflowError: a date past 9999
        raise unwritable(column, array.type, f"CSV for {locale_name}") from exc


def _text(value: object, way: Spelling) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return way.datetime.format(value)
    if isinstance(value, date):
        return way.date.format(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None if math.isnan(value) else INFINITY if value > 0 else "-" + INFINITY
        value = Decimal(repr(value))  # the shortest form that reads back as this float
    text = format(value, "f") if isinstance(value, Decimal) else str(value)
    return text if way.decimal == "." else text.replace(".", way.decimal)
