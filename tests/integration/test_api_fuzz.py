"""schemathesis over the app's own OpenAPI: no 5xx, and every error is problem+json, on
SQLite and PostgreSQL.

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
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode

from exportd.api.app import create_app
from exportd.auth.tokens import mint
from exportd.config import Settings, jwt_key, load_settings
from exportd.db import Database, create_database
from tests.support.databases import migrated_database
from tests.support.sources import fake_sources

EXAMPLES = int(os.environ.get("EXPORTD_FUZZ_EXAMPLES", "25"))


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


def errors_are_problems(ctx: Any, response: Any, case: Any) -> bool:
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])
        content_type = content_type[0] if isinstance(content_type, list) else content_type
        assert content_type == "application/problem+json", (response.status_code, content_type)
        assert response.json()["code"]
    return True


def operations(app: Any) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def test_every_operation_is_fuzzed(app: Any) -> None:
    labels = {op.label for op in operations(app)}
    assert {"POST /v1/exports", "GET /v1/exports/{export_id}", "GET /v1/sources"} <= labels


# Admin routes are fuzzed as an admin (a user gets 403 before any input is read), the
# rest as a user.
ADMIN_PATHS = ("/v1/plans", "/v1/ops/", "/v1/admin/")


def test_no_server_errors_and_every_error_is_problem_json(app: Any) -> None:
    for operation in operations(app):
        who = "admin" if operation.path.startswith(ADMIN_PATHS) else "user"
        fuzz(operation, {"Authorization": f"Bearer {app.state.fuzz_tokens[who]}"})


def fuzz(operation: Any, headers: dict[str, str]) -> None:
    # Inputs that fit the schema and inputs that break it: both must get an answer.
    cases = operation.as_strategy() | operation.as_strategy(GenerationMode.NEGATIVE)

    @given(case=cases)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=[not_a_server_error, errors_are_problems])

    run()
