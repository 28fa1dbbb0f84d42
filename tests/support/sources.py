"""Sources for the API and service tests: the demo trades source and the built-in resume,
and the demo trades under another name, for sources that change one thing about them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from pydantic import BaseModel
from sqlalchemy import Connection

from exportd.demo.sources import TradesSource
from exportd.documents.source import RESUME
from exportd.sources import SourceRegistry
from exportd.sources.base import TabularSource


def fake_sources() -> SourceRegistry:
    return SourceRegistry([TradesSource(), RESUME])


class RenamedTrades(TabularSource):
    """The demo trades under another name; subclasses change how they count or read."""

    def __init__(self, name: str, title: str) -> None:
        inner = TradesSource()
        super().__init__(
            name=name,
            title=title,
            kind="rows",
            params_model=inner.params_model,
            formats=inner.formats,
            columns=inner.columns,
        )
        object.__setattr__(self, "_inner", inner)

    @property
    def inner(self) -> TabularSource:
        inner: TabularSource = self.__dict__["_inner"]
        return inner

    def count(self, conn: Connection, owner_id: str, params: BaseModel) -> int | None:
        return self.inner.count(conn, owner_id, params)

    def batches(
        self, conn: Connection, owner_id: str, params: BaseModel, columns: list[str], **kw: Any
    ) -> Iterator[pa.RecordBatch]:
        yield from self.inner.batches(conn, owner_id, params, columns, **kw)

    def arrow_schema(self, columns: list[str]) -> pa.Schema:
        return self.inner.arrow_schema(columns)
