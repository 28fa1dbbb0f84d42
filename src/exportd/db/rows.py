"""Row values for statements whose values are bound at execution.

``conn.execute(insert(table), values)`` compiles the statement once per process, where
``insert(table).values(values)`` builds a new one per call (each value coerced into a
bound parameter: about a sixth of an export's create on PostgreSQL).  But a key that
names no column is then dropped in silence; ``.values()`` refused it.  ``checked``
refuses it again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table


def checked(table: Table, values: Mapping[str, Any]) -> Mapping[str, Any]:
    """``values``, once each of its keys names a column of ``table``."""
    unknown = values.keys() - table.c.keys()
    if unknown:
        raise ValueError(f"{table.name} has no column {', '.join(sorted(unknown))}")
    return values
