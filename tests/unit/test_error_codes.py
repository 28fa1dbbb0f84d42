"""One registry of error codes (``exportd.error_codes``): every code raised under ``src/``
is in it, the API's table is its API rows, and docs/api.md's section is generated from it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from exportd.api.problem_codes import CODES
from exportd.error_codes import REGISTRY, Where, where
from exportd.error_codes_doc import BEGIN, END, replaced, section

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "exportd"
# Calls whose ``code=`` is no error code: an event's (a retry's cause: "manual", "lease").
NOT_ERRORS = {"record"}
# Calls whose first argument is the code.
CODE_FIRST = {"ErrorInfo", "PydanticCustomError", "Misfit"}
# Codes made where no call names them, each with the file that makes it.
INDIRECT = {
    "method_not_allowed": "api/problems.py",  # Starlette's 405, by status (HTTP_CODES)
    "not_found": "api/problems.py",  # Starlette's 404, by status (HTTP_CODES)
    "range_invalid": "api/file_response.py",  # the file response's own refusals, by status
    "range_not_satisfiable": "api/file_response.py",
    "preview_too_large": "documents/preview_pool.py",  # a preview child's reply
    "host_refused": "web/routes.py",  # the sign-in page's (words, code)
}


def _constants(trees: dict[Path, ast.Module]) -> dict[str, str]:
    """Module-level ``NAME = "text"`` anywhere in src, to read ``code=NAME``."""
    return {
        target.id: node.value.value
        for tree in trees.values()
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def _values(node: ast.expr, constants: dict[str, str]) -> Iterator[str | None]:
    """The codes an expression may give; None: one the scan cannot read."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.IfExp):
        yield from _values(node.body, constants)
        yield from _values(node.orelse, constants)
    elif isinstance(node, ast.Name) and node.id.isupper():
        yield constants.get(node.id)
    elif isinstance(node, ast.Name | ast.Attribute | ast.Subscript):
        return  # a code passed on (``code=exc.code``): registered where it was made
    else:
        yield None


def _name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


@cache
def used_codes() -> dict[str, list[str]]:
    """Every code a raise, a class or a failure record names in src: code -> places."""
    trees = {path: ast.parse(path.read_text()) for path in sorted(SRC.rglob("*.py"))}
    constants = _constants(trees)
    found: dict[str, list[str]] = {}

    def add(node: ast.expr, path: Path, line: int) -> None:
        for value in _values(node, constants):
            where = f"{path.relative_to(ROOT)}:{line}"
            found.setdefault(value if value is not None else f"<unreadable> {where}", [])
            found[value if value is not None else f"<unreadable> {where}"].append(where)

    for path, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node) not in NOT_ERRORS:
                for keyword in node.keywords:
                    if keyword.arg == "code":
                        add(keyword.value, path, node.lineno)
                if _name(node) in CODE_FIRST and node.args:
                    add(node.args[0], path, node.lineno)
            elif isinstance(node, ast.ClassDef):
                for statement in node.body:
                    if isinstance(statement, ast.Assign) and [
                        getattr(t, "id", None) for t in statement.targets
                    ] == ["code"]:
                        add(statement.value, path, statement.lineno)
    return found


def test_every_code_used_in_src_is_registered() -> None:
    unregistered = {code: places for code, places in used_codes().items() if code not in REGISTRY}
    assert not unregistered, "add these to src/exportd/error_codes.py (REGISTRY)"


def test_the_scan_finds_codes_of_every_kind() -> None:
    """The scan reads literals, constants, both arms of a conditional, class defaults and
    failure records: were it blind, the test above would pass on nothing."""
    used = used_codes()
    for code in (
        "export_not_found",  # code="…"
        "text_invalid",  # code=CODE
        "date_range_invalid",  # code=DATE_RANGE_INVALID if … else "params_invalid"
        "params_invalid",
        "document_too_large",  # code="document_too_large" if … else "document_invalid"
        "job_not_found",  # a class's own
        "worker_crashed",  # ErrorInfo("worker_crashed", …)
        "locale_unknown",  # PydanticCustomError("locale_unknown", …)
    ):
        assert code in used, code
    assert "manual" not in used  # an event's cause, not an error


def test_every_registered_code_is_used() -> None:
    """A code no longer made anywhere is a stale row."""
    for code, made_in in INDIRECT.items():
        assert f'"{code}"' in (SRC / made_in).read_text(), (code, made_in)
    stale = set(REGISTRY) - set(used_codes()) - set(INDIRECT)
    assert not stale


def test_the_apis_table_is_the_registrys_api_rows() -> None:
    api = where(Where.API)
    assert list(CODES) == list(api)
    assert all((CODES[c].status, CODES[c].when) == (api[c].status, api[c].when) for c in api)
    assert all(code.status is not None for code in api.values())


@pytest.mark.parametrize("kind", list(Where))
def test_every_kind_has_codes_and_every_code_says_when(kind: Where) -> None:
    codes = where(kind)
    assert codes
    assert all(code.when and "|" not in code.when for code in codes.values())


def test_docs_api_md_error_section_is_the_registrys() -> None:
    page = (ROOT / "docs" / "api.md").read_text()
    assert (page.count(BEGIN), page.count(END)) == (1, 1)
    assert page == replaced(page), (
        "docs/api.md's error codes are stale: python -m exportd.error_codes_doc docs/api.md"
    )
    listed = section()
    assert all(f"| `{code}` |" in listed for code in REGISTRY)
