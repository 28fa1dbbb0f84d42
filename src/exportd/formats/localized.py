"""Numbers and dates written for people of a locale (an opt-in for CSV): "1234,5" and
"22.11.2026, 12:30:00" for de_DE.  The default stays machine-readable.

Formatting is per value through Babel (CLDR data): slower than the Arrow fast path,
which is why it is an option and not the default.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import cache

import pyarrow as pa
from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal


@cache
def parse_locale(name: str) -> Locale:
    """``de_DE``, ``de-DE`` or ``de``; ValueError naming the problem otherwise."""
    try:
        return Locale.parse(name.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        raise ValueError(f"not a known locale: {name!r} (e.g. de_DE, en_US, fr)") from None


def uses_decimal_comma(name: str) -> bool:
    return bool(parse_locale(name).number_symbols.get("latn", {}).get("decimal") == ",")


def is_localized(data_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(data_type)
        or pa.types.is_floating(data_type)
        or pa.types.is_decimal(data_type)
        or pa.types.is_timestamp(data_type)
        or pa.types.is_date(data_type)
    )


def localize(array: pa.Array, locale_name: str) -> pa.Array:
    """Numbers and dates as the locale writes them; other columns as they are."""
    if not is_localized(array.type):
        return array
    locale = parse_locale(locale_name)
    return pa.array([_text(value, locale) for value in array.to_pylist()], pa.string())


def _text(value: object, locale: Locale) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return str(format_datetime(value, format="medium", locale=locale))
    if isinstance(value, date):
        return str(format_date(value, format="medium", locale=locale))
    if isinstance(value, int | float | Decimal):
        # Every digit kept (CLDR's pattern would round to three decimals) and no
        # grouping: an id or a year is not "43.081", and the decimal sign is what
        # spreadsheets need to read the number back.
        return str(
            format_decimal(value, locale=locale, group_separator=False, decimal_quantization=False)
        )
    return str(value)
