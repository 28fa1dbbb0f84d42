"""A trades source that pauses between batches, so a browser or CLI test can watch an
export run and cancel it (loaded by the worker from ``EXPORTD_SOURCE_MODULES``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from pydantic import BaseModel
from sqlalchemy import Connection

from exportd.sources import Source
from tests.support.sources import RenamedTrades

PAUSE_S = 0.3


class SlowTrades(RenamedTrades):
    def __init__(self) -> None:
        super().__init__("slow_trades", "Trades, slowly")

    def batches(
        self, conn: Connection, owner_id: str, params: BaseModel, columns: list[str], **kw: Any
    ) -> Iterator[pa.RecordBatch]:
        for batch in super().batches(conn, owner_id, params, columns, **kw):
            time.sleep(PAUSE_S)
            yield batch


def slow_sources() -> list[Source]:
    return [SlowTrades()]
