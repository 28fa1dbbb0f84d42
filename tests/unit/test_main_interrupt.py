"""``python -m exportd``: a Ctrl-C while the command line loads exits 130, also when it
lands in a class's ``__set_name__`` (Python 3.11 wraps it in a RuntimeError) or in code
that wraps it without a cause (pydantic-core building a validator: a SchemaError)."""

from __future__ import annotations

import signal

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


def test_a_sigint_wrapped_without_a_cause_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def loading() -> None:
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt as exc:  # as pydantic-core does: only the text is kept
            raise ValueError(f"building a validator: {exc!r}") from None

    monkeypatch.setattr(exportd.cli, "main", loading)
    monkeypatch.setattr(entry, "exit_quickly", lambda: None)
    monkeypatch.setattr(entry, "_interrupted", False)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(SystemExit) as exited:
            entry.main()
    finally:
        signal.signal(signal.SIGINT, before)
    assert exited.value.code == 130


def test_another_runtime_error_is_not_an_interrupt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entry, "_interrupted", False)
    monkeypatch.setattr(exportd.cli, "main", lambda: _raising(RuntimeError("a bug")))
    monkeypatch.setattr(entry, "exit_quickly", lambda: None)
    with pytest.raises(RuntimeError, match="a bug"):
        entry.main()
