"""The customer's S3 bucket (AWS or any S3-compatible endpoint), through boto3.

The file streams from our storage in multipart parts (``storage.s3``'s upload: 8 MiB
parts, aborted on failure, so the object appears whole or not at all); memory does not
grow with its size.  Every connection boto3 opens goes through the SSRF guard: the
client's connection pools are given a connection class that resolves the host, checks
the answer and connects to that address (TLS still checks the name), so a rebound DNS
answer cannot send the customer's credentials, or our file, inside.  The client
ignores the environment's endpoint settings (``AWS_ENDPOINT_URL``: the operator's, not
the customer's) and proxies (``HTTPS_PROXY``: the guard must check the address it
connects to).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from exportd.destinations import guard
from exportd.destinations.models import S3Config, S3Secret
from exportd.destinations.port import Outgoing, Reach, remote_key
from exportd.errors import JobError, RetryableJobError, StorageError, TerminalJobError
from exportd.storage.boto_sessions import new_session

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

AUTH_CODES = {
    "AccessDenied",
    "AllAccessDisabled",
    "ExpiredToken",
    "InvalidAccessKeyId",
    "InvalidToken",
    "SignatureDoesNotMatch",
}
BUSY_CODES = {"SlowDown", "RequestTimeout", "ServiceUnavailable", "InternalError", "Throttling"}


class S3Writer:
    def __init__(self, config: S3Config, secret: S3Secret, *, reach: Reach) -> None:
        self.config = config
        self.secret = secret
        self.reach = reach

    def put(self, chunks: Iterable[bytes], remote_key: str) -> None:
        self.put_all([Outgoing(remote_key, lambda: chunks)], lambda: None)

    def put_all(self, files: Sequence[Outgoing], between: Callable[[], None]) -> None:
        from exportd.storage.s3 import S3Storage

        with _translated(self.config.bucket):
            bucket = S3Storage(self._client(), self.config.bucket)
            for file in files:
                between()
                with bucket.writer(file.remote_key) as sink:
                    for chunk in file.chunks():
                        sink.write(chunk)

    def probe(self) -> str:
        key = remote_key(self.config, f".exportd-probe-{uuid.uuid4().hex}")
        self.put([b"exportd destination probe\n"], key)
        with _translated(self.config.bucket):
            self._client().delete_object(Bucket=self.config.bucket, Key=key)
        return f"s3://{self.config.bucket}/{key}"

    def _client(self) -> S3Client:
        try:
            import boto3  # noqa: F401 - there, or the message below
            from botocore.config import Config
        except ImportError:  # pragma: no cover - depends on the installed extras
            raise TerminalJobError(
                "S3 destinations need boto3: pip install 'exportd[s3]'",
                code="destination_unsupported",
            ) from None
        endpoint = self.config.endpoint_url
        if endpoint:  # a clear refusal before boto3 wraps it (and again per connection)
            parts = urlsplit(endpoint)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            guard.resolve(parts.hostname or "", port, allow_private=self.reach.allow_private)
        timeout = self.reach.timeout_s
        client = new_session().client(
            "s3",
            endpoint_url=endpoint,
            region_name=self.config.region or "us-east-1",
            aws_access_key_id=self.secret.access_key_id,
            aws_secret_access_key=self.secret.secret_access_key,
            aws_session_token=self.secret.session_token,
            config=Config(
                retries={"max_attempts": 2, "mode": "standard"},
                connect_timeout=timeout,
                read_timeout=timeout,
                s3={"addressing_style": self.config.addressing_style},
                ignore_configured_endpoint_urls=True,  # type: ignore[call-arg]
                # Straight to the checked address: through HTTPS_PROXY, the guard would
                # check the proxy's address, and the proxy would resolve the name again.
                proxies={"http": "", "https": ""},
            ),
        )
        pin_connections(client, allow_private=self.reach.allow_private, timeout=timeout)
        return client


def pin_connections(client: Any, *, allow_private: bool, timeout: float) -> None:
    """Give the client's pools connection classes that connect only to checked addresses."""
    from botocore.awsrequest import (
        AWSHTTPConnection,
        AWSHTTPConnectionPool,
        AWSHTTPSConnection,
        AWSHTTPSConnectionPool,
    )

    def pinned(base: type[Any]) -> type[Any]:
        class Pinned(base):  # type: ignore[misc]
            def _new_conn(self) -> Any:
                wait = self.timeout if isinstance(self.timeout, int | float) else timeout
                return guard.connect(
                    self.host, self.port, allow_private=allow_private, timeout=wait
                )

        return Pinned

    class HTTPPool(AWSHTTPConnectionPool):
        ConnectionCls = pinned(AWSHTTPConnection)

    class HTTPSPool(AWSHTTPSConnectionPool):
        ConnectionCls = pinned(AWSHTTPSConnection)

    session = client._endpoint.http_session  # botocore's URLLib3Session (tested)
    pools = {"http": HTTPPool, "https": HTTPSPool}
    session._pool_classes_by_scheme = pools
    session._manager.pool_classes_by_scheme = pools


@contextmanager
def _translated(bucket: str) -> Iterator[None]:
    """boto3's failures as the queue's: a dead letter at once when retrying cannot help."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except StorageError as exc:  # the multipart upload's own wrapping
        cause = exc.__cause__
        if isinstance(cause, ClientError | BotoCoreError):
            raise _classified(cause, bucket) from None
        raise RetryableJobError(exc.message, code="destination_unavailable") from None
    except (ClientError, BotoCoreError) as exc:
        raise _classified(exc, bucket) from None


def _classified(exc: Exception, bucket: str) -> JobError:
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        HTTPClientError,
        ReadTimeoutError,
    )

    if isinstance(exc, HTTPClientError) and isinstance(exc.kwargs.get("error"), JobError):
        return cast(JobError, exc.kwargs["error"])  # the guard's refusal, from a connection
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        return RetryableJobError(
            f"the S3 endpoint cannot be reached: {type(exc).__name__}",
            code="destination_unreachable",
        )
    if not isinstance(exc, ClientError):
        return RetryableJobError(f"S3 failed: {type(exc).__name__}", code="destination_unavailable")
    code = str(exc.response.get("Error", {}).get("Code", "unknown"))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    if code == "NoSuchBucket":
        return TerminalJobError(
            f"the bucket {bucket!r} does not exist", code="destination_bucket_missing"
        )
    if code in AUTH_CODES or status in (401, 403):
        return TerminalJobError(
            f"S3 refused the credentials ({code})", code="destination_auth_failed"
        )
    if code in BUSY_CODES or status >= 500 or status in (408, 429):
        return RetryableJobError(f"S3 answered {code}", code="destination_unavailable")
    return TerminalJobError(f"S3 refused the upload ({code})", code="destination_rejected")
