"""``@task``'s settle hooks: with the worker's context, or the earlier two arguments."""

from __future__ import annotations

from typing import Any

from exportd.queue import tasks


def _hook_of(name: str) -> tasks.SettledHook:
    found = tasks.registry.find(name)
    assert found is not None
    assert found.on_settled is not None
    return found.on_settled


def test_a_two_argument_settle_hook_is_still_called() -> None:
    seen: list[Any] = []

    def old_hook(conn: Any, settled: Any) -> None:
        seen.append((conn, settled))

    tasks.task("tests.two_argument_hook", on_settled=old_hook)(lambda ctx, payload: None)
    _hook_of("tests.two_argument_hook")("conn", "settled", "worker")  # type: ignore[arg-type]
    assert seen == [("conn", "settled")]


def test_a_settle_hook_with_the_workers_context_gets_it() -> None:
    seen: list[Any] = []

    def new_hook(conn: Any, settled: Any, worker: Any) -> None:
        seen.append((conn, settled, worker))

    tasks.task("tests.three_argument_hook", on_settled=new_hook)(lambda ctx, payload: None)
    _hook_of("tests.three_argument_hook")("conn", "settled", "worker")  # type: ignore[arg-type]
    assert seen == [("conn", "settled", "worker")]
