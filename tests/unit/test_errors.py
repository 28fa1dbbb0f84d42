from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from exportd.errors import (
    MemoryLimitExceeded,
    RetryableJobError,
    TerminalJobError,
    classify,
)


@pytest.mark.parametrize(
    ("exc", "code", "retryable"),
    [
        (TerminalJobError("bad", code="validation_failed"), "validation_failed", False),
        (RetryableJobError("storage down"), "transient_error", True),
        (MemoryLimitExceeded("too big"), "memory_limit_exceeded", False),
        (ConnectionResetError("peer"), "transient_error", True),  # I/O: try again
        (TimeoutError("slow"), "transient_error", True),
        (OperationalError("SELECT 1", {}, Exception("server closed")), "transient_error", True),
        (MemoryError(), "memory_limit_exceeded", False),
        (KeyError("bug"), "internal_error", True),  # unknown: bounded by the attempt budget
    ],
)
def test_classify(exc: BaseException, code: str, retryable: bool) -> None:
    info = classify(exc)
    assert (info.code, info.retryable) == (code, retryable)


def test_classify_never_leaks_a_database_statement() -> None:
    exc = OperationalError(
        "SELECT secret FROM users WHERE email = %s", {"e": "a@b.c"}, Exception("x")
    )
    assert "a@b.c" not in classify(exc).message
