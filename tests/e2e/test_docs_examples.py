"""Every example in README.md and docs/*.md runs or is checked, against one live exportd
(issue 23).

Each fenced block, and each row of the README's command table, is handled by its
language. Shell commands run in bash as a reader would paste them (curl against the
live server with a token, the exportd CLI); Python scripts run; a Python block opening
with ``# path/module.py`` is a module of the reader's, loaded by the live exportd as a
plugin and exported; JavaScript runs in Node; JSON and HTTP examples are compared with
real answers or validated by the request schema; TOML goes through exportd's loaders.
What cannot run in a test is in HANDLING with the reason. A block or a command that is
neither run nor listed fails test_every_block_is_handled: a new example must be handled.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx2
import pyarrow.parquet as pq
import pytest

from exportd.config import load_settings
from exportd.db import Database
from exportd.demo.tables import create_demo_tables, seed_goals_and_evaluations, seed_trades
from exportd.documents.templates import builtin_catalogue, load_template
from exportd.exports.manifest import parse
from exportd.exports.plans import plan_for, save_plan
from exportd.queue import JobState, JobStore, NewJob
from tests.support import doc_host_app
from tests.support.clients import PACKAGE, openapi_document, python_client
from tests.support.doc_blocks import ROOT, SHELLS, Block, blocks, one_line, shell_commands
from tests.support.doc_checks import (
    check_names,
    check_otel,
    check_pip,
    check_settings,
    check_synopsis,
    parse_cli,
    parse_http,
    shape,
)
from tests.support.hooks import Receiver
from tests.support.live import Live, live_exportd
from tests.support.node import JS, require_node_package

pytestmark = pytest.mark.slow

# How an example that does not simply run is handled, and why: ONE table. A pattern is a
# language (```text) or matches a whole shell command. `parse`: the real CLI parses the
# arguments, nothing starts; `settings`: exportd's loader loads the exported settings;
# `pip`: the extras must be pyproject.toml's; `synopsis`: each alternative is a command;
# `make`: `make -n` finds the target (nothing runs); `declared`: only the reason.
HANDLING: list[tuple[str, str, str]] = [
    ("```text", "declared", "a diagram or a program's printed output: nothing to run"),
    (
        "```html",
        "declared",
        "a host page's markup: tests/e2e/test_clients.py serves such a page (another "
        "origin, a strict CSP) and drives <exportd-export> in Chromium",
    ),
    (
        "```ts",
        "declared",
        "TypeScript for openapi-fetch: tests/e2e/test_clients.py type-checks the same calls "
        "(tests/js/openapi_fetch_lifecycle.mjs) with tsc against freshly generated types "
        "and runs them",
    ),
    (
        r"exportd (serve|worker|demo)( .*)?",
        "parse",
        "runs until stopped; tests/support/live.py runs serve and worker for every e2e "
        "test, tests/e2e/test_demo.py runs demo",
    ),
    (
        r"export EXPORTD_\w+=.*",
        "settings",
        "a real deployment's hosts and secrets: loaded by exportd's settings loader, not "
        "exported to the commands that follow",
    ),
    (r"pip install ['\"]?exportd\b.*", "pip", "would install into the test's environment"),
    (
        r"export OTEL_\w+=.*",
        "otel",
        "a collector's address: each name must be one the OpenTelemetry SDK reads, and "
        "exportd's tracing is built from them all (nothing is sent)",
    ),
    (
        r"(pip install openapi-python-client|openapi-python-client generate|"
        r"npx (--yes )?openapi-typescript|npm install openapi-fetch)( .*)?",
        "declared",
        "generates or installs a client package: tests/e2e/test_clients.py generates both "
        "clients from the live spec with the pinned generators (dev group, tests/js) and "
        "runs an export with each",
    ),
    (r"exportd \w+ \w+(\|\w+)+", "synopsis", "several commands in one line, not a command"),
    (
        r"make (demo|test|lint|fuzz|chaos|screenshots|clients)",
        "make",
        "builds its own virtualenv and runs for minutes (the suite, this test included; "
        "CI runs lint and test)",
    ),
    (
        r"(BENCH_\w+=\S+ )*make bench",
        "make",
        "benchmarks take minutes and need PostgreSQL and wrk; tests never time",
    ),
    (
        r"(BENCH_\w+=\S+ )*\.venv-bench/bin/python bench/\w+\.py",
        "declared",
        "a benchmark in the bench virtualenv (make bench builds it), minutes long",
    ),
]
# Plain commands: they run as written.
RUNS = re.compile(r"(exportd|curl|jq)( .*)?|[A-Z_]+=(\$\(.*\)|\"[^\"]*\"|'[^']*'|\S+)")
# Stand-ins for a doc's placeholders in command lines that are parsed.
PLACEHOLDERS = {"N": "2"}
# Variables a shell block uses without setting them, by a text the block contains
# (TOKEN is always there: a user on a small plan, with completed and failed exports).
SHELL_VARIABLES = {
    "/download-token": {"ID": "completed"},
    "?until=final": {"ID": "completed"},
    "/retry": {"ID": "failed", "CURSOR": "cursor"},
}
# Refusals a doc's commands expect: (method, path) → statuses besides 2xx.
EXPECTED_REFUSALS = {
    # The retried export may have failed again before the cancel: 409 export_not_active,
    # as the block's comment says.
    ("POST", r"/v1/exports/\w+/cancel"): {409},
}
# The request that makes each problem+json example, by its code.
PROBLEM_REQUESTS = {
    "params_invalid": ("POST", {"source": "trades", "format": "csv", "params": {"limit": 0}}),
    "jsonresume_invalid": (
        "POST",
        {
            "title": "CV",
            "jsonresume": {
                "basics": {"name": "Richard Hendriks"},
                "work": [{"name": "Pied Piper", "position": "CEO", "startDate": "2014-13"}],
            },
        },
    ),
}
# A value for a required param of a declarative SQL source, by its JSON schema type.
SAMPLES = {"number": 0, "integer": 0, "string": "AAPL", "boolean": True}
FINAL = {"completed", "failed", "cancelled", "expired"}

BLOCKS = blocks()
SHELL_BLOCKS = [b for b in BLOCKS if b.lang in SHELLS]
PY_SCRIPTS = [b for b in BLOCKS if b.lang == "python" and not b.module_path]
PY_MODULES = [b for b in BLOCKS if b.module_path]


def ids(block: Block) -> str:
    return block.id


def module_name(block: Block) -> str:
    return str(block.module_path).removesuffix(".py").replace("/", ".")


def handling(command: str) -> tuple[str, str]:
    """How one shell command is handled, and why; ("unhandled", …) when it is not."""
    line = one_line(command)
    for pattern, how, why in HANDLING:
        if not pattern.startswith("```") and re.fullmatch(pattern, line):
            return how, why
    if RUNS.fullmatch(line):
        return "run", ""
    return "unhandled", f"`{line}` neither runs (exportd, curl, jq, NAME=…) nor is in HANDLING"


def block_handling(block: Block) -> tuple[str, str]:
    """run, validated or declared, and the reason; ("unhandled", why) when it is not."""
    try:
        return _block_handling(block)
    except (ValueError, AssertionError) as exc:  # JSON, HTTP or shell that does not parse
        return "unhandled", f"does not parse as {block.lang}: {exc}"


def _block_handling(block: Block) -> tuple[str, str]:
    if block.lang in SHELLS:
        hows = [handling(c) for c in shell_commands(block)]
        unhandled = [why for how, why in hows if how == "unhandled"]
        if unhandled:
            return "unhandled", "; ".join(unhandled)
        kinds = {how for how, _ in hows}
        if "run" in kinds:
            return "run", ""
        return ("declared", "") if kinds <= {"declared", "make"} else ("validated", "")
    for pattern, how, why in HANDLING:
        if pattern == f"```{block.lang}":
            return how, why
    if block.lang == "python":
        if block.module_path and not re.search(r"^def sources\(|^@task\(", block.text, re.M):
            return "unhandled", "a module with neither sources() nor a @task"
        return "run", ""
    if block.lang == "js":
        return "run", ""
    if block.lang == "json":
        example = json.loads(block.text)
        if {"source", "format"} <= example.keys():  # a request body: it is posted
            return "run", ""
        if "exportd_manifest" in example:  # a split export's manifest: exportd reads it
            return "validated", ""
        if example.get("code") not in PROBLEM_REQUESTS:
            return "unhandled", "JSON that is neither an export request nor a problem listed"
        return "validated", ""
    if block.lang in ("env", "dotenv"):
        return "validated", ""
    if block.lang == "http":
        message = parse_http(block.text)
        if message.path not in (None, "/v1/exports") or (message.path is None) != (
            "webhook-id" in message.headers
        ):
            return "unhandled", "an HTTP example that is neither POST /v1/exports nor a webhook"
        return (
            ("validated", "") if message.path is None or "notify" in message.body else ("run", "")
        )
    if block.lang == "toml":
        if "[connections." in block.text:
            # Loaded here; tests/e2e/test_connections.py exports through it (MariaDB, PG).
            return "validated", ""
        if "[[sql_sources]]" in block.text:
            return "run", ""
        if re.search(r"^engine = ", block.text, re.M):
            return "validated", ""
        return "unhandled", "TOML that is neither [[sql_sources]] nor a template manifest"
    return "unhandled", f"no handler for ```{block.lang}: give the block a language or declare it"


def test_every_block_is_handled() -> None:
    """A new example fails here until it runs, is checked, or is declared with a reason."""
    assert len(BLOCKS) > 40
    handled = {b.id: block_handling(b) for b in BLOCKS}
    problems = [f"{name}: {why}" for name, (how, why) in handled.items() if how == "unhandled"]
    assert not problems, "\n".join(problems)


def test_every_declared_pattern_is_used() -> None:
    """HANDLING keeps no row for an example that is gone (it would excuse a new one)."""
    commands = [one_line(c) for b in SHELL_BLOCKS for c in shell_commands(b)]
    langs = {f"```{b.lang}" for b in BLOCKS}
    unused = [
        pattern
        for pattern, _how, _why in HANDLING
        if pattern not in langs and not any(re.fullmatch(pattern, c) for c in commands)
    ]
    assert not unused, f"HANDLING rows no example needs: {unused}"


# -- the live server -------------------------------------------------------------------


def _seed(db: Database) -> None:
    with db.write() as conn:
        create_demo_tables(conn)
        for user, trades in (("bob", 1_500), ("alice", 200), ("carol", 200)):
            seed_trades(conn, user, trades)
        seed_goals_and_evaluations(conn, "bob")
        seed_goals_and_evaluations(conn, "carol")
        doc_host_app.seed(conn, "bob")
        # carol's plan keeps 50 rows: her exports of all her trades fail.
        tiny = replace(plan_for(conn, "free"), name="tiny", max_rows=50, max_active_jobs=10)
        save_plan(conn, tiny)


def _write_modules(folder: Path) -> tuple[list[str], list[str]]:
    """The docs' module blocks and the host application's modules, as files; the source
    and task modules to load."""
    files = {**doc_host_app.MODULES, **{str(b.module_path): b.text for b in PY_MODULES}}
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    sources = [f"{module_name(b)}:sources" for b in PY_MODULES if "def sources(" in b.text]
    tasks = [module_name(b) for b in PY_MODULES if "@task(" in b.text]
    return sources, tasks


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("docs")
    sources, tasks = _write_modules(tmp / "modules")
    config = tmp / "exportd.toml"
    # The sources on exportd's database; those on named connections (docs/connections.md)
    # need their databases: tests/e2e/test_connections.py runs them.
    config.write_text(
        "".join(
            b.text for b in BLOCKS if "[[sql_sources]]" in b.text and "[connections." not in b.text
        )
    )
    env = {
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(tmp / "modules"), str(ROOT), os.environ.get("PYTHONPATH")])
        ),
        "EXPORTD_SOURCE_MODULES": json.dumps(["exportd.demo.sources:demo_sources", *sources]),
        "EXPORTD_TASK_MODULES": json.dumps(tasks),
        "EXPORTD_CONFIG": str(config),
        "EXPORTD_WEBHOOK_ALLOW_PRIVATE": "true",  # the webhook example's receiver: loopback
    }
    with live_exportd(tmp, seed=_seed, env=env) as server:
        yield server


def client(live: Live, user: str = "bob", plan: str = "pro") -> httpx2.Client:
    token = live.token(user, plan=plan)
    return httpx2.Client(base_url=live.url, headers={"Authorization": f"Bearer {token}"})


def finished(api: httpx2.Client, export_id: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        export: dict[str, Any] = api.get(f"/v1/exports/{export_id}").json()
        if export["status"] in FINAL:
            return export
        assert time.monotonic() < deadline, f"still {export['status']}: {export}"
        time.sleep(0.1)


def create(api: httpx2.Client, body: dict[str, Any], *, wait: bool = True) -> dict[str, Any]:
    answer = api.post("/v1/exports", json=body)
    assert answer.status_code == 202, answer.text
    export: dict[str, Any] = answer.json()
    return finished(api, export["id"]) if wait else export


# -- shell ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shell_variables(live: Live) -> dict[str, str]:
    """carol (plan tiny): one completed export and two failed ones, and a list cursor."""
    with client(live, "carol", "tiny") as api:
        completed = create(api, {"source": "trades", "format": "csv", "params": {"limit": 5}})
        failed = [create(api, {"source": "trades", "format": "csv"}) for _ in range(2)]
        assert completed["status"] == "completed"
        assert {f["status"] for f in failed} == {"failed"}
        page = api.get("/v1/exports", params={"status": "failed", "format": "csv", "limit": 1})
        return {
            "TOKEN": live.token("carol", plan="tiny"),
            "completed": completed["id"],
            "failed": failed[0]["id"],
            "cursor": page.json()["next_cursor"],
        }


def _output_checks(block: Block, folder: Path, stdout: str) -> None:
    """What a block's commands must leave behind, beyond exiting 0."""
    if "--out aapl.csv" in block.text:  # the quoted rename: the header says P&L
        with (folder / "aapl.csv").open() as saved:
            assert next(csv.reader(saved)) == ["Symbol", "P&L"]
    if "curl -OJ" in block.text:  # the file, named by Content-Disposition
        assert [p.name for p in folder.iterdir() if p.suffix == ".csv"], stdout
    if "exportd verify" in block.text:  # every download it checks is whole and signed
        assert stdout.count("verified: ") == block.text.count("exportd verify"), stdout
    if "exportd token" in block.text and "$(" not in block.text:
        assert re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+\n", stdout), stdout


def _run_in_bash(
    block: Block, script: list[str], live: Live, variables: dict[str, str], folder: Path
) -> None:
    shims = folder / "bin"
    shims.mkdir()
    (shims / "exportd").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m exportd "$@"\n')
    (shims / "exportd").chmod(0o755)
    prelude = [
        "set -euo pipefail",
        # Every curl reports its status on stderr, where the test reads it.
        "curl() { command curl --show-error --write-out"
        " '%{stderr}curl-status %{http_code} %{method} %{url_effective}\\n' \"$@\"; }",
    ]
    wanted = {
        name: key
        for marker, names in SHELL_VARIABLES.items()
        if marker in block.text
        for name, key in names.items()
    }
    env = {
        **live.env,
        "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}",
        "EXPORTD_URL": live.url,
        "EXPORTD_TOKEN": live.token("bob"),
        "COLUMNS": "200",
        "TOKEN": variables["TOKEN"],
        **{name: variables[key] for name, key in wanted.items()},
    }
    host = live.url.removeprefix("http://")
    source = "\n".join([*prelude, *script]).replace("localhost:8000", host)
    done = subprocess.run(
        ["bash", "-c", source], cwd=folder, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    for status, method, url in re.findall(r"curl-status (\d+) (\S+) (\S+)", done.stderr):
        path = httpx2.URL(url).path
        allowed = {
            code
            for (m, pattern), codes in EXPECTED_REFUSALS.items()
            if m == method and re.fullmatch(pattern, path)
            for code in codes
        }
        assert status.startswith("2") or int(status) in allowed, f"{method} {path}: {status}"
    _output_checks(block, folder, done.stdout)


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=ids)
def test_shell_block(
    block: Block, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    check_names(block.text)
    script, exported, otel = [], [], []
    for command in shell_commands(block):
        how, why = handling(command)
        line = one_line(command)
        script.append(command if how == "run" else ":")
        if how == "parse":
            parse_cli([PLACEHOLDERS.get(a, a) for a in shlex.split(line)[1:]])
        elif how == "settings":
            exported.append(line)
        elif how == "otel":
            otel.append(line)
        elif how == "pip":
            check_pip(line)
        elif how == "synopsis":
            check_synopsis(line)
        elif how == "make":
            env = dict(re.findall(r"(BENCH_\w+)=(\S+)", line))
            target = line.split("make ", 1)[1]
            dry = subprocess.run(
                ["make", "-n", *target.split()],
                cwd=ROOT,
                env={**os.environ, **env},
                capture_output=True,
                text=True,
            )
            assert dry.returncode == 0, dry.stderr
        assert how != "unhandled", why
    if exported:
        check_settings(exported, monkeypatch)
    if otel:
        check_otel(otel, monkeypatch)
    if block_handling(block)[0] == "run":
        live = request.getfixturevalue("live")
        variables = request.getfixturevalue("shell_variables")
        _run_in_bash(block, script, live, variables, tmp_path)


# -- Python ----------------------------------------------------------------------------


@pytest.mark.parametrize("block", PY_SCRIPTS, ids=ids)
def test_python_script(
    block: Block, live: Live, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A script runs as written (the reader's `token` set, the server's address)."""
    monkeypatch.chdir(tmp_path)
    if PACKAGE in block.text:  # docs/clients.md: the client its bash block generates
        python_client(openapi_document(), tmp_path / "generated")
    namespace: dict[str, Any] = {"__name__": "__main__", "token": live.token("bob")}
    source = block.text.replace("http://localhost:8000", live.url)
    try:
        exec(compile(source, block.id, "exec"), namespace)
    finally:
        for value in namespace.values():
            if isinstance(value, httpx2.Client):
                value.close()  # the examples leave theirs open, as a script may
    export = namespace.get("export")
    if isinstance(export, dict):  # an example that follows an export sees it end well
        assert export["status"] == "completed", export
        for saved in tmp_path.glob("*.parquet"):
            assert pq.read_table(saved).num_rows == export["result"]["row_count"] > 0


@pytest.fixture
def reader_modules(live: Live, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The modules the live server loaded, importable here too."""
    monkeypatch.syspath_prepend(str(live.tmp / "modules"))
    yield
    for name in [n for n in sys.modules if n.split(".")[0] in ("myapp", "mypackage")]:
        del sys.modules[name]


@pytest.mark.parametrize("block", [b for b in PY_MODULES if "def sources(" in b.text], ids=ids)
def test_plugin_sources_export(block: Block, live: Live, reader_modules: None) -> None:
    """The live server loaded the module's sources: each exports the host app's data."""
    import importlib

    found = importlib.import_module(module_name(block)).sources()
    assert found
    with client(live) as api:
        for source in found:
            rows = source.kind == "rows"
            body = {"source": source.name, "format": "csv" if rows else "html", "params": {}}
            if not rows:
                body["template"] = "modern"
            export = create(api, body)
            assert export["status"] == "completed", export["error"]
            assert export["result"]["size"] > 0
            assert not rows or export["result"]["row_count"] > 0


@pytest.mark.parametrize("block", [b for b in PY_MODULES if "@task(" in b.text], ids=ids)
def test_task_module_runs_in_the_worker(block: Block, live: Live) -> None:
    """The live worker imported the module (EXPORTD_TASK_MODULES): its tasks complete,
    with work to do and without."""
    db = live.database()
    store = JobStore.from_settings(load_settings(database_url=live.database_url))
    names = re.findall(r'^@task\("([\w.]+)"', block.text, re.M)
    with db.write() as conn:
        jobs = [
            store.enqueue(conn, NewJob(task=name, payload=payload)).job.id
            for name in names
            for payload in ({"batches": 3}, {})
        ]
    deadline = time.monotonic() + 30
    for job_id in jobs:
        while True:
            with db.read() as conn:
                job = store.get(conn, job_id)
            if job.state not in (JobState.QUEUED, JobState.RUNNING) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert job.state is JobState.COMPLETED, job.error
    db.dispose()


# -- JavaScript ------------------------------------------------------------------------


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang == "js"], ids=ids)
def test_javascript_follows_an_export(block: Block, live: Live, tmp_path: Path) -> None:
    """The example in Node with the npm package it names, on a fresh export: it sees the
    export complete, and the stream's end closes it for good."""
    require_node_package("eventsource")
    with client(live) as api:
        export = create(api, {"source": "trades", "format": "csv"}, wait=False)
    script = "\n".join(
        [
            "const [base, token, id] = process.argv.slice(2);",
            "let shown = null;",
            "const render = (value) => { shown = value; };",
            block.text,
            "const started = Date.now();",
            "const timer = setInterval(() => {",
            "  const closed = events.readyState === EventSource.CLOSED;",
            "  if (closed || Date.now() - started > 30000) {",
            "    clearInterval(timer); events.close();",
            "    console.log(JSON.stringify({ closed, status: shown && shown.status }));",
            "  }",
            "}, 50);",
        ]
    )
    (tmp_path / "node_modules").symlink_to(JS / "node_modules")
    (tmp_path / "example.mjs").write_text(script)
    done = subprocess.run(
        ["node", "example.mjs", live.url, live.token("bob"), export["id"]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"closed": True, "status": "completed"}


# -- JSON, HTTP and configuration ---------------------------------------------------------------


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang == "json"], ids=ids)
def test_json_example(block: Block, live: Live) -> None:
    """An export request is made and completes; a problem is what the API answers to the
    request that makes it, but for the request id; a manifest is one exportd reads."""
    example = json.loads(block.text)
    if "exportd_manifest" in example:
        manifest = parse(block.text.encode())  # the reader exportd verify uses, all checks
        assert manifest.rows == example["rows"]
        return
    if "code" not in example:
        with client(live) as api:
            export = create(api, example)
        assert export["status"] == "completed", export["error"]
        return
    method, body = PROBLEM_REQUESTS[example["code"]]
    with client(live) as api:
        answer = api.request(method, example["instance"], json=body)
    real = answer.json()
    assert answer.headers["content-type"] == "application/problem+json"
    assert real.keys() == example.keys()
    assert {**real, "request_id": None} == {**example, "request_id": None}


@pytest.fixture(scope="module")
def document_id(live: Live) -> str:
    from exportd.demo.resumes import RESUMES

    with client(live) as api:
        answer = api.post("/v1/documents", json={"title": "CV", "content": RESUMES["bob"]})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang == "http"], ids=ids)
def test_http_example(block: Block, request: pytest.FixtureRequest) -> None:
    """A request to create an export is valid, and made when it names no outside host
    (a notify example's email and webhook would leave this machine); a webhook exportd
    sends has the headers and the body a real one has."""
    from exportd.api.schemas import ExportCreate

    message = parse_http(block.text)
    live: Live = request.getfixturevalue("live")
    if message.path is None:
        _compare_with_a_real_webhook(message, live)
        return
    assert message.headers.get("content-type") == "application/json"
    ExportCreate.model_validate(message.body)
    if "notify" not in message.body:
        params = message.body.get("params", {})
        if params.get("document_id") == "…":  # the reader's own document
            params["document_id"] = request.getfixturevalue("document_id")
        with client(live) as api:
            export = create(api, message.body)
        assert export["status"] == "completed", export["error"]


def _compare_with_a_real_webhook(example: Any, live: Live) -> None:
    receiver = Receiver()
    try:
        with client(live) as api:
            create(
                api,
                {
                    "source": "trades",
                    "format": "csv",
                    "params": {"limit": 3},
                    "notify": {"webhook_url": receiver.url},
                },
            )
        real = receiver.wait()[0]
    finally:
        receiver.close()
    assert example.headers.keys() <= real.headers.keys()
    assert example.headers["webhook-signature"].startswith("v1,")
    body = json.loads(real.body)
    assert shape(example.body) == shape(body)
    assert example.body["type"] == body["type"]


CONFIG_LANGS = ("toml", "env", "dotenv")


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang in CONFIG_LANGS], ids=ids)
def test_config_example(
    block: Block, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NAME=value settings load with exportd's loader; [[sql_sources]] load and export;
    a template manifest loads and agrees with the built-in template of its name."""
    if block.lang != "toml":
        check_names(block.text)
        lines = [line for line in block.text.splitlines() if line.strip() and line[0] != "#"]
        check_settings(lines, monkeypatch)
        return
    if "[connections." in block.text:
        _connections_load(block, tmp_path, monkeypatch)
        return
    if "[[sql_sources]]" in block.text:
        _sql_sources_load_and_export(block, request.getfixturevalue("live"), tmp_path, monkeypatch)
        return
    (tmp_path / "manifest.toml").write_text(block.text)
    manifest = load_template_from(tmp_path)
    builtin = builtin_catalogue().get(manifest.name)
    assert builtin is not None, f"no built-in template {manifest.name!r}"
    shown = manifest.model_dump(exclude_unset=True)
    assert shown == {k: v for k, v in builtin.manifest.model_dump().items() if k in shown}


def load_template_from(folder: Path) -> Any:
    entry = tomllib.loads((folder / "manifest.toml").read_text())["entry"]
    (folder / entry).write_text("")
    return load_template(folder).manifest


def _connections_load(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Named connections and the sources on them load (the passwords set, as the page
    says); tests/e2e/test_connections.py runs the same file against real databases."""
    from exportd.sources.loading import load_sources

    (tmp_path / "exportd.toml").write_text(block.text)
    monkeypatch.setenv("EXPORTD_CONFIG", str(tmp_path / "exportd.toml"))
    parsed = tomllib.loads(block.text)
    for spec in parsed["connections"].values():
        if "password_env" in spec:
            monkeypatch.setenv(spec["password_env"], "example-password")
    settings = load_settings()
    assert sorted(settings.connections) == sorted(parsed["connections"])
    registry = load_sources([], settings.sql_sources, settings.connections)
    for spec in parsed.get("sql_sources", []):
        source = registry.get(spec["name"])
        assert source is not None
        assert source.connection == spec["connection"]


def _sql_sources_load_and_export(
    block: Block, live: Live, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exportd.sources.loading import load_sources

    (tmp_path / "exportd.toml").write_text(block.text)
    monkeypatch.setenv("EXPORTD_CONFIG", str(tmp_path / "exportd.toml"))
    registry = load_sources(sql_specs=load_settings().sql_sources)
    with client(live) as api:
        catalogue = {s["name"]: s for s in api.get("/v1/sources").json()}
        for spec in tomllib.loads(block.text)["sql_sources"]:
            assert registry.get(spec["name"]) is not None
            schema = catalogue[spec["name"]]["params_schema"]
            params = {
                p: SAMPLES[schema["properties"][p]["type"]] for p in schema.get("required", [])
            }
            export = create(api, {"source": spec["name"], "format": "csv", "params": params})
            assert export["status"] == "completed", export["error"]
            assert export["result"]["row_count"] > 0
