"""A file compressed while it is written: gzip, or a zip of one member.

The writer writes into :class:`Compressed`, which deflates as the bytes come and passes
the compressed ones on to the sink (the storage writer, through the hashing sink): no
file is held in memory or written twice.  A zip is written without seeking (its sizes
follow each member, in a data descriptor), with ZIP64 records from the start, so a
member of any size fits.
"""

from __future__ import annotations

import gzip
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, BinaryIO, Literal

from exportd.formats.base import RowWriter

Compression = Literal["gzip", "zip"]
LEVEL = 6  # zlib's default, and gzip(1)'s: near level 9's size at about a third of its time


@dataclass(frozen=True, slots=True)
class Packing:
    name: str
    suffix: str  # added to the file's own name: "orders.csv.gz"
    content_type: str


COMPRESSIONS: dict[str, Packing] = {
    p.name: p
    for p in (
        Packing("gzip", ".gz", "application/gzip"),
        Packing("zip", ".zip", "application/zip"),
    )
}
# The formats written as a stream of text a reader can take back out of a compressed file.
COMPRESSIBLE = ("csv", "jsonl", "json")


class Gate:
    """The sink until the file is given up: after that, what gzip or zipfile still
    writes (a trailer, a directory, when collected) goes nowhere."""

    def __init__(self, sink: BinaryIO) -> None:
        self._sink = sink
        self.open = True
        self.size = 0

    def write(self, data: Any) -> int:
        if not self.open:
            return len(data)
        self.size += len(data)
        return self._sink.write(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        if self.open:
            self._sink.flush()


class Compressed:
    """The stream a writer writes its file into, compressed on its way to ``sink``.

    ``member`` is the file's own name: the gzip header's, or the zip's one member.
    ``finish`` ends the compressed file; ``abort`` gives it up (the storage writer
    discards what reached it)."""

    def __init__(self, sink: BinaryIO, compression: str, member: str, *, when: datetime) -> None:
        self._gate = Gate(sink)
        self._written = 0
        # Never a directory in the name (a plugin source's name is free text): the
        # member unzips beside the zip, whatever the unzipper.
        member = member.replace("/", "_").replace("\\", "_").lstrip(". ") or "export"
        self._zip: zipfile.ZipFile | None = None
        self._stream: IO[bytes] | gzip.GzipFile
        if compression == "gzip":
            self._stream = gzip.GzipFile(
                filename=member,
                mode="wb",
                fileobj=self._gate,
                compresslevel=LEVEL,
                mtime=int(when.timestamp()),
            )
        elif compression == "zip":
            # The gate has no seek: zipfile writes sizes after the data (no rewind).
            self._zip = zipfile.ZipFile(  # type: ignore[call-overload]
                self._gate,
                "w",
                compression=zipfile.ZIP_DEFLATED,
                compresslevel=LEVEL,
            )
            info = zipfile.ZipInfo(member, date_time=when.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            self._stream = self._zip.open(info, "w", force_zip64=True)
        else:
            raise ValueError(f"no compression {compression!r}")

    def write(self, data: Any) -> int:
        written = self._stream.write(data)
        self._written += written
        return written

    def tell(self) -> int:
        """Bytes of the file written so far (before compression)."""
        return self._written

    def flush(self) -> None:
        """Nothing to do: flushing a deflate stream mid-file only makes it larger."""

    @property
    def closed(self) -> bool:
        return False

    def finish(self) -> None:
        self._stream.close()
        if self._zip is not None:
            self._zip.close()
        self._gate.flush()

    def abort(self) -> None:
        self._gate.open = False


class CompressedWriter:
    """A row writer whose file is compressed: closing it ends the compressed file too."""

    def __init__(self, writer: RowWriter, stream: Compressed) -> None:
        self._writer = writer
        self._stream = stream

    def write(self, batch: Any) -> None:
        self._writer.write(batch)

    def close(self) -> None:
        try:
            self._writer.close()
            self._stream.finish()
        except BaseException:
            self._stream.abort()
            raise

    def abort(self) -> None:
        self._writer.abort()
        self._stream.abort()


def packed_name(filename: str, compression: str | None) -> str:
    """The download's name: the file's, with ``.gz`` or ``.zip`` when compressed."""
    return filename + COMPRESSIONS[compression].suffix if compression else filename
