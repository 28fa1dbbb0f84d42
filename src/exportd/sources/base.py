"""The source port: what a source declares so requests can be checked before queueing.

A source names its parameters (a Pydantic model), its columns (for tabular sources),
the formats it can produce, and whether a principal may use it.  Producing rows or a
document is the worker's side and comes with the tabular and document sources.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import pyarrow as pa
from pydantic import BaseModel
from sqlalchemy import Connection

from exportd.auth.principal import Principal


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    name: str
    type: Literal["string", "integer", "number", "boolean", "date", "datetime", "json"]
    label: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    name: str
    title: str
    kind: Literal["rows", "document"]
    params_model: type[BaseModel]
    formats: tuple[str, ...]
    columns: tuple[ColumnSpec, ...] = ()
    column_presets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # The named data connection the worker reads this source through (the connection
    # passed to ``count`` and ``batches``); None: exportd's own database.
    connection: str | None = None

    def allows(self, principal: Principal) -> bool:
        """Whether the principal may export from this source (all users by default)."""
        return True

    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "kind": self.kind,
            "formats": list(self.formats),
            "params_schema": self.params_model.model_json_schema(),
            "columns": [{"name": c.name, "type": c.type, "label": c.label} for c in self.columns],
            "column_presets": {k: list(v) for k, v in self.column_presets.items()},
        }


class TabularSource(Source):
    """A source of rows: a count (cheap, for progress) and Arrow record batches.

    Batches carry exactly the requested columns, in order, so writers never look up or
    reorder anything per row.
    """

    def count(self, conn: Connection, owner_id: str, params: BaseModel) -> int | None:
        """How many rows ``batches`` will yield, or None when that is not cheap to know.
        The worker may call it on another connection, in another thread, while
        ``batches`` reads (exports/counting.py)."""
        return None

    def batches(
        self,
        conn: Connection,
        owner_id: str,
        params: BaseModel,
        columns: list[str],
        *,
        batch_size: int,
    ) -> Iterator[pa.RecordBatch]:
        raise NotImplementedError

    def arrow_schema(self, columns: list[str]) -> pa.Schema:
        raise NotImplementedError


class DocumentSource(Source):
    """A source of one document, rendered with a template: a mapping in the shape the
    templates read — a resume's profile, work, education, skills and titled sections
    (``exportd.documents.models.Resume``).

    The built-in ``resume`` source reads the documents store; a plugin can build the
    same shape from its own data and every built-in template renders it.  A
    ``page_size`` parameter (``a4`` or ``letter``), when the params model has one,
    overrides the template's.
    """

    def document(self, conn: Connection, owner_id: str, params: BaseModel) -> dict[str, Any]:
        """The owner's document; raise ``TerminalJobError`` when there is none."""
        raise NotImplementedError

    def document_date(self, conn: Connection, owner_id: str, params: BaseModel) -> datetime | None:
        """When the document last changed: the date its PDF carries, so the same document
        prints the same bytes.  None (the default): a fixed date, never the clock."""
        return None

    def precheck_document(
        self, conn: Connection, owner_id: str, params: BaseModel
    ) -> dict[str, Any] | None:
        """The document, read when the export is asked for (in the API, in the request's
        transaction) so that one which cannot be made is refused at once with a 422;
        raise ``RequestInvalid`` (``document_missing``) when there is none.  None — the
        default — leaves every check to the worker: a source whose document is costly to
        build should not build it twice."""
        return None


class SourceRegistry:
    def __init__(self, sources: Iterable[Source] = ()) -> None:
        self._sources: dict[str, Source] = {}
        for source in sources:
            self.add(source)

    def add(self, source: Source) -> None:
        if source.name in self._sources:
            raise ValueError(f"source {source.name!r} is registered twice")
        self._sources[source.name] = source

    def get(self, name: str) -> Source | None:
        return self._sources.get(name)

    def all(self) -> list[Source]:
        return [self._sources[name] for name in sorted(self._sources)]
