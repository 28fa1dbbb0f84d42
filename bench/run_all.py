"""Run every benchmark and write what they printed into docs/benchmarks.md.

The page keeps its hand-written analysis; this script replaces only the block between
``<!-- bench:start -->`` and ``<!-- bench:end -->`` with the latest run: the date, the
machine, the versions that matter and each script's own output (figures next to their
baselines, measured in the same run).

    make bench                                  # all of them
    BENCH_ONLY=document_render make bench       # one (the block holds just that one)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from common import machine

HERE = Path(__file__).resolve().parent
PAGE = HERE.parent / "docs" / "benchmarks.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
LOG_LINE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \[")
SCRIPTS = [
    ("queue_pickup", {}),
    ("queue_throughput", {}),
    ("queue_fairness", {}),
    ("api_polling", {"BENCH_WORKERS": "2"}),
    ("export_formats", {}),
    ("export_count", {}),
    ("connections", {}),
    ("document_render", {}),
    ("document_e2e", {}),
    ("small_exports", {}),
    ("quota_usage", {}),
    ("tracing_overhead", {}),
]
PACKAGES = [
    "exportd", "sqlalchemy", "psycopg", "pyarrow", "xlsxwriter", "rustpy-xlsxwriter",
    "orjson", "typst", "weasyprint", "playwright", "pandas", "polars", "procrastinate",
    "adbc-driver-sqlite", "adbc-driver-postgresql", "connectorx", "pymysql",
]  # fmt: skip


def versions() -> str:
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            continue
    return ", ".join(found)


def run(name: str, env: dict[str, str]) -> tuple[str, float, int]:
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, f"{name}.py"],
        cwd=HERE,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        print(line, end="", flush=True)  # the run stays visible as it goes
        lines.append(line)
    code = process.wait()
    # Keep the figures, not the log lines of the servers the script started.
    kept = [line for line in lines if not (line.startswith("{") or LOG_LINE.match(line))]
    return "".join(kept).rstrip(), time.monotonic() - started, code


def block(results: list[tuple[str, str, float, int]]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        START,
        f"## Latest run ({when})",
        "",
        f"Machine: {machine()}. Versions: {versions()}.",
        "",
    ]
    for name, output, seconds, code in results:
        status = "" if code == 0 else f" — exited {code}"
        title = f"### `bench/{name}.py` ({seconds:.0f} s{status})"
        parts += [title, "", "```text", output, "```", ""]
    parts.append(END)
    return "\n".join(parts)


def write(page: Path, text: str) -> None:
    current = page.read_text()
    if START in current and END in current:
        before, rest = current.split(START, 1)
        after = rest.split(END, 1)[1]
        page.write_text(before + text + after)
    else:
        title, _, body = current.partition("\n")
        page.write_text(f"{title}\n\n{text}\n{body}")


def main() -> None:
    only = {n for n in os.environ.get("BENCH_ONLY", "").split(",") if n}
    results = []
    for name, env in SCRIPTS:
        if only and name not in only:
            continue
        print(f"== bench/{name}.py", flush=True)
        output, seconds, code = run(name, env)
        results.append((name, output, seconds, code))
    write(PAGE, block(results))
    print(f"wrote {PAGE.relative_to(HERE.parent)}")
    if any(code for *_, code in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
