"""schemathesis over the app's own OpenAPI: no 5xx, and every error is problem+json.

A bounded run here (``EXPORTD_FUZZ_EXAMPLES``, 25 per operation by default);
``make fuzz`` runs more.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from exportd.api.app import create_app
from exportd.auth.tokens import mint
from exportd.config import jwt_key, load_settings
from exportd.db import create_database
from exportd.db.migrate import upgrade
from tests.support.sources import fake_sources

EXAMPLES = int(os.environ.get("EXPORTD_FUZZ_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    config = load_settings(database_url=f"sqlite:///{path}")
    db = create_database(config)
    upgrade(db)
    application = create_app(config, db=db, sources=fake_sources())
    application.state.fuzz_token = mint("fuzzer", secret=jwt_key(config), plan="pro")
    yield application
    db.dispose()


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


def test_no_server_errors_and_every_error_is_problem_json(app: Any) -> None:
    headers = {"Authorization": f"Bearer {app.state.fuzz_token}"}
    for operation in operations(app):

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            case.call_and_validate(
                headers=headers, checks=[not_a_server_error, errors_are_problems]
            )

        run()
