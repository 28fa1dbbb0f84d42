"""Where a benchmark phase's CPU went: per process tree, read from the kernel's accounts.

A tree's CPU is what its live processes used plus what their exited children used
(counted into the parent when it reaps them), so forked export children and closed
PostgreSQL backends are not lost between two readings.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

import psutil


def tree_cpu_s(pids: Iterable[int]) -> float:
    """CPU seconds used so far by the processes ``pids``, their descendants and every
    child they have reaped."""
    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            family = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for process in family:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue  # exited since the listing: its parent counts it once reaped
            total += times.user + times.system + times.children_user + times.children_system
    return total


def postmaster_pids() -> list[int]:
    """The local PostgreSQL servers' main processes (their backends are their children):
    every server's, so the bench's figure counts what other clients of them do too."""
    found = []
    for process in psutil.process_iter(["name", "ppid"]):
        if process.info["name"] != "postgres":
            continue
        try:
            parent = psutil.Process(process.info["ppid"]).name()
        except psutil.NoSuchProcess:
            continue
        if parent != "postgres":
            found.append(process.pid)
    return found


class CpuMeter:
    """CPU seconds per named part between ``start()`` and ``stop()``."""

    def __init__(self, parts: dict[str, list[int]], *, clients: bool = True) -> None:
        self._parts = parts
        self._clients = clients
        self._started: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        reading = {name: tree_cpu_s(pids) for name, pids in self._parts.items()}
        if self._clients:
            reading["clients"] = time.process_time()  # this process: the client threads
        return reading

    def start(self) -> None:
        self._started = self._read()

    def stop(self) -> dict[str, float]:
        now = self._read()
        return {name: now[name] - self._started[name] for name in now}


def budget_line(spent: dict[str, float], done: int, elapsed: float) -> str:
    """'API 4.1 + worker 8.0 + … = 19.9 ms of CPU an export; cores busy: API 0.61 + …'."""
    per_export = " + ".join(f"{name} {cpu / done * 1000:.1f}" for name, cpu in spent.items())
    busy = " + ".join(f"{name} {cpu / elapsed:.2f}" for name, cpu in spent.items())
    return (
        f"{per_export} = {sum(spent.values()) / done * 1000:.1f} ms of CPU an export; "
        f"cores busy: {busy} = {sum(spent.values()) / elapsed:.2f} of {os.cpu_count()}"
    )
