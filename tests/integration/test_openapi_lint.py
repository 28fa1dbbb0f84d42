"""The app's OpenAPI document passes the linters generated-client users run (issue 23):
Redocly CLI's recommended rules and Spectral's ``spectral:oas``, with no error and no
warning.  Their rule sets are tests/js/redocly.yaml and tests/js/.spectral.yaml."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.node import JS, require_node_package
from tests.support.openapi import write_document


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_document(tmp_path_factory.mktemp("lint"))


def _run(*command: str) -> str:
    # No telemetry, no update check: the tests talk to no one.
    env = {**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"}
    done = subprocess.run(
        [str(JS / "node_modules" / ".bin" / command[0]), *command[1:]],
        cwd=JS,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 or done.stdout.strip(), f"{command[0]}: {done.stderr[-2000:]}"
    return done.stdout


def test_redocly_recommended_finds_nothing(document: Path) -> None:
    require_node_package("@redocly/cli")
    report: dict[str, Any] = json.loads(
        _run("redocly", "lint", str(document), "--config", "redocly.yaml", "--format", "json")
    )
    found = [f"{p['ruleId']}: {p['message']} at {p['location']}" for p in report["problems"]]
    assert report["totals"]["errors"] == report["totals"]["warnings"] == 0, "\n".join(found)
    assert not found, "\n".join(found)


def test_spectral_oas_finds_nothing(document: Path) -> None:
    require_node_package("@stoplight/spectral-cli")
    report = document.with_name("spectral.json")
    _run("spectral", "lint", str(document), "--ruleset", ".spectral.yaml", "--format", "json",
         "--output", str(report), "--fail-severity", "hint")  # fmt: skip
    results: list[dict[str, Any]] = json.loads(report.read_text())
    found = [f"{r['code']}: {r['message']} at {'.'.join(map(str, r['path']))}" for r in results]
    assert not found, "\n".join(found)
