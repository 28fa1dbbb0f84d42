"""One zip holding a split export's parts, written as they are made.

Each part is a member written while its rows are (the writer's bytes go straight into
the member, and the member's compressed bytes straight on to storage), then the
manifest and its signature: the zip is never held in memory nor written twice.  Like
``compression.Compressed``'s zip it is written without seeking (sizes in a data
descriptor after each member) with ZIP64 records from the start, so a part of any size
and any number of parts fit.
"""

from __future__ import annotations

import zipfile
from datetime import datetime
from typing import IO, BinaryIO

from exportd.formats.compression import LEVEL, Gate


class ZipParts:
    """Parts as members of one zip written into ``sink``.

    ``deflate``: the members are compressed (``options.compression: "zip"``); otherwise
    stored as they are — a gzip part or a Parquet file is compressed already, and a
    plain CSV is left plain when no compression was asked for."""

    def __init__(self, sink: BinaryIO, *, deflate: bool, when: datetime) -> None:
        self._gate = Gate(sink)
        self._method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
        self._when = when.timetuple()[:6]
        # The gate has no seek: zipfile writes each member's sizes after its data.
        self._zip = zipfile.ZipFile(  # type: ignore[call-overload]
            self._gate, "w", compression=self._method, compresslevel=LEVEL
        )
        self._member: IO[bytes] | None = None

    def begin(self, name: str) -> BinaryIO:
        info = zipfile.ZipInfo(name, date_time=self._when)
        info.compress_type = self._method
        info.external_attr = 0o644 << 16
        self._member = self._zip.open(info, "w", force_zip64=True)
        return self._member  # type: ignore[return-value]

    def end(self) -> None:
        if self._member is not None:
            self._member.close()
            self._member = None

    def add(self, name: str, data: bytes) -> None:
        """A small member written whole (the manifest, its signature)."""
        self.begin(name).write(data)
        self.end()

    def finish(self) -> None:
        """The zip's central directory: after it, the zip is complete."""
        self.end()
        self._zip.close()
        self._gate.flush()

    def abort(self) -> None:
        self._gate.open = False
        # Released now (what they still write goes nowhere), not complained about when
        # collected: zipfile will not close with a member open.
        try:
            self.end()
            self._zip.close()
        except (OSError, ValueError, zipfile.BadZipFile):
            pass
