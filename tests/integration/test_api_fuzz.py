"""schemathesis over the app's own OpenAPI, with every check, on SQLite and PostgreSQL
(issue 23): no 5xx; every status, content type, header and body as documented; inputs
that break the schema refused and inputs that fit it never refused as malformed; every
error a problem+json whose code the operation documents.

A bounded run here (``EXPORTD_FUZZ_EXAMPLES``, 25 per operation by default);
``make fuzz`` runs more.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.generation.modes import GenerationMode
from schemathesis.openapi.checks import RejectedPositiveData

from exportd.api.app import create_app
from exportd.api.openapi import documented_codes
from exportd.auth.tokens import mint
from exportd.config import Settings, jwt_key, load_settings
from exportd.db import Database, create_database
from tests.support.databases import migrated_database
from tests.support.sources import fake_sources

EXAMPLES = int(os.environ.get("EXPORTD_FUZZ_EXAMPLES", "25"))
# make test's bounded run is the same cases every time (a gate must not be a lottery);
# make fuzz (which sets the number) explores new ones each run.
DERANDOMIZE = "EXPORTD_FUZZ_EXAMPLES" not in os.environ


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@contextmanager
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with migrated_database(backend, tmp_path_factory.mktemp("fuzz")) as url:
        yield url


@pytest.fixture(scope="module", params=BACKENDS)
def fuzz_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, Database]]:
    """One database per backend for the module: PostgreSQL refuses text SQLite stores."""
    with database_url(request.param, tmp_path_factory) as url:
        # Its own storage: the fuzzer runs cleanup (as an admin), never on ./var.
        storage = tmp_path_factory.mktemp("fuzz-files")
        config = load_settings(database_url=url, storage_url=f"file://{storage}")
        db = create_database(config)
        yield config, db
        db.dispose()


@pytest.fixture
def app(fuzz_db: tuple[Settings, Database]) -> Any:
    # An app per test: schemathesis ends the app's lifespan after each test, and an app's
    # change listener (PostgreSQL) starts only once.
    config, db = fuzz_db
    application = create_app(config, db=db, sources=fake_sources())
    key = jwt_key(config)
    application.state.fuzz_tokens = {
        "user": mint("fuzzer", secret=key, plan="pro"),
        "admin": mint("fuzz-admin", secret=key, plan="pro", admin=True),
    }
    return application


def _problem(response: Any) -> dict[str, Any] | None:
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    assert content_type == "application/problem+json", (response.status_code, content_type)
    body: dict[str, Any] = response.json()
    return body


def errors_are_problems(ctx: Any, response: Any, case: Any) -> bool:
    problem = _problem(response)
    assert problem is None or problem["code"]
    return True


def codes_are_documented(ctx: Any, response: Any, case: Any) -> bool:
    """The code of each problem is one the operation lists for that status (the table in
    exportd.api.problem_codes, as the document carries it)."""
    problem = _problem(response)
    # A probe's 503 is its report, documented as such.
    if problem is not None and case.operation.path != "/readyz":
        listed = documented_codes(case.operation.definition.raw).get(response.status_code, set())
        assert problem["code"] in listed, (response.status_code, problem["code"], sorted(listed))
    return True


# What says the request itself is malformed: never the answer to one that fits the schema.
MALFORMED = {"request_invalid", "json_invalid", "content_type_unsupported", "text_invalid"}


def schema_valid_requests_are_well_formed(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis's positive_data_acceptance, but a 422 for a rule no schema can say
    (an unknown source, an email other than the token's, a cursor this server never sent)
    is the documented answer; a code of MALFORMED would be a disagreement."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        problem = _problem(response)
        if response.status_code == 422 and problem and problem["code"] not in MALFORMED:
            return True
        raise


def operations(app: Any) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    # Text a request cannot carry (NUL) is refused by a documented rule (text_invalid),
    # not by the schema: positive cases leave it out; negative ones still try it.
    schema.config.generation.update(allow_x00=False)
    return [result.ok() for result in schema.get_all_operations()]


def test_every_operation_is_fuzzed(app: Any) -> None:
    labels = {op.label for op in operations(app)}
    assert {"POST /v1/exports", "GET /v1/exports/{export_id}", "GET /v1/sources"} <= labels


# Admin routes are fuzzed as an admin (a user gets 403 before any input is read), the
# rest as a user.
ADMIN_PATHS = ("/v1/plans", "/v1/ops/", "/v1/admin/")


def test_every_answer_is_as_documented(app: Any) -> None:
    for operation in operations(app):
        who = "admin" if operation.path.startswith(ADMIN_PATHS) else "user"
        fuzz(operation, {"Authorization": f"Bearer {app.state.fuzz_tokens[who]}"})


def fuzz(operation: Any, headers: dict[str, str]) -> None:
    # Inputs that fit the schema and inputs that break it: both must get an answer.
    cases = operation.as_strategy() | operation.as_strategy(GenerationMode.NEGATIVE)

    @given(case=cases)
    @settings(
        max_examples=EXAMPLES,
        derandomize=DERANDOMIZE,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        # Every built-in check (status, content type, headers, body schema, negative data
        # refused, methods, auth…), with positive data acceptance as above, and ours.
        case.call_and_validate(
            headers=headers,
            excluded_checks=[positive_data_acceptance],
            additional_checks=[
                schema_valid_requests_are_well_formed,
                errors_are_problems,
                codes_are_documented,
            ],
        )

    run()
