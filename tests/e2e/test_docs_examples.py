"""The Python examples in docs/api.md run as written against a live exportd."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pyarrow.parquet as pq
import pytest

from exportd.db import Database
from exportd.demo.tables import create_demo_tables, seed_goals_and_evaluations, seed_trades
from tests.support.live import Live, live_exportd

pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def _seed(db: Database) -> None:
    with db.write() as conn:
        create_demo_tables(conn)
        seed_trades(conn, "bob", 1_500)
        seed_goals_and_evaluations(conn, "bob")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_exportd(tmp_path_factory.mktemp("docs"), seed=_seed) as server:
        yield server


def python_examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)


def run_example(code: str, live: Live, folder: Path) -> dict[str, object]:
    # The docs say httpx, what users have; exportd's own client uses its successor,
    # httpx2, whose API is the same.
    sys.modules.setdefault("httpx", httpx2)
    namespace: dict[str, object] = {"token": live.token("bob"), "print": lambda *a: None}
    source = code.replace("http://localhost:8000", live.url)
    here = Path.cwd()
    os.chdir(folder)
    try:
        exec(compile(source, str(DOCS), "exec"), namespace)
    finally:
        os.chdir(here)
        for value in namespace.values():
            if isinstance(value, httpx2.Client):
                value.close()  # the examples leave theirs open, as a script may
    return namespace


def test_there_are_examples_to_run() -> None:
    assert len(python_examples()) >= 2


def test_the_polling_example_ends_with_a_finished_export(live: Live, tmp_path: Path) -> None:
    polling = next(code for code in python_examples() if "If-None-Match" in code)
    namespace = run_example(polling, live, tmp_path)
    export = namespace["export"]
    assert isinstance(export, dict)
    assert export["status"] == "completed"


def test_the_round_trip_example_downloads_the_file(live: Live, tmp_path: Path) -> None:
    round_trip = next(code for code in python_examples() if "api.stream" in code)
    namespace = run_example(round_trip, live, tmp_path)
    export = namespace["export"]
    assert isinstance(export, dict)
    assert export["status"] == "completed"
    table = pq.read_table(tmp_path / "trades.parquet")
    assert table.column_names == ["opened_at", "symbol", "pnl"]
    assert table.num_rows == export["result"]["row_count"] > 0
