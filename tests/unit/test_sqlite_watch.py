"""How often the SQLite watcher looks for commits: soon after activity, seldom when idle."""

from __future__ import annotations

import pytest

from exportd.queue.notify import SqliteWatcher


@pytest.mark.parametrize(
    ("quiet_s", "every_s"),
    [(0.0, 0.002), (0.2, 0.002), (0.25, 0.010), (29.9, 0.010), (30.0, 0.050), (86_400, 0.050)],
)
def test_the_watcher_eases_off_as_the_quiet_lasts(quiet_s: float, every_s: float) -> None:
    assert SqliteWatcher.interval(quiet_s) == every_s
