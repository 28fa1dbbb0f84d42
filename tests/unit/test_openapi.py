"""The OpenAPI document a generated client is built from (issue 23): every answer an
operation can give is documented, problems as problem+json with the codes from the one
table in ``exportd.api.problem_codes``, and security as each route really checks it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from exportd.api.openapi import documented_codes
from exportd.api.problem_codes import CODES, OWN, UNAUTHENTICATED, codes_for
from exportd.api.problems import PROBLEM_JSON
from tests.support.openapi import app_document

ROOT = Path(__file__).resolve().parents[2]
# No credential at all: the link is the credential; the probes.
PUBLIC = {
    "download_with_link",
    "get_manifest_keys",
    "get_metrics",
    "get_health",
    "get_readiness",
}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return app_document(tmp_path_factory.mktemp("openapi"))


def operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for ops in document["paths"].values() for op in ops.values()]


def test_fastapis_validation_error_is_gone(document: dict[str, Any]) -> None:
    text = repr(document)
    assert "HTTPValidationError" not in text
    assert "ValidationError" not in document["components"]["schemas"]


def test_every_error_answer_is_a_problem_and_nothing_else(document: dict[str, Any]) -> None:
    for operation in operations(document):
        for status, response in operation["responses"].items():
            # A probe's 503 is its report, which says which check failed: not an error.
            if int(status) >= 400 and operation["operationId"] != "get_readiness":
                assert set(response["content"]) == {PROBLEM_JSON}, (
                    operation["operationId"],
                    status,
                )
                schema = response["content"][PROBLEM_JSON]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) >= {"type", "title", "status", "code", "detail", "instance"}
    assert "errors" in problem["properties"]


def test_each_operation_lists_the_codes_the_table_gives_it(document: dict[str, Any]) -> None:
    seen = set()
    for operation in operations(document):
        name = operation["operationId"]
        seen.add(name)
        documented = documented_codes(operation)
        scope = operation.get("x-scope")
        params = operation.get("parameters", [])
        expected = codes_for(
            name,
            scoped=scope,
            has_params=any(p["in"] != "path" or len(p["schema"]) > 2 for p in params),
            has_body="requestBody" in operation,
        )
        assert {c for codes in documented.values() for c in codes} == set(expected), name
        for status, codes in documented.items():
            assert {CODES[code].status for code in codes} == {status}, (name, status)
        for code in OWN[name]:
            assert code in documented[CODES[code].status], (name, code)
    assert seen == set(OWN), "an operation is missing from problem_codes.OWN, or OWN is stale"


def test_each_code_is_an_example_of_its_own_problem(document: dict[str, Any]) -> None:
    examples = document["components"]["examples"]
    for code, example in examples.items():
        value = example["value"]
        assert (value["code"], value["status"]) == (code, CODES[code].status)


def test_security_is_declared_where_a_route_checks_it_and_empty_where_none(
    document: dict[str, Any],
) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["apiKey"] == {**schemes["apiKey"], "in": "header", "name": "X-API-Key"}
    for operation in operations(document):
        name = operation["operationId"]
        if name in PUBLIC:
            assert operation["security"] == [], name
            assert not set(UNAUTHENTICATED) & {
                c for cs in documented_codes(operation).values() for c in cs
            }
        else:
            assert operation["security"] == [{"bearerAuth": []}, {"apiKey": []}], name
            assert operation["x-scope"] in operation["description"]


def test_operation_ids_are_readable_function_names(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for operation in operations(document)]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", i) for i in ids), ids
    assert {"create_export", "get_export", "list_exports", "download_with_link"} <= set(ids)


def test_the_document_says_who_made_it_and_under_which_licence(document: dict[str, Any]) -> None:
    licence = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    assert document["info"]["license"]["identifier"] == licence
    assert document["info"]["description"]
    assert document["servers"][0]["url"] == "http://127.0.0.1:8000"
    tags = {tag["name"] for tag in document["tags"]}
    assert {t for op in operations(document) for t in op["tags"]} <= tags


def test_a_documents_content_is_documented_as_the_resume_it_must_be(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    for body in ("DocumentIn", "DocumentUpdate"):
        given = schemas[body]["properties"]
        assert given["content"]["$ref"] == "#/components/schemas/Resume"
        assert given["jsonresume"]["$ref"] == "#/components/schemas/JsonResume"
        # Exactly one of them, in the schema as in the answers.
        assert schemas[body]["oneOf"] == [{"required": ["content"]}, {"required": ["jsonresume"]}]
    assert "profile" in schemas["Resume"]["required"]
    # The JSON Resume as its schema has it: nothing more at the top, more inside its objects.
    assert schemas["JsonResume"]["additionalProperties"] is False
    assert schemas["JsonResumeWork"]["additionalProperties"] is True
    assert "startDate" in schemas["JsonResumeWork"]["properties"]
    result = schemas["ExportOut"]["properties"]["result"]
    assert {"$ref": "#/components/schemas/ExportResult"} in result["anyOf"]
    assert {"size", "sha256", "row_count"} <= set(schemas["ExportResult"]["required"])
