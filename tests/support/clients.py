"""Clients generated from exportd's OpenAPI document the way their users generate them,
at test time, so they always match the spec: openapi-python-client for Python,
openapi-typescript (types for openapi-fetch) for TypeScript.  tsc checks scripts against
the generated types.

``python -m tests.support.clients`` rewrites the TypeScript kit's committed types
(clients/typescript/schema.d.ts) from the current spec (``make clients``).
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from exportd.api.app import create_app
from exportd.config import load_settings
from exportd.db import create_database
from tests.support.node import JS

ROOT = Path(__file__).resolve().parents[2]
KIT = ROOT / "clients" / "typescript"
KIT_TYPES = KIT / "schema.d.ts"
PACKAGE = "exportd_api_client"
_TSC = JS / "node_modules" / "typescript" / "bin" / "tsc"
_OPENAPI_TS = JS / "node_modules" / "openapi-typescript" / "bin" / "cli.js"


def openapi_document() -> dict[str, Any]:
    """The document the app serves at /openapi.json."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            database_url=f"sqlite:///{tmp}/spec.db", storage_url=f"file://{tmp}/files"
        )
        db = create_database(settings)
        try:
            return create_app(settings, db=db).openapi()
        finally:
            db.dispose()


def _write_spec(spec: dict[str, Any], where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    path = where / "openapi.json"
    path.write_text(json.dumps(spec, indent=2))
    return path


def typescript_types(spec: dict[str, Any], out: Path) -> Path:
    """openapi-typescript's ``paths``/``components`` types for ``spec``, written to ``out``."""
    source = _write_spec(spec, out.parent)
    _run(["node", str(_OPENAPI_TS), str(source), "--output", str(out)], what="openapi-typescript")
    return out


@dataclass
class PythonClient:
    """A package openapi-python-client generated, and the spec it came from."""

    package: ModuleType
    spec: dict[str, Any]

    def operation(self, method: str, path: str) -> ModuleType:
        """The generated module of ``METHOD path``, found as the generator names it (by
        tag and operation id), so the tests follow the spec's names wherever they go."""
        from openapi_python_client.strings import PythonIdentifier

        operation = self.spec["paths"][path][method.lower()]
        tag = PythonIdentifier((operation.get("tags") or ["default"])[0], prefix="tag")
        name = PythonIdentifier(operation["operationId"], prefix="field_")
        return importlib.import_module(f"{self.package.__name__}.api.{tag}.{name}")


def python_client(spec: dict[str, Any], where: Path) -> PythonClient:
    """Generate a client package for ``spec`` under ``where`` and import it."""
    source = _write_spec(spec, where)
    config = where / "generator.json"
    config.write_text(json.dumps({"post_hooks": []}))  # no ruff run over the output
    generator = Path(sys.executable).with_name("openapi-python-client")
    _run(
        [str(generator), "generate", "--path", str(source), "--output-path",
         str(where / PACKAGE), "--meta", "none", "--config", str(config)],
        what="openapi-python-client",
    )  # fmt: skip
    sys.path.insert(0, str(where))
    try:
        return PythonClient(importlib.import_module(PACKAGE), spec)
    finally:
        sys.path.remove(str(where))


@dataclass
class TypeErrors:
    """What tsc reported, by file and line."""

    lines: list[tuple[Path, int, str]]

    def within(self, path: Path, lines: range) -> list[str]:
        return self._where(path, lambda line: line in lines)

    def outside(self, path: Path, lines: range) -> list[str]:
        """Every error but those on ``lines`` of ``path`` (in any file tsc read)."""
        return [
            f"{where.name}:{line}: {text}"
            for where, line, text in self.lines
            if where != path or line not in lines
        ]

    def _where(self, path: Path, keep: Callable[[int], bool]) -> list[str]:
        return [
            f"{where.name}:{line}: {text}"
            for where, line, text in self.lines
            if where == path and keep(line)
        ]


_TSC_ERROR = re.compile(r"^(?P<file>[^(\n]+)\((?P<line>\d+),\d+\): error (?P<text>.+)$", re.M)


def type_check(project: Path) -> TypeErrors:
    """``tsc --noEmit -p project``: its errors (a run that fails otherwise is an error)."""
    done = subprocess.run(
        ["node", str(_TSC), "--noEmit", "--pretty", "false", "-p", str(project)],
        cwd=project.parent if project.is_file() else project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = [
        ((project.parent / m["file"]).resolve(), int(m["line"]), m["text"])
        for m in _TSC_ERROR.finditer(done.stdout)
    ]
    assert found or done.returncode == 0, f"tsc failed: {done.stdout}{done.stderr}"
    return TypeErrors(found)


def marked_lines(script: Path, marker: str) -> range:
    """The lines between ``// <marker>`` and ``// </marker>`` in ``script``."""
    lines = script.read_text().splitlines()
    start = lines.index(f"// <{marker}>") + 1
    return range(start + 1, lines.index(f"// </{marker}>") + 1)


def _run(command: list[str], *, what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{what} failed:\n{done.stdout}\n{done.stderr}"


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        generated = typescript_types(openapi_document(), Path(tmp) / "schema.d.ts")
        KIT_TYPES.write_text(generated.read_text())
    print(f"wrote {KIT_TYPES.relative_to(ROOT)}")
