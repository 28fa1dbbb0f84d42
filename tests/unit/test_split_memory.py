"""A split export streams: the peak memory of a process writing a million rows into parts
(in one zip, or stored one by one and gzip'd) is that of one plain file of the same rows,
and does not grow with the rows (each run in a fresh process: ru_maxrss is its peak)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIG = 1_000_000  # 67 MB of CSV
SMALL = 60_000
MARGIN_MIB = 16

pytestmark = pytest.mark.slow


def peak_mib(mode: str, rows: int, folder: Path) -> float:
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.split_rss", mode, str(rows), str(folder)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"},
        cwd=ROOT,
        timeout=300,
        check=True,
    )
    peak, _size, written = done.stdout.split()
    assert int(written) == rows
    return float(peak)


@pytest.mark.parametrize("mode", ["zip", "parts"])
def test_a_big_split_export_peaks_like_a_plain_one(tmp_path: Path, mode: str) -> None:
    plain = peak_mib("plain", BIG, tmp_path / "plain")
    small = peak_mib(mode, SMALL, tmp_path / "small")
    big = peak_mib(mode, BIG, tmp_path / "big")
    assert big <= plain + MARGIN_MIB, (plain, small, big)
    assert big <= small + MARGIN_MIB, (plain, small, big)
    files = [p for p in (tmp_path / "big").rglob("*") if p.is_file()]
    assert len(files) == 1 if mode == "zip" else len(files) > 3
