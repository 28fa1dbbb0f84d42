"""Where an export's rows end up: one file, or its parts (``options.split``) in one zip
or stored each on its own, with their signed manifest.

``open_output`` is entered inside the export's transaction block: whatever fails before
it is left (a write error, the quota check, a cancel heard at the last checkpoint)
leaves nothing stored — the storage writer discards its file, stored parts are deleted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol
from urllib.parse import quote

import pyarrow as pa

from exportd.clock import Clock
from exportd.exports.manifest import (
    MANIFEST_NAME,
    SIGNATURE_SUFFIX,
    Manifest,
    plain_name,
    timestamp,
)
from exportd.exports.split_writer import Split, SplitWriter
from exportd.exports.stored_parts import StoredParts
from exportd.formats import FORMATS, OutputColumn, RowWriter, WriteOptions, open_writer
from exportd.formats.base import Checkpoint
from exportd.formats.compression import COMPRESSIONS, Compressed, CompressedWriter, packed_name
from exportd.formats.parts_zip import ZipParts
from exportd.formats.sinks import HashingSink
from exportd.manifest_keys import SigningKey
from exportd.storage import Storage


@dataclass(frozen=True, slots=True, kw_only=True)
class Layout:
    """How the export's writer is made: what every output needs from the task."""

    columns: list[OutputColumn]
    schema: pa.Schema
    rows_expected: int | None
    rows_allowed: int
    title: str | None
    checkpoint: Checkpoint


@dataclass(frozen=True, slots=True, kw_only=True)
class Signer:
    """What a split export's manifest is signed with, and its limit of parts."""

    key: SigningKey
    max_parts: int
    clock: Clock


class Output(Protocol):
    def writer(self, layout: Layout, total: Any) -> RowWriter: ...

    @property
    def stored_bytes(self) -> int: ...

    def result(self) -> dict[str, Any]: ...


def artifact_key(owner_id: str, export_id: str, attempt: int, filename: str) -> str:
    """One key per attempt, so a late losing attempt never overwrites the winner's file."""
    owner = quote(owner_id, safe="").replace(".", "%2E")
    return f"{owner}/{export_id}/{attempt}/{filename}"


@contextmanager
def open_output(
    storage: Storage, export: Any, attempt: int, options: WriteOptions, signer: Signer
) -> Iterator[Output]:
    fmt = FORMATS[export.format]
    stem = plain_name(f"{export.source}-{export.created_at:%Y%m%d}-{export.id[:8]}")

    def key(name: str) -> str:
        return artifact_key(export.owner_id, export.id, attempt, name)

    if not options.split:
        # Compressed, the download is the file's name plus .gz (or a zip of that one file).
        inner = f"{stem}.{fmt.extension}"
        filename = packed_name(inner, options.compression)
        with storage.writer(key(filename)) as sink:
            yield SingleFile(HashingSink(sink), export, options, inner, key(filename), filename)
        return
    split = Split.of(options.split)
    if split.deliver == "zip":
        filename = f"{stem}.parts.zip"
        with storage.writer(key(filename)) as sink:
            out = HashingSink(sink)
            parts = ZipParts(out, deflate=options.compression == "zip", when=export.created_at)  # type: ignore[arg-type]
            yield ZippedParts(parts, out, export, options, split, signer, stem, key(filename))
        return
    stored = StoredParts(storage, key)
    try:
        yield SeparateParts(stored, export, options, split, signer, stem)
    except BaseException:
        stored.abort()  # every part stored so far goes: all or nothing, as a single file
        raise


class SingleFile:
    def __init__(
        self,
        out: HashingSink,
        export: Any,
        options: WriteOptions,
        inner: str,
        key: str,
        filename: str,
    ) -> None:
        self._out, self._export, self._options = out, export, options
        self._inner, self._key, self._filename = inner, key, filename

    def writer(self, layout: Layout, total: Any) -> RowWriter:
        return _writer(
            self._out, self._export, self._options, self._options.compression, self._inner, layout
        )

    @property
    def stored_bytes(self) -> int:
        return self._out.size

    def result(self) -> dict[str, Any]:
        compression = self._options.compression
        content_type = (
            COMPRESSIONS[compression].content_type
            if compression
            else FORMATS[self._export.format].content_type
        )
        result = {
            "key": self._key,
            "filename": self._filename,
            "content_type": content_type,
            "size": self._out.size,
            "sha256": self._out.digest.hexdigest(),
        }
        return {**result, "compression": compression} if compression else result


def _writer(
    sink: BinaryIO | HashingSink,
    export: Any,
    options: WriteOptions,
    compression: str | None,
    inner: str,
    layout: Layout,
) -> RowWriter:
    """The format's writer into ``sink``, compressed on the way when asked."""
    stream: Any = (
        Compressed(sink, compression, inner, when=export.created_at)  # type: ignore[arg-type]
        if compression
        else sink
    )
    writer = open_writer(
        export.format,
        stream,
        layout.columns,
        layout.schema,
        options,
        rows_expected=layout.rows_expected,
        rows_allowed=layout.rows_allowed,
        title=layout.title,
        checkpoint=layout.checkpoint,
    )
    return CompressedWriter(writer, stream) if isinstance(stream, Compressed) else writer


class _Split:
    """What both deliveries share: the parts' writer, their names, the signed manifest."""

    manifest_name = MANIFEST_NAME

    def __init__(
        self,
        parts: Any,
        export: Any,
        options: WriteOptions,
        split: Split,
        signer: Signer,
        stem: str,
        part_compression: str | None,
    ) -> None:
        self._parts, self._export, self._options = parts, export, options
        self._split, self._signer, self._stem = split, signer, stem
        self._compression = part_compression
        self._writer: SplitWriter | None = None
        self.manifest = b""

    def part_name(self, number: int) -> str:
        inner = f"{self._stem}-part{number:04d}.{FORMATS[self._export.format].extension}"
        return packed_name(inner, self._compression)

    def writer(self, layout: Layout, total: Any) -> RowWriter:
        def open_part(stream: BinaryIO, name: str, expected: int | None) -> RowWriter:
            inner = (
                name.removesuffix(COMPRESSIONS[self._compression].suffix)
                if self._compression
                else name
            )
            part = Layout(
                columns=layout.columns,
                schema=layout.schema,
                rows_expected=expected,
                rows_allowed=min(self._split.rows or layout.rows_allowed, layout.rows_allowed),
                title=layout.title,
                checkpoint=layout.checkpoint,
            )
            return _writer(stream, self._export, self._options, self._compression, inner, part)

        self._writer = SplitWriter(
            self._parts,
            self._split,
            max_parts=self._signer.max_parts,
            name_of=self.part_name,
            open_part=open_part,
            total=total,
        )
        return _Sealed(self._writer, self._seal)

    def _seal(self) -> None:
        """After the last part: the manifest and its signature, then the delivery's end."""
        assert self._writer is not None
        manifest = Manifest(
            export_id=self._export.id,
            source=self._export.source,
            format=self._export.format,
            options=dict(self._export.options or {}),
            created_at=timestamp(self._export.created_at),
            signed_at=timestamp(self._signer.clock.now()),
            signing_key=self._signer.key.public.kid,
            parts=tuple(self._writer.done),
        )
        self.manifest = manifest.encode()
        self._parts.add(self.manifest_name, self.manifest)
        self._parts.add(self.manifest_name + SIGNATURE_SUFFIX, self._signer.key.sign(self.manifest))
        self._parts.finish()

    def _split_result(self) -> dict[str, Any]:
        assert self._writer is not None
        result: dict[str, Any] = {
            "split": {**self._split.as_dict(), "parts": len(self._writer.done)},
            "signing_key": self._signer.key.public.kid,
        }
        if self._options.compression:
            result["compression"] = self._options.compression
        return result


class ZippedParts(_Split):
    """One zip: the parts, ``manifest.json`` and ``manifest.json.sig``."""

    def __init__(
        self,
        parts: ZipParts,
        out: HashingSink,
        export: Any,
        options: WriteOptions,
        split: Split,
        signer: Signer,
        stem: str,
        key: str,
    ) -> None:
        # compression "zip": the zip itself deflates its members; gzip: each part is .gz.
        own = None if options.compression == "zip" else options.compression
        super().__init__(parts, export, options, split, signer, stem, own)
        self._out, self._key = out, key

    @property
    def stored_bytes(self) -> int:
        return self._out.size

    def result(self) -> dict[str, Any]:
        return {
            "key": self._key,
            "filename": self._key.rsplit("/", 1)[-1],
            "content_type": COMPRESSIONS["zip"].content_type,
            "size": self._out.size,
            "sha256": self._out.digest.hexdigest(),
            **self._split_result(),
        }


class SeparateParts(_Split):
    """Each part a stored file of its own, with the manifest and its signature: each
    downloads through its own link (``result.files``)."""

    def __init__(
        self,
        parts: StoredParts,
        export: Any,
        options: WriteOptions,
        split: Split,
        signer: Signer,
        stem: str,
    ) -> None:
        super().__init__(parts, export, options, split, signer, stem, options.compression)
        self.manifest_name = f"{stem}.{MANIFEST_NAME}"
        self._stored = parts

    @property
    def stored_bytes(self) -> int:
        return sum(f["size"] for f in self._stored.files)

    def result(self) -> dict[str, Any]:
        assert self._writer is not None
        parts = {p.name: p for p in self._writer.done}
        compression = self._compression
        part_type = (
            COMPRESSIONS[compression].content_type
            if compression
            else FORMATS[self._export.format].content_type
        )
        files = [
            {
                **f,
                "role": "part",
                "rows": parts[f["name"]].rows,
                "sha256": parts[f["name"]].sha256,
                "content_type": part_type,
            }
            if f["name"] in parts
            else dict(f)
            for f in self._stored.files
        ]
        # The last two stored are the manifest and its signature (_seal).
        manifest, signature = files[-2], files[-1]
        manifest.update(role="manifest", content_type="application/json")
        signature.update(role="signature", content_type="application/octet-stream")
        return {
            "key": manifest["key"],
            "filename": manifest["name"],
            "content_type": "application/json",
            "size": manifest["size"],
            "sha256": manifest["sha256"],
            "stored_bytes": self.stored_bytes,
            "files": files,
            **self._split_result(),
        }


class _Sealed:
    """The split writer, whose close also writes the manifest and ends the delivery."""

    def __init__(self, writer: SplitWriter, seal: Any) -> None:
        self._writer, self._seal = writer, seal

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write(batch)

    def close(self) -> None:
        self._writer.close()
        self._seal()

    def abort(self) -> None:
        self._writer.abort()

    @property
    def cells_cut(self) -> int:
        return self._writer.cells_cut
