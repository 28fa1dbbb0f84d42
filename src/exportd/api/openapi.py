"""The OpenAPI document, written so a generated client can trust it.

FastAPI writes the operations from the routes; this module adds what it cannot know:
each operation's problem+json answers and the codes they may carry (from
``problem_codes``, never FastAPI's ``HTTPValidationError``), ``security: []`` on public
operations, readable operation ids (the route function's name), and the document's
info, servers and tags.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI

import exportd
from exportd.api.problem_codes import CODES, codes_for
from exportd.api.problems import PROBLEM_JSON
from exportd.api.schemas import Problem
from exportd.config import Settings

DESCRIPTION = """\
Asynchronous exports: ask for an export, follow it (polling with `ETag`, server-sent
events, webhooks, email), download its file through a signed, expiring, one-time link.

Every error is `application/problem+json` (RFC 9457) with a stable `code`; each
operation lists the codes it may answer. A user sends the JWT the host application
minted (`Authorization: Bearer …`); a service sends an API key (`X-API-Key` or
`Authorization: Bearer exk_…`) that holds the operation's scope.
"""

TAGS = [
    {"name": "exports", "description": "Ask for exports, follow them, cancel, retry, delete."},
    {"name": "downloads", "description": "The file of an export: by the owner, or by a link."},
    {"name": "deliveries", "description": "Emails and webhooks sent when an export ends."},
    {"name": "schedules", "description": "Recurring exports: a cron expression or an interval."},
    {
        "name": "destinations",
        "description": "Your own storage (S3, SFTP) that exports are delivered to.",
    },
    {"name": "catalogue", "description": "What can be exported, how, and how much is left."},
    {"name": "documents", "description": "The resume store the `resume` source reads."},
    {"name": "admin", "description": "Plans, bulk exports and cleanup (admin only)."},
    {"name": "ops", "description": "Probes, Prometheus metrics and operators' reports."},
]

_PROBLEM_REF = "#/components/schemas/Problem"
_EXAMPLES = "#/components/examples/"
# Headers some problems carry, by status (components/headers describes them).
_HEADERS = {401: "WWW-Authenticate", 416: "Content-Range", 429: "Retry-After", 503: "Retry-After"}


def app_metadata(settings: Settings) -> dict[str, Any]:
    """What ``FastAPI(...)`` takes for the document's info, servers and tags (the
    operation ids come with ``routers.route_options``)."""
    return {
        "title": "exportd",
        "version": exportd.__version__,
        "description": DESCRIPTION,
        "license_info": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        "contact": {"name": "exportd", "url": "https://exportd.dev"},
        "servers": [{"url": settings.public_url.rstrip("/"), "description": "EXPORTD_PUBLIC_URL"}],
        "openapi_tags": TAGS,
    }


def install(app: FastAPI) -> None:
    """Serve the document FastAPI writes, completed as the module docstring says."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            complete(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# What the server makes ids of (uuid4().hex): said in the document so that a client or a
# fuzzer never takes a sibling path's word for an id (`/v1/exports/failed` is a list).
ID_PATTERNS = {"export_id": "^[0-9a-f]{32}$"}


def complete(document: dict[str, Any]) -> None:
    """Each operation's problems and security, read from what FastAPI wrote of it: its
    security requirements (the scope), its parameters and its body."""
    for operations in document["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] in ID_PATTERNS:
                    parameter["schema"]["pattern"] = ID_PATTERNS[parameter["name"]]
            scope = _scope(operation)
            codes = codes_for(
                operation["operationId"],
                scoped=scope,
                has_params=any(_validates(p) for p in operation.get("parameters", [])),
                has_body="requestBody" in operation,
            )
            # FastAPI's own 422 (HTTPValidationError) is replaced: ours is a problem.
            operation["responses"].update(
                {str(status): response for status, response in problem_responses(codes).items()}
            )
            if scope is None:  # no credential at all: say so, not "the document's default"
                operation["security"] = []
            else:
                _scope_as_extension(operation, scope)
    _add_components(document)


def _scope(operation: dict[str, Any]) -> str | None:
    """The scope each of the operation's security requirements names (RequireScope)."""
    for requirement in operation.get("security", []):
        for scopes in requirement.values():
            if not scopes:  # deps.principal alone: every /v1 route declares its scope
                raise ValueError(f"{operation['operationId']} takes a credential but no scope")
            return str(scopes[0])
    return None


def _scope_as_extension(operation: dict[str, Any], scope: str) -> None:
    """Scopes in a requirement are for OAuth2 flows (linters hold to it): the scope moves
    to ``x-scope`` and the description."""
    operation["security"] = [{name: [] for name in r} for r in operation["security"]]
    operation["x-scope"] = scope
    needs = f"Needs the `{scope}` scope (a user's token holds every scope but `admin`)."
    operation["description"] = f"{operation.get('description', '').strip()}\n\n{needs}".strip()


def _validates(parameter: dict[str, Any]) -> bool:
    """Whether a parameter can fail validation (a path parameter of any text cannot)."""
    schema = parameter.get("schema", {})
    plain = schema.get("type") == "string" and not set(schema) - {"type", "title"}
    return not (parameter["in"] == "path" and plain)


def problem_responses(codes: tuple[str, ...]) -> dict[int | str, dict[str, Any]]:
    """One response per status, listing its codes (as text and as named examples)."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(CODES[code].status, []).append(code)
    responses: dict[int | str, dict[str, Any]] = {}
    for status, listed in sorted(by_status.items()):
        lines = [f"- `{code}`: {CODES[code].when}" for code in listed]
        response: dict[str, Any] = {
            "description": f"{HTTPStatus(status).phrase}\n\n" + "\n".join(lines),
            "content": {
                PROBLEM_JSON: {
                    "schema": {"$ref": _PROBLEM_REF},
                    "examples": {code: {"$ref": _EXAMPLES + code} for code in listed},
                }
            },
        }
        if status in _HEADERS:
            name = _HEADERS[status]
            response["headers"] = {name: {"$ref": f"#/components/headers/{name}"}}
        responses[status] = response
    return responses


def documented_codes(operation: dict[str, Any]) -> dict[int, set[str]]:
    """The codes an operation of the document lists, by status (tests read them back)."""
    found: dict[int, set[str]] = {}
    for status, response in operation["responses"].items():
        problem = response.get("content", {}).get(PROBLEM_JSON)
        if problem is not None:
            found[int(status)] = set(problem.get("examples", {}))
    return found


def _add_components(document: dict[str, Any]) -> None:
    components = document.setdefault("components", {})
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422, replaced
        schemas.pop(unused, None)
    schemas.update(schema.pop("$defs", {}))
    schemas["Problem"] = schema
    used: set[str] = set()
    for operations in document["paths"].values():
        for operation in operations.values():
            for codes in documented_codes(operation).values():
                used |= codes
    components["examples"] = {code: _example(code) for code in CODES if code in used}
    components["headers"] = {
        "Content-Range": _header("`bytes */size`: the file's size", "string"),
        "Retry-After": _header("seconds to wait before trying again", "integer"),
        "WWW-Authenticate": _header('`Bearer error="invalid_token"`, with the code', "string"),
    }


def _header(description: str, kind: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": kind}}


def _example(code: str) -> dict[str, Any]:
    info = CODES[code]
    return {
        "summary": info.when,
        "value": {
            "type": f"https://exportd.dev/problems/{code}",
            "title": code.replace("_", " "),
            "status": info.status,
            "code": code,
            "detail": info.when,
            "instance": "/v1/exports",
            "request_id": "6f1c2b9e0d4a4f6e8b7a1c3d5e7f9a0b",
        },
    }
