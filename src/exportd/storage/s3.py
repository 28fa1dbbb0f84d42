"""S3 (or any S3-compatible store): streamed multipart uploads and presigned links.

An object only becomes visible when its upload completes, so a reader never sees half a
file; a failed write aborts the multipart upload and leaves nothing behind.  Credentials
come from boto3's usual chain (environment, profile, instance role).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from exportd.errors import ConfigError, StorageError
from exportd.storage.base import check_key, content_disposition, traced_writes
from exportd.storage.boto_sessions import new_session

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# S3 accepts parts of 5 MiB and more (but the last); 8 MiB keeps memory small and
# requests few.
PART_SIZE = 8 << 20
_READ_CHUNK = 1 << 16


def _boto3() -> Any:
    try:
        import boto3
        import botocore.config
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise ConfigError(
            "EXPORTD_STORAGE_URL is s3://... but boto3 is not installed: pip install 'exportd[s3]'"
        ) from None
    return boto3, botocore.config


def s3_client(endpoint_url: str | None, region: str | None) -> S3Client:
    _, config = _boto3()  # boto3 there, or a message saying how to install it
    retries = config.Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5)
    return new_session().client(
        "s3", endpoint_url=endpoint_url, region_name=region or "us-east-1", config=retries
    )


class _Upload:
    """The writable end of one object: buffers a part, then ships it."""

    def __init__(self, client: S3Client, bucket: str, key: str, part_size: int) -> None:
        self.client, self.bucket, self.key, self.part_size = client, bucket, key, part_size
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []
        self.written = 0

    def write(self, data: bytes) -> int:
        self.buffer += data
        self.written += len(data)
        if len(self.buffer) >= self.part_size:
            self._ship(bytes(self.buffer))
            self.buffer.clear()
        return len(data)

    def tell(self) -> int:
        return self.written

    def flush(self) -> None:
        """Parts leave when full: flushing early would make parts S3 refuses."""

    @property
    def closed(self) -> bool:
        return False

    def _ship(self, body: bytes) -> None:
        if self.upload_id is None:
            created = self.client.create_multipart_upload(Bucket=self.bucket, Key=self.key)
            self.upload_id = created["UploadId"]
        number = len(self.parts) + 1
        answer = self.client.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=body
        )
        self.parts.append({"ETag": answer["ETag"], "PartNumber": number})

    def commit(self) -> None:
        if self.upload_id is None:
            self.client.put_object(Bucket=self.bucket, Key=self.key, Body=bytes(self.buffer))
            return
        if self.buffer:
            self._ship(bytes(self.buffer))
        self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},  # type: ignore[typeddict-item]
        )

    def abort(self) -> None:
        if self.upload_id is not None:
            self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
            )


class S3Storage:
    def __init__(
        self, client: S3Client, bucket: str, prefix: str = "", *, part_size: int = PART_SIZE
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.part_size = part_size

    def _object(self, key: str) -> str:
        return self.prefix + check_key(key)

    @traced_writes("s3")
    @contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        upload = _Upload(self.client, self.bucket, self._object(key), self.part_size)
        try:
            yield cast(BinaryIO, upload)
        except BaseException:
            with _translated("abort an upload"):
                upload.abort()
            raise
        with _translated("upload"):
            upload.commit()

    def size(self, key: str) -> int | None:
        with _translated("look up an object"):
            try:
                head = self.client.head_object(Bucket=self.bucket, Key=self._object(key))
            except self.client.exceptions.ClientError as exc:
                if _status(exc) == 404:
                    return None
                raise
        return int(head["ContentLength"])

    def read(self, key: str, *, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        extra: dict[str, Any] = {}
        if start or end is not None:
            extra["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        with _translated("read an object"):
            body = self.client.get_object(Bucket=self.bucket, Key=self._object(key), **extra)
            yield from body["Body"].iter_chunks(_READ_CHUNK)

    def delete(self, key: str) -> None:
        with _translated("delete an object"):
            self.client.delete_object(Bucket=self.bucket, Key=self._object(key))

    def keys(self, *, older_than_s: float) -> Iterator[str]:
        cutoff = time.time() - older_than_s
        with _translated("list objects"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    if item["LastModified"].timestamp() < cutoff:
                        yield item["Key"].removeprefix(self.prefix)

    def local_path(self, key: str) -> Path | None:
        return None

    def link(self, key: str, *, filename: str, content_type: str, ttl_s: float) -> str | None:
        params = {
            "Bucket": self.bucket,
            "Key": self._object(key),
            "ResponseContentType": content_type,
            "ResponseContentDisposition": content_disposition(filename),
        }
        with _translated("sign a link"):
            return self.client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=max(1, int(ttl_s))
            )

    def probe(self) -> None:
        marker = f".probe/{uuid.uuid4().hex}"
        with self.writer(marker) as handle:
            handle.write(b"ok")
        self.delete(marker)


def _status(exc: Exception) -> int:
    response = getattr(exc, "response", {}) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


@contextmanager
def _translated(action: str) -> Iterator[None]:
    """botocore's errors become :class:`StorageError`, naming the action, not the data."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "unknown")
        raise StorageError(f"S3 could not {action}: {code}") from exc
    except BotoCoreError as exc:
        raise StorageError(f"S3 could not {action}: {type(exc).__name__}") from exc
