"""``exportd queues``: an operator pauses and resumes a queue from the command line."""

from __future__ import annotations

from pathlib import Path

from exportd.config import load_settings
from exportd.db import create_database
from exportd.queue import JobStore, NewJob
from exportd.queue.control import QueueControl
from tests.e2e.test_cli import exportd


def test_queues_list_pause_resume(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert exportd("migrate", url=url).returncode == 0
    settings = load_settings(database_url=url)
    db, store = create_database(settings), JobStore.from_settings(settings)
    with db.write() as conn:
        store.enqueue(conn, NewJob(task="report", queue="reports"))
    listed = exportd("queues", "list", url=url)
    assert listed.returncode == 0, listed.stderr
    assert "default" in listed.stdout
    assert "reports" in listed.stdout
    paused = exportd("queues", "pause", "reports", url=url)
    assert paused.returncode == 0, paused.stderr
    assert "paused" in paused.stdout
    with db.write() as conn:
        state = QueueControl().get(conn, "reports")
        assert state.paused
        assert (state.paused_by or "").startswith("cli")
        assert store.claim(conn, worker_id="w", queues=["reports"], limit=1) == []
    assert "paused" in exportd("queues", "list", url=url).stdout
    unknown = exportd("queues", "pause", "nope", url=url)
    assert unknown.returncode == 1
    assert "queue_unknown" in unknown.stderr
    assert exportd("queues", "resume", "reports", url=url).returncode == 0
    with db.read() as conn:
        assert not QueueControl().get(conn, "reports").paused
    db.dispose()
