"""Node.js clients from tests/js (installed by `npm ci --prefix tests/js`, as .ci/run does)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.databases import IN_CI

JS = Path(__file__).resolve().parents[1] / "js"


def require_node_package(package: str) -> None:
    """Skip locally, with the reason, when node or the package is missing; fail in CI."""
    problem = None
    if shutil.which("node") is None:
        problem = "node is not installed"
    elif not (JS / "node_modules" / package).is_dir():
        problem = f"{package} is not installed: npm ci --prefix tests/js"
    if problem is None:
        return
    if IN_CI:
        pytest.fail(f"CI must run the Node.js client tests: {problem}")
    pytest.skip(problem)


def run_script(script: str, *args: str, timeout_s: float) -> tuple[int, dict[str, Any]]:
    """Run tests/js/SCRIPT with ARGS; its exit code and the JSON line it printed last."""
    done = subprocess.run(
        ["node", str(JS / script), *args],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    lines = done.stdout.strip().splitlines()
    assert lines, f"{script} printed nothing: {done.stderr[-2000:]}"
    return done.returncode, json.loads(lines[-1])
