"""``python -m exportd``: a Ctrl-C while the command line loads exits 130, also when it
lands in a class's ``__set_name__`` (Python 3.11 wraps it in a RuntimeError)."""

from __future__ import annotations

import pytest

import exportd.cli
from exportd import __main__ as entry


def _raising(error: BaseException) -> None:
    raise error


@pytest.mark.parametrize(
    "interrupt",
    [KeyboardInterrupt(), RuntimeError("Error calling __set_name__")],
    ids=["plain", "inside __set_name__"],
)
def test_an_interrupt_while_loading_exits_130(
    monkeypatch: pytest.MonkeyPatch, interrupt: BaseException
) -> None:
    if isinstance(interrupt, RuntimeError):
        interrupt.__cause__ = KeyboardInterrupt()
    monkeypatch.setattr(exportd.cli, "main", lambda: _raising(interrupt))
    monkeypatch.setattr(entry, "exit_quickly", lambda: None)
    with pytest.raises(SystemExit) as exited:
        entry.main()
    assert exited.value.code == 130


def test_another_runtime_error_is_not_an_interrupt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exportd.cli, "main", lambda: _raising(RuntimeError("a bug")))
    monkeypatch.setattr(entry, "exit_quickly", lambda: None)
    with pytest.raises(RuntimeError, match="a bug"):
        entry.main()
