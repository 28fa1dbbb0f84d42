"""Checks for doc examples that cannot simply run: a command line parsed by the real CLI
without running it, settings loaded by exportd's loader, a pip requirement's extras,
an HTTP message split into its parts, two JSON documents of the same shape."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
import typer

from exportd.config import ENV_PREFIX, Settings, load_settings
from tests.support.doc_blocks import ROOT

# Names a reader sets for the command-line client, not settings of the service.
CLIENT_VARIABLES = {"EXPORTD_URL", "EXPORTD_TOKEN", "EXPORTD_CONFIG"}
# What a secret written `…` stands for when the settings are loaded (production wants
# 32 bytes at least).
SECRET_STAND_IN = "s" * 48


@cache
def _dry_cli() -> Any:
    """exportd's command tree with every command's function replaced by a no-op: parsing
    (options, types, ranges) is the real one, nothing runs."""
    from exportd.cli import command_line

    root = typer.main.get_command(command_line())

    def stub(*args: object, **kwargs: object) -> None:
        return None

    def walk(command: Any) -> None:
        if hasattr(command, "commands"):
            for sub in command.commands.values():
                walk(sub)
        else:
            command.callback = stub

    walk(root)
    return root


def parse_cli(args: list[str]) -> None:
    """``exportd ARGS`` as the CLI reads it; fails the test with the CLI's own message."""
    try:
        _dry_cli().main(args, prog_name="exportd", standalone_mode=False)
    except Exception as exc:  # the CLI's usage errors, whatever their class
        pytest.fail(f"exportd {shlex.join(args)}: {getattr(exc, 'format_message', exc.__str__)()}")


def check_synopsis(line: str) -> None:
    """``exportd GROUP a|b|c``: each alternative is a command of that group."""
    _program, group, alternatives = line.split(" ", 2)
    commands = _dry_cli().commands[group].commands
    missing = [name for name in alternatives.split("|") if name not in commands]
    assert not missing, f"{line}: no such command {missing}"


def setting_names() -> set[str]:
    return {ENV_PREFIX + name.upper() for name in Settings.model_fields}


def check_names(text: str) -> None:
    """Every EXPORTD_… a block names (comments too) is a setting or a client variable."""
    named = set(re.findall(r"\bEXPORTD_[A-Z0-9_]+\b", text))
    unknown = named - setting_names() - CLIENT_VARIABLES
    assert not unknown, f"no such setting: {sorted(unknown)}"


def check_settings(lines: list[str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """``export EXPORTD_X=value`` lines loaded together by exportd's own loader, in an
    environment without any other EXPORTD_ variable."""
    import os

    for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)
    for line in lines:
        name, _, value = shlex.split(line.removeprefix("export "))[0].partition("=")
        monkeypatch.setenv(name, SECRET_STAND_IN if value == "…" else value)
    return load_settings()


def check_otel(lines: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """``export OTEL_X=value`` lines: names the OpenTelemetry SDK reads, from which
    exportd's tracing is built (its exporter made, nothing sent)."""
    from opentelemetry import environment_variables as api_names
    from opentelemetry.sdk import environment_variables as sdk_names

    from exportd.tracing._otel import from_settings

    known = set(dir(api_names)) | set(dir(sdk_names))
    for line in lines:
        name, _, value = shlex.split(line.removeprefix("export "))[0].partition("=")
        assert name in known, f"{name} is no OpenTelemetry SDK variable"
        monkeypatch.setenv(name, value)
    built = from_settings(load_settings(otel_enabled=True))
    try:
        service = built.provider.resource.attributes["service.name"]
        for line in lines:
            if line.startswith("export OTEL_SERVICE_NAME="):
                assert service == line.partition("=")[2]
    finally:
        built.provider.shutdown()


def check_pip(line: str) -> None:
    """``pip install 'exportd[a,b]'``: exportd, with extras pyproject.toml declares."""
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for argument in shlex.split(line)[2:]:
        requirement = Requirement(argument)
        assert requirement.name == project["name"], argument
        missing = requirement.extras - set(project["optional-dependencies"])
        assert not missing, f"{argument}: pyproject.toml has no extra {sorted(missing)}"


@dataclass(frozen=True)
class HttpMessage:
    """An ``http`` block: a request line (or none, for a message exportd sends), headers,
    a blank line, a JSON body. A header's ``(…)`` after its value is the doc's comment."""

    method: str | None
    path: str | None
    headers: dict[str, str]
    body: Any


def parse_http(text: str) -> HttpMessage:
    head, blank, body = text.partition("\n\n")
    if not blank:
        raise ValueError("an HTTP message has a blank line between its headers and its body")
    lines = head.splitlines()
    request = re.fullmatch(r"(GET|POST|PUT|PATCH|DELETE) (/\S*)", lines[0])
    if request:
        lines = lines[1:]
    headers = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not re.fullmatch(r"[A-Za-z0-9-]+", name):
            raise ValueError(f"not a header: {line!r}")
        headers[name.lower()] = re.sub(r"\s+\(.*\)$", "", value.strip())
    return HttpMessage(
        request.group(1) if request else None,
        request.group(2) if request else None,
        headers,
        json.loads(body),
    )


def shape(value: Any) -> Any:
    """A JSON document's keys, nested (what a doc example must show of a real one)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return None
