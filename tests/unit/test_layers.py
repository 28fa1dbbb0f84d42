"""What the import contracts (``lint-imports``) cannot see: time read from the system
and settings read from the environment, anywhere but at the edges."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "exportd"

# The only module that may ask the system for the time: everything else takes a Clock.
CLOCK = {"clock.py"}
SYSTEM_TIME = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
}

# The composition roots: the command line, the API server's factory, and the settings
# module itself.  Everything else is given its settings.
SETTINGS_READERS = {"config/loading.py", "cli_common.py", "api/app.py"}


@cache
def names(path: Path) -> list[tuple[str, int]]:
    """Each plain or dotted name the module uses, called or not
    (``default_factory=datetime.now``), with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Name):
            found.append((node.id, node.lineno))
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name | ast.Attribute):
            found.append((f"{dotted(node.value)}.{node.attr}", node.lineno))
    return found


def dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else "?"


def offenders(wanted: set[str], allowed: set[str]) -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        name = path.relative_to(SRC).as_posix()
        if name in allowed:
            continue
        found += [f"{name}:{line} {used}" for used, line in names(path) if used in wanted]
    return found


def test_only_the_clock_reads_the_system_time() -> None:
    wanted = {f"{owner}.{method}" for owner, method in SYSTEM_TIME}
    assert offenders(wanted, CLOCK) == [], "take a Clock (exportd.clock) instead"


def test_only_the_composition_roots_read_settings_from_the_environment() -> None:
    wanted = {"load_settings", "config.load_settings", "exportd.config.load_settings"}
    assert offenders(wanted, SETTINGS_READERS) == [], "be given the Settings instead"


def test_the_scan_finds_what_it_looks_for() -> None:
    """Guard against a scan that silently finds nothing (a moved tree, a renamed call)."""
    assert len(offenders({"SystemClock"}, set())) > 5  # constructed in several modules
    assert [o.split(":")[0] for o in offenders({"datetime.now"}, set())] == ["clock.py"]


def test_no_module_is_over_500_lines() -> None:
    """Small modules with one job each: a module that grows past this is split first."""
    long = {
        path.relative_to(SRC).as_posix(): lines
        for path in SRC.rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > 500
    }
    assert long == {}
