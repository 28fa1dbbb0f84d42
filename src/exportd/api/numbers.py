"""Counts in request bodies: what JSON clients agree an integer is."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

# Byte and row counts: the largest integer every JSON client reads exactly (JavaScript's
# Number.MAX_SAFE_INTEGER, 8 PiB); above it a bound stated in JSON is itself rounded, and
# clients disagree with the server about it (the columns are BIGINT).
COUNT_MAX = 2**53 - 1


def _a_json_number(value: Any) -> Any:
    # A JSON false is not a byte count, nor "5" a number (pydantic's lax mode takes
    # both); 5.0 is (JSON Schema's integers include it).
    if isinstance(value, bool | str):
        raise ValueError("Input should be a valid integer")
    return value


Count = Annotated[int, BeforeValidator(_a_json_number)]

# A plan's cap of an owner's running exports (optional: the constraints sit on the
# integer itself, so the schema's null branch stays plain).
RunningCap = Annotated[int, Field(ge=1, le=10_000), BeforeValidator(_a_json_number)]
