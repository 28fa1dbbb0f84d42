"""Rules that params models share, checked when an export is asked for."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

DATE_RANGE_INVALID = "date_range_invalid"


class DateRange(BaseModel):
    """A base for params with ``date_from`` and ``date_to`` (both inclusive, either may be
    absent): a range that ends before it starts is refused when the export is asked for
    (422 ``date_range_invalid``), not turned into an empty file later."""

    # Checked on whichever of the two is validated second, so the order they are declared
    # in does not matter; the error names that field.
    @field_validator("date_from", "date_to", check_fields=False)
    @classmethod
    def _in_order(cls, value: Any, info: ValidationInfo) -> Any:
        other = "date_to" if info.field_name == "date_from" else "date_from"
        if value is None or info.data.get(other) is None:
            return value
        start, end = (value, info.data[other]) if other == "date_to" else (info.data[other], value)
        try:
            backwards = start > end
        except TypeError:  # a date and a datetime: not comparable, not this rule's business
            return value
        if backwards:
            raise PydanticCustomError(
                DATE_RANGE_INVALID,
                "date_from ({date_from}) is after date_to ({date_to})",
                {"date_from": str(start), "date_to": str(end)},
            )
        return value
