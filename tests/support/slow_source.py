"""A trades source that pauses between batches, so a browser or CLI test can watch an
export run and cancel it (loaded by the worker from ``EXPORTD_SOURCE_MODULES``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from pydantic import BaseModel
from sqlalchemy import Connection

from exportd.demo.sources import TradesSource
from exportd.sources import Source
from exportd.sources.base import TabularSource

PAUSE_S = 0.3


class SlowTrades(TabularSource):
    def __init__(self) -> None:
        inner = TradesSource()
        super().__init__(
            name="slow_trades",
            title="Trades, slowly",
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
        for batch in self.inner.batches(conn, owner_id, params, columns, **kw):
            time.sleep(PAUSE_S)
            yield batch

    def arrow_schema(self, columns: list[str]) -> pa.Schema:
        return self.inner.arrow_schema(columns)


def slow_sources() -> list[Source]:
    return [SlowTrades()]
