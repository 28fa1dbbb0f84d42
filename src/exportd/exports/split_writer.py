"""A row writer that cuts the export into parts: ``options.split`` (``{rows}`` or
``{bytes}``).

Each part is a whole file of the format (a CSV with its header, a JSON array, a Parquet
file with its footer), written by a fresh format writer into whatever the destination
gives it (a zip member, a stored file), its size and SHA-256 taken on the way.  A part is
opened when a row arrives for it, so no part is ever empty but the one file of an export
without rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from exportd.errors import TerminalJobError
from exportd.exports.manifest import Part
from exportd.formats.base import RowWriter
from exportd.formats.sinks import HashingSink

if TYPE_CHECKING:
    import pyarrow as pa

# Deliveries: one zip of the parts and the manifest, or each file stored on its own.
DELIVERIES = ("zip", "parts")
# Bytes mode: rows are written in slices sized to reach the limit by the bytes per row so
# far; slices of this many rows measure it before any byte has come out of the writer.
FIRST_SLICE_ROWS = 256


@dataclass(frozen=True, slots=True)
class Split:
    """``options.split`` as the worker reads it: one of ``rows`` and ``bytes``."""

    rows: int | None = None
    bytes: int | None = None
    deliver: str = "zip"

    @classmethod
    def of(cls, option: dict[str, Any]) -> Split:
        return cls(rows=option.get("rows"), bytes=option.get("bytes"), deliver=option["deliver"])

    def as_dict(self) -> dict[str, Any]:
        limit = {"rows": self.rows} if self.rows is not None else {"bytes": self.bytes}
        return {**limit, "deliver": self.deliver}

    def parts_for(self, rows: int) -> int:
        """How many parts ``rows`` rows make (rows mode; bytes mode cannot tell)."""
        return max(1, math.ceil(rows / self.rows)) if self.rows else 1


class Parts(Protocol):
    """Where the parts go, one after the other."""

    def begin(self, name: str) -> BinaryIO:
        """The stream of the next part's bytes."""

    def end(self) -> None:
        """The part is complete: keep it."""

    def abort(self) -> None:
        """Give up every part."""


# A format writer of one part: (where its bytes go, its name, rows it will hold if known).
OpenPart = Callable[[BinaryIO, str, "int | None"], RowWriter]


def too_many_parts(
    parts: int, max_parts: int, split: Split, total: int | None = None
) -> TerminalJobError:
    if split.rows and total is not None:
        hint = (
            f"{total:,} rows make {parts:,} parts: ask for parts of at least "
            f"{math.ceil(total / max_parts):,} rows"
        )
    elif split.rows:
        hint = f"ask for parts of more rows (the export has {parts:,} parts' worth)"
    else:
        hint = "ask for larger parts"
    return TerminalJobError(
        f"the split makes more than {max_parts:,} parts, the most this server makes: {hint}",
        code="split_too_many_parts",
    )


class SplitWriter:
    def __init__(
        self,
        parts: Parts,
        split: Split,
        *,
        max_parts: int,
        name_of: Callable[[int], str],
        open_part: OpenPart,
        total: Callable[[], int | None] = lambda: None,
    ) -> None:
        self._parts = parts
        self._split = split
        self._max_parts = max_parts
        self._name_of = name_of
        self._open_part = open_part
        self._total = total  # the source's count, once known (XLSX sizes its sheets by it)
        self.done: list[Part] = []
        self._writer: RowWriter | None = None
        self._sink: HashingSink | None = None
        self._rows = 0  # in the open part
        self._accounted = 0  # of those, rows whose bytes have reached the sink
        self._seen = 0  # the open part's size when last looked at
        self._rows_before = 0  # in the parts done
        self._bytes_before = 0
        self.cells_cut = 0  # XLSX cells shortened to Excel's limit, in every part

    def write(self, batch: pa.RecordBatch) -> None:
        offset = 0
        while offset < batch.num_rows:
            if self._writer is None:
                self._open()
            assert self._writer is not None
            take = self._room(batch.num_rows - offset)
            self._writer.write(batch.slice(offset, take))
            offset += take
            self._rows += take
            if self._full():
                self._close_part()

    def close(self) -> None:
        """Finish the last part (or write the one part of an export without rows)."""
        if self._writer is None and not self.done:
            self._open()
        if self._writer is not None:
            self._close_part()

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.abort()
            self._writer = None
        self._parts.abort()

    @property
    def rows(self) -> int:
        return self._rows_before + self._rows

    def _open(self) -> None:
        number = len(self.done) + 1
        if number > self._max_parts:
            raise too_many_parts(number, self._max_parts, self._split)
        name = self._name_of(number)
        self._sink = HashingSink(self._parts.begin(name))
        self._writer = self._open_part(self._sink, name, self._expected())  # type: ignore[arg-type]
        self._rows = self._accounted = self._seen = 0

    def _expected(self) -> int | None:
        """The rows this part will hold, when the count says (rows mode)."""
        total = self._total()
        if self._split.rows is None or total is None:
            return None
        return max(0, min(self._split.rows, total - self._rows_before))

    def _room(self, available: int) -> int:
        if self._split.rows is not None:
            return min(available, self._split.rows - self._rows)
        assert self._split.bytes is not None
        per_row = self._bytes_per_row()
        if per_row is None:
            return min(available, FIRST_SLICE_ROWS)
        left = self._split.bytes - self._estimate()
        return max(1, min(available, math.ceil(left / per_row)))

    def _full(self) -> bool:
        if self._split.rows is not None:
            return self._rows >= self._split.rows
        assert self._split.bytes is not None
        return self._estimate() >= self._split.bytes

    def _bytes_per_row(self) -> float | None:
        """From the rows whose bytes have reached the sink (a writer may hold some)."""
        assert self._sink is not None
        rows = self._rows_before + self._accounted
        return (self._bytes_before + self._sink.size) / rows if rows else None

    def _estimate(self) -> float:
        """The open part's size once the rows its writer holds back (a Parquet row group
        being gathered, deflate's window) are written too."""
        assert self._sink is not None
        if self._sink.size != self._seen:  # bytes came out: every row so far is in them
            self._seen, self._accounted = self._sink.size, self._rows
        per_row = self._bytes_per_row()
        held = (self._rows - self._accounted) * per_row if per_row is not None else 0
        return self._sink.size + held

    def _close_part(self) -> None:
        assert self._writer is not None
        assert self._sink is not None
        self._writer.close()
        self.cells_cut += getattr(self._writer, "cells_cut", 0)
        self._writer = None
        self._parts.end()
        number = len(self.done) + 1
        part = Part(
            self._name_of(number), self._rows, self._sink.size, self._sink.digest.hexdigest()
        )
        self.done.append(part)
        self._rows_before += self._rows
        self._bytes_before += self._sink.size
        self._rows = self._accounted = self._seen = 0
