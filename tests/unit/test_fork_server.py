"""What the worker's fork server preloads for its children."""

from __future__ import annotations

from exportd import app_wiring, cli
from exportd.worker.children import preloaded


def test_the_worker_command_preloads_the_app_it_runs() -> None:
    # Named in the CLI before the app's module is imported (the server imports it
    # meanwhile): the same factory the app's reference names.
    assert cli.WORKER_FACTORY == app_wiring.FACTORY
    assert app_wiring.worker_app().ref is not None
    assert app_wiring.worker_app().ref.factory == cli.WORKER_FACTORY


def test_the_fork_server_preloads_the_child_and_the_factory_not_the_plugins() -> None:
    assert preloaded("exportd.app_wiring:worker_app") == [
        "exportd.worker.child",
        "exportd.app_wiring",
    ]
