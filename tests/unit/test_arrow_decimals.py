"""A DECIMAL column (MySQL through connectorx, Arrow decimal128) read as a number."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa

from exportd.sources.arrow_fetch import _cast


def test_decimals_become_the_nearest_double_not_float_noise() -> None:
    values = [Decimal("19.99"), Decimal("0.07"), Decimal("-123456.789"), None]
    decimals = pa.array(values, pa.decimal128(38, 10))
    assert _cast(decimals, pa.float64()).to_pylist() == [19.99, 0.07, -123456.789, None]
