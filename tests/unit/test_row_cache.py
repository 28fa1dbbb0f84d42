"""The row cache between polls: off until its feed is live, never keeps a row read
before a change it heard of, forgets by export or by job, bounded in size and age."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from exportd.exports.row_cache import MAX_AGE_S, RowCache


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def row(job_id: int | None = None) -> SimpleNamespace:
    return SimpleNamespace(job_id=job_id)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache(clock: FakeClock) -> RowCache:
    cache = RowCache(max_rows=3, clock=clock)
    cache.go_live()
    return cache


def test_keeps_nothing_until_live() -> None:
    cache = RowCache(max_rows=3)
    cache.put("a", row(), generation=cache.generation)
    assert cache.get("a") is None
    cache.go_live()
    cache.put("a", kept := row(), generation=cache.generation)
    assert cache.get("a") is kept


def test_a_read_that_raced_a_change_is_not_kept(cache: RowCache) -> None:
    before_read = cache.generation
    cache.forget(["export:other"])  # a change arrived while the row was being read
    cache.put("a", row(), generation=before_read)
    assert cache.get("a") is None


def test_forgets_by_export_and_by_job(cache: RowCache) -> None:
    a, b, c = row(job_id=7), row(job_id=8), row()
    for key, value in (("a", a), ("b", b), ("c", c)):
        cache.put(key, value, generation=cache.generation)
    cache.forget(["job:7"])
    assert cache.get("a") is None
    assert cache.get("b") is b
    cache.forget(["export:c"])
    assert cache.get("c") is None
    cache.forget(["job:999", "export:nothing"])  # unknown keys are fine
    assert cache.get("b") is b


def test_replacing_a_row_forgets_its_old_job(cache: RowCache) -> None:
    cache.put("a", row(job_id=7), generation=cache.generation)
    cache.put("a", retried := row(job_id=9), generation=cache.generation)
    cache.forget(["job:7"])  # the old job's changes no longer concern this export
    assert cache.get("a") is retried
    cache.forget(["job:9"])
    assert cache.get("a") is None


def test_rows_expire_whatever_the_feed_says(cache: RowCache, clock: FakeClock) -> None:
    cache.put("a", row(), generation=cache.generation)
    clock.now += MAX_AGE_S - 0.1
    assert cache.get("a") is not None
    clock.now += 0.2
    assert cache.get("a") is None
    assert len(cache) == 0


def test_the_least_recently_polled_row_goes_first(cache: RowCache) -> None:
    for key in "abc":
        cache.put(key, row(), generation=cache.generation)
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("d", row(), generation=cache.generation)
    assert cache.get("b") is None
    assert [cache.get(key) is not None for key in "acd"] == [True, True, True]


def test_going_dark_empties_it_and_refuses_rows(cache: RowCache) -> None:
    cache.put("a", row(), generation=cache.generation)
    cache.go_dark()
    assert cache.get("a") is None
    cache.put("a", row(), generation=cache.generation)
    assert not cache.live
    assert len(cache) == 0


def test_the_hook_runs_before_every_look_up(cache: RowCache) -> None:
    cache.put("a", row(), generation=cache.generation)
    cache.before_get = cache.forget_all  # what a feed does when it sees a change
    assert cache.get("a") is None
    assert cache.live
