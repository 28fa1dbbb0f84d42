"""Streaming writers: Arrow record batches in, bytes out, one batch at a time."""

from exportd.formats.base import FORMATS, OutputColumn, RowWriter, open_writer

__all__ = ["FORMATS", "OutputColumn", "RowWriter", "open_writer"]
