"""``options.split`` checked when an export is asked for: pure, no database.

What can be decided from the request is refused at once with a 422 (a part smaller than
this server makes, a format or option split cannot go with); the number of parts
depends on the rows, so its limit is the worker's (``split_too_many_parts``), as soon as
the source's count is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exportd.errors import RequestInvalid

# Formats of rows: each part is a whole file of its format.
SPLITTABLE = ("csv", "jsonl", "json", "parquet", "xlsx")


@dataclass(frozen=True, slots=True)
class SplitLimits:
    min_rows: int
    min_bytes: int


def check_split(fmt: str, options: dict[str, Any], limits: SplitLimits) -> None:
    split = options.get("split")
    if not split:
        return
    misplaced = []
    if fmt not in SPLITTABLE:
        misplaced.append(("options.split", f"{', '.join(SPLITTABLE)} only"))
    elif fmt == "xlsx" and split.get("bytes") is not None:
        # A workbook's size is known only once it is zipped, at its end.
        misplaced.append(("options.split.bytes", "xlsx splits by rows only"))
    if options.get("keep_partial"):
        misplaced.append(("options.keep_partial", "not with split: a split export is whole"))
    if misplaced:
        raise RequestInvalid(
            f"{' and '.join(f for f, _ in misplaced)} cannot apply to this {fmt} export",
            code="option_not_applicable",
            errors=[{"field": f, "message": m} for f, m in misplaced],
        )
    for unit, least in (("rows", limits.min_rows), ("bytes", limits.min_bytes)):
        asked = split.get(unit)
        if asked is not None and asked < least:
            raise RequestInvalid(
                f"parts of {asked:,} {unit} are too small: this server makes parts of at "
                f"least {least:,} {unit}",
                code="split_too_small",
                errors=[{"field": f"options.split.{unit}", "message": f"at least {least}"}],
            )
