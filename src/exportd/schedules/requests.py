"""An export request kept as JSON by a schedule, and read back for each run.

Every field of :class:`ExportRequest` is kept, so what a request may say (notifications,
write options, and whatever it learns later) flows through to each run unchanged.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from exportd.exports.models import ColumnChoice, ExportRequest


def to_json(request: ExportRequest) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in dataclasses.fields(ExportRequest):
        value = getattr(request, field.name)
        if value is None:
            continue
        if field.name == "columns":
            value = [column.as_dict() for column in value]
        elif isinstance(value, tuple):
            value = list(value)
        values[field.name] = value
    return values


def from_json(values: dict[str, Any]) -> ExportRequest:
    known = {field.name for field in dataclasses.fields(ExportRequest)}
    kept = {name: value for name, value in values.items() if name in known}
    if kept.get("columns") is not None:
        kept["columns"] = tuple(ColumnChoice(c["name"], c.get("label")) for c in kept["columns"])
    return ExportRequest(**kept)
