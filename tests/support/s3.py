"""An S3 wire-protocol server on loopback (moto's server mode), for the storage suites.

It runs in the test process but speaks real HTTP, so worker processes started by a test
reach it too.  Credentials are moto's fixed test ones, set in the environment so that
boto3 in every process finds them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

TEST_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    saved = {name: os.environ.get(name) for name in TEST_CREDENTIALS}
    os.environ.update(TEST_CREDENTIALS)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def s3_url(s3_endpoint: str) -> str:
    """A fresh bucket for this test, as an ``EXPORTD_STORAGE_URL``."""
    from exportd.storage.s3 import s3_client

    bucket = f"exportd-{uuid.uuid4().hex[:12]}"
    s3_client(s3_endpoint, None).create_bucket(Bucket=bucket)
    return f"s3://{bucket}/exports"
