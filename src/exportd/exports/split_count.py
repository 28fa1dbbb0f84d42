"""Too many parts, told when the export is asked for, where the source counts cheaply.

A split of ``rows`` rows per part makes as many parts as the rows need, so its limit
(``EXPORTD_SPLIT_MAX_PARTS``) depends on the data.  Most splits cannot reach it within
the plan's rows, and are not counted.  For the others, a source that reads this server's
own database and says its count is cheap (``TabularSource.count``) is counted now, in
the request's transaction, and an export over the limit is a 422 ``split_too_many_parts``
naming the fewest rows per part that fit (a schedule's run over it is refused, a failed
run with that code).  Otherwise (a named data connection, no cheap count, a split by
bytes) the worker finds it, with the same code, as soon as it has the count or the part
over the limit.
"""

from __future__ import annotations

import math
from typing import Any

import structlog
from sqlalchemy import Connection

from exportd.config import Settings
from exportd.errors import RequestInvalid
from exportd.exports.models import PlanLimits
from exportd.sources import SourceRegistry, TabularSource

log = structlog.get_logger("exportd.exports")


def check_parts(
    conn: Connection,
    sources: SourceRegistry,
    settings: Settings,
    owner_id: str,
    plan: PlanLimits,
    normalized: dict[str, Any],
) -> None:
    split = (normalized.get("options") or {}).get("split") or {}
    per_part, max_parts = split.get("rows"), settings.split_max_parts
    source = sources.get(normalized["source"])
    if not per_part or not isinstance(source, TabularSource) or source.connection:
        return
    if math.ceil(plan.max_rows / per_part) <= max_parts:
        return  # the plan's rows cannot make more parts than allowed
    params = source.params_model.model_validate(normalized["params"])
    try:
        with conn.begin_nested():  # a failed count leaves the transaction usable
            total = source.count(conn, owner_id, params)
    except Exception as exc:  # the worker reads the source and says what is wrong
        log.warning("export.precount_failed", source=source.name, error=type(exc).__name__)
        return
    # Over the plan's rows, the export fails by its row limit first, as the worker says.
    if total is None or total > plan.max_rows or math.ceil(total / per_part) <= max_parts:
        return
    least = math.ceil(total / max_parts)
    raise RequestInvalid(
        f"{total:,} rows in parts of {per_part:,} make {math.ceil(total / per_part):,} parts; "
        f"this server makes at most {max_parts:,}: ask for parts of at least {least:,} rows",
        code="split_too_many_parts",
        errors=[{"field": "options.split.rows", "message": f"at least {least}"}],
    )
