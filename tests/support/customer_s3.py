"""The customer's bucket: a SECOND S3 server on loopback, apart from exportd's own.

moto's server runs in a process of its own (the in-process one, ``tests/support/s3.py``,
shares moto's state with anything else in the test process), and it checks credentials
as S3 does: after the first requests, which make an IAM user with an S3 policy and its
access key, every request must be signed by a key IAM knows.  A wrong secret is
``SignatureDoesNotMatch``, an unknown key ``InvalidAccessKeyId``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from exportd.storage.boto_sessions import new_session

# Requests answered before credentials are checked: the three that make the IAM user.
UNCHECKED_REQUESTS = 3
POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}


@dataclass(frozen=True)
class CustomerS3:
    endpoint: str
    port: int
    access_key_id: str
    secret_access_key: str

    def client(self, **credentials: str) -> Any:
        return new_session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=credentials.get("access_key_id", self.access_key_id),
            aws_secret_access_key=credentials.get("secret_access_key", self.secret_access_key),
        )

    def new_bucket(self) -> str:
        bucket = f"customer-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=bucket)
        return bucket

    def objects(self, bucket: str) -> dict[str, bytes]:
        client = self.client()
        listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
        return {
            item["Key"]: client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            for item in listed
        }

    def secret(self, **changes: str) -> dict[str, str]:
        return {
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            **changes,
        }

    def config(self, bucket: str, **extra: Any) -> dict[str, Any]:
        return {"bucket": bucket, "endpoint_url": self.endpoint, **extra}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the customer's S3 server exited"
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the customer's S3 server never listened")


@pytest.fixture(scope="session")
def customer_s3() -> Iterator[CustomerS3]:
    import boto3

    port = _free_port()
    env = {
        **os.environ,
        "INITIAL_NO_AUTH_ACTION_COUNT": str(UNCHECKED_REQUESTS),
        # Path-style always: the tests reach it by made-up names (s3.customer.test) too,
        # whose first label moto would otherwise read as a bucket.
        "S3_IGNORE_SUBDOMAIN_BUCKETNAME": "true",
        "AWS_ACCESS_KEY_ID": "server",
        "AWS_SECRET_ACCESS_KEY": "server",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(port, process)
        endpoint = f"http://127.0.0.1:{port}"
        iam = boto3.session.Session().client(
            "iam",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
        )
        iam.create_user(UserName="customer")
        iam.put_user_policy(UserName="customer", PolicyName="s3", PolicyDocument=json.dumps(POLICY))
        key = iam.create_access_key(UserName="customer")["AccessKey"]
        yield CustomerS3(endpoint, port, key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        process.terminate()
        process.wait(10)
