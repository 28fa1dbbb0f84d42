"""A tabular export that fails after writing rows says how many: never a silent cap."""

from __future__ import annotations

from exportd.errors import RetryableJobError, TerminalJobError, classify
from exportd.exports.task import after_rows


def test_a_failure_before_any_row_is_left_as_it_is() -> None:
    original = TerminalJobError("bad", code="x")
    assert after_rows(original, 0) is original


def test_a_terminal_failure_after_rows_keeps_its_code_and_counts_them() -> None:
    failure = after_rows(
        TerminalJobError("the pro plan allows 10 rows", code="row_limit_exceeded"), 12_000
    )
    assert isinstance(failure, TerminalJobError)
    info = classify(failure)
    assert info.code == "row_limit_exceeded"
    assert info.message == (
        "the pro plan allows 10 rows (after 12,000 rows were written; the file was discarded)"
    )


def test_an_unexpected_error_after_rows_stays_retryable() -> None:
    failure = after_rows(ConnectionError("reset"), 500)
    assert isinstance(failure, RetryableJobError)
    assert "after 500 rows" in str(failure)
    assert classify(failure).retryable
