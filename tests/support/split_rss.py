"""``python -m tests.support.split_rss MODE ROWS FOLDER``: write an export of ROWS rows as
the worker does and print the process's peak RSS in MiB (for tests/unit/test_split_memory.py).

MODE: ``plain`` (one CSV), ``zip`` (parts of 50,000 rows in one zip), ``parts`` (parts of
2 MiB stored each on its own, gzip'd).  Rows are made in Arrow (no Python object per
row), and Arrow allocates from the system's allocator, as in the worker's children.
"""

from __future__ import annotations

import resource
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from tests.support import split

OPTIONS = {
    "plain": {},
    "zip": {"split": {"rows": 50_000, "deliver": "zip"}},
    "parts": {"compression": "gzip", "split": {"bytes": 2 << 20, "deliver": "parts"}},
}


def arrow_batches(rows: int, batch_rows: int = 10_000) -> Iterator[pa.RecordBatch]:
    for start in range(0, rows, batch_rows):
        ids = pa.array(range(start, min(rows, start + batch_rows)), pa.int64())
        text = pc.binary_join_element_wise("symbol-", pc.cast(ids, pa.string()), ',"q"', "")
        yield pa.RecordBatch.from_arrays(
            [
                ids,
                text,
                pc.divide(pc.cast(ids, pa.float64()), 4.0),
                pa.array([split.CREATED] * len(ids), pa.timestamp("us", tz="UTC")),
            ],
            schema=split.SCHEMA,
        )


def main() -> None:
    mode, rows, folder = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    pa.set_memory_pool(pa.system_memory_pool())
    split.batches = lambda n, batch_rows=10_000: arrow_batches(n, batch_rows)  # type: ignore[assignment]
    # Without options.split, the same path writes one plain file (exports/outputs.py).
    written = split.write_split(folder, "csv", OPTIONS[mode], rows, batch_rows=10_000)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{peak_mib:.1f} {written.result['size']} {written.result.get('row_count')}")


if __name__ == "__main__":
    main()
