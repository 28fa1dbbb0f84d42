"""Split exports written the way the worker writes them (``exports.outputs``), into a
local store, without a database: for the unit tests and the memory measurement."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa

from exportd.clock import ManualClock
from exportd.exports.outputs import Layout, Signer, open_output
from exportd.formats import WriteOptions
from exportd.manifest_keys import derived, key_set
from exportd.storage import LocalStorage, Storage
from tests.unit.test_formats import COLUMNS, SCHEMA

SECRET = "split-tests-secret-" + "s" * 32
KEY = derived(SECRET)
CREATED = datetime(2026, 12, 2, 9, 15, 30, tzinfo=UTC)
EXPORT_ID = "ab12cd34" * 4


def batches(rows: int, batch_rows: int = 5_000) -> Iterator[pa.RecordBatch]:
    """``rows`` distinct rows (ids 0…rows-1), text with commas, quotes and newlines."""
    for start in range(0, rows, batch_rows):
        ids = list(range(start, min(rows, start + batch_rows)))
        yield pa.RecordBatch.from_pydict(
            {
                "id": ids,
                "symbol": [f'S{i % 97},"q"\n日本' if i % 5 else None for i in ids],
                "pnl": [i / 4 - 100 for i in ids],
                "opened_at": [CREATED] * len(ids),
            },
            schema=SCHEMA,
        )


@dataclass
class Written:
    result: dict[str, Any]
    root: Path

    def path(self, key: str) -> Path:
        return self.root / key

    @property
    def main(self) -> Path:
        return self.path(self.result["key"])


def write_split(
    root: Path,
    fmt: str,
    options: dict[str, Any],
    rows: int,
    *,
    batch_rows: int = 5_000,
    max_parts: int = 1_000,
    fail_after: int | None = None,
    storage: Storage | None = None,
) -> Written:
    """The export's files under ``root`` (or in ``storage``), as ``open_output`` stores
    them.  ``fail_after``: raise after that many batches (inside the output: what a
    failed export leaves)."""
    export = SimpleNamespace(
        id=EXPORT_ID,
        source="trades",
        owner_id="bob",
        created_at=CREATED,
        format=fmt,
        options=options,
    )
    signer = Signer(key=KEY, max_parts=max_parts, clock=ManualClock(CREATED))
    layout = Layout(
        columns=COLUMNS,
        schema=SCHEMA,
        rows_expected=rows,
        rows_allowed=10_000_000,
        title="Trades",
        checkpoint=lambda: None,
    )
    storage = storage or LocalStorage(root)
    with open_output(storage, export, 1, WriteOptions.of(options), signer) as output:
        writer = output.writer(layout, lambda: rows)
        try:
            for n, batch in enumerate(batches(rows, batch_rows)):
                if fail_after is not None and n == fail_after:
                    raise RuntimeError("the source went away")
                writer.write(batch)
            writer.close()
        except BaseException:
            writer.abort()
            raise
    return Written({**output.result(), "row_count": rows}, root)


def keys_file(folder: Path) -> Path:
    """The JWK set the server publishes, saved as a verifier keeps it."""
    path = folder / "keys.json"
    path.write_text(json.dumps(key_set(KEY.public)))
    return path
