"""`exportd demo` as a person runs it: seeds, serves the API and the page with a worker,
prints the page and tokens; Ctrl-C (or a SIGTERM to it alone) stops every process it
started and removes its metrics directory; a second start reuses the data, and a plugin's
sources join the demo's."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx2 as httpx
import psutil
import pytest

from tests.support.mail import free_port
from tests.support.terminal import launch, stop

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("launched_processes_end")]


def start(tmp: Path, port: int, **settings: str) -> subprocess.Popen[str]:
    return launch(tmp, "demo", "--port", str(port), **settings)


def wait_ready(url: str, timeout: float = 90) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError("the demo did not become ready")


def tree(process: subprocess.Popen[str]) -> list[psutil.Process]:
    return [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]


def test_demo_serves_the_page_and_stops_without_orphans(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    demo = start(tmp_path, port)
    try:
        wait_ready(url)
        deadline = time.monotonic() + 60
        while len(tree(demo)) < 4:  # the demo (API), the worker and its children
            assert time.monotonic() < deadline, "the worker did not start its children"
            time.sleep(0.05)
        page = httpx.get(f"{url}/exports")
        assert "Sign in as alice" in page.text
        with httpx.Client(base_url=url) as browser:
            signed = browser.post("/exports/sign-in/demo", data={"user": "bob"})
            assert signed.status_code in (200, 303)
            assert "Your plan: pro" in browser.get("/exports").text
    finally:
        output = stop(demo, "ctrl-c")
    assert f"{url}/exports" in output
    assert "alice (free): ey" in output
    assert "(seeded)" in output

    plugin = '["tests.support.slow_source:slow_sources"]'
    again = start(tmp_path, port, EXPORTD_SOURCE_MODULES=plugin)
    try:
        wait_ready(url)
        token = next(
            line.split(": ", 1)[1].strip()
            for line in _lines_until_token(again)
            if line.strip().startswith("bob (pro):")
        )
        trades = httpx.post(
            f"{url}/v1/exports",
            headers={"Authorization": f"Bearer {token}"},
            json={"source": "trades", "format": "csv", "params": {"limit": 10}},
        )
        assert trades.status_code == 202, trades.text
        sources = httpx.get(f"{url}/v1/sources", headers={"Authorization": f"Bearer {token}"})
        names = {source["name"] for source in sources.json()}
        assert {"trades", "daily_pnl", "trader_profile", "slow_trades"} <= names
        slow = httpx.post(
            f"{url}/v1/exports",
            headers={"Authorization": f"Bearer {token}"},
            json={"source": "slow_trades", "format": "csv", "params": {"limit": 10}},
        )
        assert slow.status_code == 202, slow.text
        spec = httpx.get(f"{url}/openapi.json").json()
        assert spec["servers"][0]["url"] == url  # the port it listens on, not 8000
        worker = psutil.Process(again.pid).children()[0]
        metrics = Path(worker.environ()["PROMETHEUS_MULTIPROC_DIR"])
        assert metrics.is_dir()
    finally:
        stop(again, "sigterm")
    assert not metrics.exists()  # a SIGTERM cleans up as a Ctrl-C does


def _lines_until_token(process: subprocess.Popen[str]) -> list[str]:
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "reused" in line:
            assert "(reused)" in line
        if line.strip().startswith("bob (pro):"):
            return lines
    raise AssertionError("no token printed")
