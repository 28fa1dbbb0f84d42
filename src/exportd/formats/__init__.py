"""Streaming writers: Arrow record batches in, bytes out, one batch at a time."""

from exportd.formats.base import (
    FORMATS,
    OutputColumn,
    RowWriter,
    WriteOptions,
    open_writer,
    to_zone,
)

__all__ = ["FORMATS", "OutputColumn", "RowWriter", "WriteOptions", "open_writer", "to_zone"]
