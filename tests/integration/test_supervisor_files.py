"""A file whose outcome the queue did not keep is removed at once by the supervisor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exportd.app_wiring import worker_app
from exportd.config import Settings
from exportd.db import Database
from exportd.errors import ConfigError, ErrorInfo
from exportd.queue import JobState, JobStore
from exportd.queue.models import Claimed, Outcome, Settled
from exportd.storage import Storage, storage_for
from exportd.worker.outcomes import Finished
from exportd.worker.supervisor import Supervisor

CLAIM = Claimed(job_id=1, attempt=2)


@pytest.fixture
def supervisor(settings: Settings, db: Database, tmp_path: Path) -> Iterator[Supervisor]:
    config = settings.model_copy(update={"storage_url": f"file://{tmp_path / 'files'}"})
    built = Supervisor(
        settings=config,
        db=db,
        store=JobStore.from_settings(config),
        app=worker_app(),
        concurrency=1,
    )
    yield built
    built.wakeup.close()  # never run: its self-pipe is all it opened


def storage(supervisor: Supervisor) -> Storage:
    return storage_for(supervisor.settings)


def finished_with_file(supervisor: Supervisor, key: str) -> Finished:
    with storage(supervisor).writer(key) as sink:
        sink.write(b"rows")
    outcome = Outcome(claim=CLAIM, result={"key": key})
    return Finished(outcome=outcome, task="exportd.export", correlation_id=None, duration_s=1.0)


@pytest.mark.parametrize(
    ("settled", "kept"),
    [
        (Settled(claim=CLAIM, state=JobState.COMPLETED), True),
        (Settled(claim=CLAIM, state=None), False),  # fenced off: another attempt owns it
        (  # the settle hook refused the result (a quota decided at settle)
            Settled(
                claim=CLAIM,
                state=JobState.FAILED,
                error=ErrorInfo("storage_quota_exceeded", "too big", False),
            ),
            False,
        ),
        # A success recorded cancelled: the cancel was asked for first, the file goes.
        (Settled(claim=CLAIM, state=JobState.CANCELLED), False),
    ],
)
def test_only_kept_outcomes_keep_their_file(
    supervisor: Supervisor, settled: Settled, kept: bool
) -> None:
    done = finished_with_file(supervisor, "bob/e1/2/trades.csv")
    supervisor.outcomes.discard_unkept(done, settled)
    assert (storage(supervisor).size("bob/e1/2/trades.csv") is not None) is kept


def test_a_signal_is_only_noted_in_its_handler_and_logged_by_the_loop(
    supervisor: Supervisor,
) -> None:
    """A handler runs between any two bytecodes, also inside the logger's write: logging
    there made a second signal wait forever on the logger's lock."""
    import signal

    from structlog.testing import capture_logs

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        supervisor._install_signal_handlers()
        handle = signal.getsignal(signal.SIGTERM)
        assert callable(handle)
        with capture_logs() as logged:
            handle(signal.SIGTERM, None)
            handle(signal.SIGINT, None)
        assert logged == []
        assert supervisor._stopping
        with capture_logs() as logged:
            supervisor._loop()  # stopping, nothing running: logs and returns
        assert [e["signal"] for e in logged if e["event"] == "worker.stopping"] == [
            "SIGTERM",
            "SIGINT",
        ]
    finally:
        signal.signal(signal.SIGTERM, before[0])
        signal.signal(signal.SIGINT, before[1])


def test_a_storage_that_cannot_be_opened_stops_the_worker_at_start(
    settings: Settings, db: Database
) -> None:
    config = settings.model_copy(update={"storage_url": "ftp://files.example/exports"})
    with pytest.raises(ConfigError, match="EXPORTD_STORAGE_URL"):
        Supervisor(
            settings=config,
            db=db,
            store=JobStore.from_settings(config),
            app=worker_app(),
            concurrency=1,
        )
