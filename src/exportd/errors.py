"""One exception root, each error with a stable ``code`` that clients may rely on.

::

    ExportdError                  code, message, retryable
    ├── ConfigError               a setting is missing or wrong (refuse to start)
    ├── JobNotFound               no such job
    ├── InvalidTransition         the job is not in a state that allows the action
    ├── LeaseLost                 a fenced write matched nothing: another attempt owns the job
    ├── JobCancelled              raised at a checkpoint when cancellation was requested
    ├── Unauthenticated           no token, or a bad one (each way has its own code)
    ├── Forbidden                 the principal may not do this
    ├── NotFound                  no such resource (or not the caller's: never 403)
    ├── RequestInvalid            the request does not validate; ``errors`` names the fields
    ├── Conflict                  e.g. an idempotency key reused for another request
    ├── Gone                      it existed, and is no more (a used or expired link)
    ├── LimitReached              a plan limit; ``retry_after_s`` when waiting helps
    ├── ServiceDisabled           a feature switched off by configuration
    ├── ServiceUnavailable        something exportd depends on is down (try again)
    │   ├── StorageError          the artifact store refused or failed an operation
    │   └── DatabaseUnavailable   the database is down, unreachable or locked (API: 503)
    └── JobError                  raised by task code; the queue decides on a retry
        ├── RetryableJobError     transient: I/O, storage, timeouts, the database
        └── TerminalJobError      retrying cannot help: bad input, not found, limits
            ├── UnknownTask
            ├── TimeLimitExceeded
            └── MemoryLimitExceeded

Driver exceptions are translated where they enter (see :func:`classify`): anything
that looks like I/O or a lost connection is retryable, as is an exception nobody
classified (the attempt budget bounds it); a terminal error fails the job at once.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ExportdError(Exception):
    code = "exportd_error"
    retryable = False
    # What a failed attempt still produced and asked to keep (a partial file's result);
    # the queue records it with the failure when the failure is final.
    result: dict[str, Any] | None = None

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0])


class ConfigError(ExportdError):
    """The configuration is invalid."""

    code = "config_invalid"


class JobNotFound(ExportdError):
    """No such job."""

    code = "job_not_found"


class InvalidTransition(ExportdError):
    """The job is not in a state that allows this action."""

    code = "invalid_state"


class LeaseLost(ExportdError):
    """The job is no longer held by this attempt."""

    code = "lease_lost"


class JobCancelled(ExportdError):
    """Cancellation was requested."""

    code = "cancelled"


class Unauthenticated(ExportdError):
    """Authentication is required."""

    code = "auth_required"


class Forbidden(ExportdError):
    """Not allowed."""

    code = "forbidden"


class NotFound(ExportdError):
    """Not found."""

    code = "not_found"


class RequestInvalid(ExportdError):
    """The request is not valid."""

    code = "validation_failed"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        errors: list[dict[str, object]] | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.errors = errors or []


class Conflict(ExportdError):
    """The request conflicts with the current state."""

    code = "conflict"


class Gone(ExportdError):
    """It is gone."""

    code = "gone"


class LimitReached(ExportdError):
    """A limit of the plan was reached."""

    code = "limit_reached"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after_s = retry_after_s


class ServiceDisabled(ExportdError):
    """This part of the service is switched off."""

    code = "service_disabled"


class ServiceUnavailable(ExportdError):
    """A service exportd depends on is unavailable."""

    code = "service_unavailable"
    retryable = True


class StorageError(ServiceUnavailable):
    """The artifact storage failed."""

    code = "storage_unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    """The database is unavailable right now; try again shortly."""

    code = "database_unavailable"
    # Long enough for a restart or a failover to finish, short enough to feel live.
    retry_after_s = 5


class JobError(ExportdError):
    """A task failed."""

    code = "job_failed"


class RetryableJobError(JobError):
    """A transient failure; the job will be tried again."""

    code = "transient_error"
    retryable = True


class TerminalJobError(JobError):
    """A failure that retrying cannot fix."""

    code = "terminal_error"


class UnknownTask(TerminalJobError):
    """No task of that name is registered in this worker."""

    code = "unknown_task"


class TimeLimitExceeded(TerminalJobError):
    """The job ran past its time limit."""

    code = "time_limit_exceeded"


class MemoryLimitExceeded(TerminalJobError):
    """The job used more memory than allowed."""

    code = "memory_limit_exceeded"


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """What the queue records of a failure: never row data, never secrets."""

    code: str
    message: str
    retryable: bool
    # Where it happened, for operators (the event log): ``file:line in function`` of the
    # innermost frames, never locals or messages; not shown to users.
    stack: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "retryable": self.retryable}


_RETRYABLE_BUILTINS = (OSError, TimeoutError, ConnectionError, EOFError)


def classify(exc: BaseException) -> ErrorInfo:
    """Map any exception to the error the queue stores and acts on."""
    if isinstance(exc, ExportdError):
        return ErrorInfo(exc.code, exc.message, exc.retryable)
    if _is_database_error(exc):
        return ErrorInfo("transient_error", f"database error: {driver_message(exc)}", True)
    if isinstance(exc, _RETRYABLE_BUILTINS):
        return ErrorInfo("transient_error", f"{type(exc).__name__}: {exc}"[:500], True)
    if isinstance(exc, MemoryError):
        return ErrorInfo("memory_limit_exceeded", "the job ran out of memory", False)
    return ErrorInfo("internal_error", f"{type(exc).__name__}: {exc}"[:500], True)


def stack_excerpt(exc: BaseException, frames: int = 8) -> tuple[str, ...]:
    """The innermost frames of a traceback as ``file:line in function``."""
    summary = traceback.extract_tb(exc.__traceback__)[-frames:]
    return tuple(f"{Path(f.filename).name}:{f.lineno} in {f.name}" for f in summary)


def _is_database_error(exc: BaseException) -> bool:
    # Imported lazily: the classification must not drag SQLAlchemy into every caller.
    from sqlalchemy.exc import DBAPIError, OperationalError

    return isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def driver_message(exc: BaseException) -> str:
    """The database's own first line of an error, without the statement or its parameters
    (which may hold row data)."""
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    return lines[0][:200] if lines else type(original).__name__
