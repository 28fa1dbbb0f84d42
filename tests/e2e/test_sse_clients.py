"""The export's event stream as a real client follows it: the npm `eventsource` package,
which behaves as a browser's EventSource does (it reconnects after any stream that ends,
and stops only on a 204 or an error status)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from exportd.db import Database
from exportd.demo.tables import create_demo_tables, seed_trades
from tests.support.live import Live, live_exportd
from tests.support.node import require_node_package, run_script

pytestmark = pytest.mark.slow


def _seed(db: Database) -> None:
    with db.write() as conn:
        create_demo_tables(conn)
        seed_trades(conn, "bob", 500)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_exportd(tmp_path_factory.mktemp("sse"), seed=_seed) as server:
        yield server


def _create(live: Live) -> str:
    created = httpx2.post(
        f"{live.url}/v1/exports",
        json={"source": "trades", "format": "csv", "params": {}},
        headers={"Authorization": f"Bearer {live.token('bob')}"},
        timeout=30,
    )
    assert created.status_code == 202, created.text
    return str(created.json()["id"])


def test_an_eventsource_follows_the_export_to_its_end_and_stops(live: Live, tmp_path: Path) -> None:
    require_node_package("eventsource")
    export_id = _create(live)
    url = f"{live.url}/v1/exports/{export_id}/events"
    code, seen = run_script("sse_follow.mjs", url, live.token("bob"), "20000", timeout_s=40)
    # It saw the export end, then its reconnect got a 204 and it closed for good:
    # before, it came back every 2 s for ever.
    assert code == 0, seen
    assert seen["closed"] is True
    assert seen["statuses"][-1] == "completed"
    assert seen["opens"] == 1
    assert seen["ids"] == sorted(seen["ids"], key=int)


def test_an_eventsource_on_a_finished_export_gets_its_state_once(live: Live) -> None:
    require_node_package("eventsource")
    export_id = _create(live)
    token = live.token("bob")
    url = f"{live.url}/v1/exports/{export_id}/events"
    run_script("sse_follow.mjs", url, token, "20000", timeout_s=40)  # until it is final
    code, seen = run_script("sse_follow.mjs", url, token, "20000", timeout_s=40)
    assert code == 0, seen
    assert (seen["statuses"], seen["opens"], seen["closed"]) == (["completed"], 1, True)
