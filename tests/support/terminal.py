"""``exportd`` started as from a terminal (its own process group, none of this test
process's EXPORTD_ settings, JSON logs) and stopped as a person stops it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import psutil
import pytest

from tests.support.live import ROOT

_LAUNCHED: list[subprocess.Popen[str]] = []


def launch(tmp: Path, *args: str, **settings: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPORTD_")}
    env.update(EXPORTD_LOG_FORMAT="json", **settings)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    process = subprocess.Popen(
        [sys.executable, "-m", "exportd", *args],
        cwd=tmp,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives it
    )
    _LAUNCHED.append(process)
    return process


@pytest.fixture
def launched_processes_end() -> Iterator[None]:
    """After the test, SIGKILL the process group of each process it launched: what a
    test that failed before ``stop`` left running (a worker and its children would run
    on for good)."""
    yield
    while _LAUNCHED:
        process = _LAUNCHED.pop()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()


def stop(process: subprocess.Popen[str], how: Literal["ctrl-c", "sigterm"]) -> str:
    """Ctrl-C (SIGINT to the process group) or a SIGTERM to the process alone; what it
    printed.  Nothing it started may outlive it."""
    processes = [psutil.Process(process.pid), *psutil.Process(process.pid).children(True)]
    if how == "ctrl-c":
        os.killpg(process.pid, signal.SIGINT)
    else:
        process.send_signal(signal.SIGTERM)  # it alone: its children must follow
    output, _ = process.communicate(timeout=90)
    _gone, alive = psutil.wait_procs(processes, timeout=30)
    assert alive == [], f"left running: {[p.cmdline() for p in alive]}"
    return output
