"""S3 clients share botocore's parsed models, never their credentials or region."""

from __future__ import annotations

from typing import Any

import botocore.loaders
import pytest

from exportd.storage.boto_sessions import new_session


def _client(access_key: str, region: str) -> object:
    return new_session().client(
        "s3", region_name=region, aws_access_key_id=access_key, aws_secret_access_key="secret"
    )


def test_sessions_share_one_loader_and_keep_their_own_credentials() -> None:
    first, second = new_session(), new_session()
    assert first is not second
    loader = first._session.get_component("data_loader")
    assert loader is second._session.get_component("data_loader")
    alice, bob = _client("ALICE", "eu-west-1"), _client("BOB", "us-east-1")
    signed_as = [c._request_signer._credentials.access_key for c in (alice, bob)]  # type: ignore[attr-defined]
    assert signed_as == ["ALICE", "BOB"]
    assert [c.meta.region_name for c in (alice, bob)] == ["eu-west-1", "us-east-1"]  # type: ignore[attr-defined]


def test_a_client_after_the_first_reads_no_model_file(monkeypatch: pytest.MonkeyPatch) -> None:
    # A session of its own parsed the models each time: 0.28 s of CPU a client here.
    _client("FIRST", "us-east-1")
    read: list[str] = []
    real = botocore.loaders.JSONFileLoader.load_file

    def counted(self: Any, file_path: str) -> Any:
        read.append(file_path)
        return real(self, file_path)

    monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file", counted)
    for _ in range(3):
        _client("NEXT", "us-east-1")
    assert read == []
