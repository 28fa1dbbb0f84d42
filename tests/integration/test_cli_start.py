"""`exportd serve` and `exportd demo` check their port before they start or print anything:
a port that is taken is one line naming a free one to use instead, exit 1."""

from __future__ import annotations

import os
import re
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from exportd.api.server import listen_problem
from exportd.cli import app


@pytest.fixture(autouse=True)
def process_state_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The commands run in this process and set what a real start sets for its process
    (a private umask, a metrics directory, a SIGTERM handler): put each back after, or
    later tests in this worker would run under them."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # kept: not made
    umask = os.umask(0o022)
    os.umask(umask)
    on_sigterm = signal.getsignal(signal.SIGTERM)
    yield
    os.umask(umask)
    signal.signal(signal.SIGTERM, on_sigterm)


@pytest.mark.parametrize(
    ("command", "fixes"),
    [
        (["serve"], ["exportd serve --port {port}"]),
        (["demo"], ["make demo PORT={port}", "exportd demo --port {port}"]),
    ],
)
def test_a_busy_port_is_refused_first_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], fixes: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, [*command, "--port", str(port)])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""  # no tokens, no URLs
    line = result.stderr.strip()
    assert "\n" not in line
    found = re.fullmatch(rf"exportd: port {port} is in use: try (.*)", line)
    assert found, line
    other = int(re.findall(r"\d+", found.group(1))[-1])
    assert other != port
    assert listen_problem("127.0.0.1", other) is None  # the port it offers is free
    assert found.group(1) == " or ".join(f"`{fix.format(port=other)}`" for fix in fixes)
    assert list(tmp_path.iterdir()) == []  # nothing created: no database, no var/


def test_a_port_it_may_not_bind_is_named_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["serve", "--host", "192.0.2.1", "--port", "8000"])
    assert result.exit_code == 1
    assert result.stderr.startswith("exportd: cannot listen on 192.0.2.1:8000: ")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("command", [["worker"], ["serve", "--port", "{port}"]])
def test_tracing_that_cannot_export_stops_the_start_naming_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    # Left configured, structlog would keep writing to the runner's closed stream.
    monkeypatch.setattr("exportd.cli_common.configure_logging", lambda settings: None)
    monkeypatch.setenv("EXPORTD_OTEL_ENABLED", "true")
    monkeypatch.setenv("EXPORTD_OTEL_EXPORTER", "nowhere.to_be:found")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = CliRunner().invoke(app, [part.format(port=port) for part in command])
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        "exportd: EXPORTD_OTEL_EXPORTER: cannot load 'nowhere.to_be:found': "
        "No module named 'nowhere'\n"
    )
