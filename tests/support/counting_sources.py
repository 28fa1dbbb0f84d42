"""Trades sources whose count depends on the read, to show where the worker counts
(loaded by the worker from ``EXPORTD_SOURCE_MODULES``): one counts only once the read
has begun — a count taken before the read would wait for it in vain — and one cannot
count at all."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from pydantic import BaseModel
from sqlalchemy import Connection

from exportd.sources import Source
from tests.support.sources import RenamedTrades

WAIT_FOR_THE_READ_S = 20.0


class CountedOnceTheReadBegins(RenamedTrades):
    """Its count waits for the owner's read: a worker's child keeps its sources from one
    job to the next, so one event for all would let a later export count before its read
    (the tests give each export an owner of its own)."""

    def __init__(self) -> None:
        super().__init__("trades_counted_late", "Trades, counted once the read begins")
        object.__setattr__(self, "_lock", threading.Lock())
        object.__setattr__(self, "_read_begun", {})

    def _begun(self, owner_id: str) -> threading.Event:
        with self.__dict__["_lock"]:
            begun: dict[str, threading.Event] = self.__dict__["_read_begun"]
            return begun.setdefault(owner_id, threading.Event())

    def count(self, conn: Connection, owner_id: str, params: BaseModel) -> int | None:
        if not self._begun(owner_id).wait(WAIT_FOR_THE_READ_S):
            raise RuntimeError("the read never began while counting")
        return super().count(conn, owner_id, params)

    def batches(
        self, conn: Connection, owner_id: str, params: BaseModel, columns: list[str], **kw: Any
    ) -> Iterator[pa.RecordBatch]:
        self._begun(owner_id).set()
        yield from super().batches(conn, owner_id, params, columns, **kw)


class Uncountable(RenamedTrades):
    def __init__(self) -> None:
        super().__init__("trades_uncountable", "Trades that cannot be counted")

    def count(self, conn: Connection, owner_id: str, params: BaseModel) -> int | None:
        raise RuntimeError("this source cannot count today")


def counting_sources() -> list[Source]:
    return [CountedOnceTheReadBegins(), Uncountable()]
