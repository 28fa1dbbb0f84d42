"""Naughty strings through every format (as values and as column headers), through
download file names and through a resume: every file stays valid and says what it got."""

from __future__ import annotations

import csv
import io
import json
import re

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pypdf import PdfReader

from exportd.documents.export import filename_slug
from exportd.documents.models import Resume
from exportd.documents.render import Renderer, RenderOptions
from exportd.documents.templates import builtin_catalogue
from exportd.formats import OutputColumn, open_writer
from exportd.formats.safety import neutralise
from exportd.formats.xlsx_cells import MAX_CELL_CHARS
from exportd.storage.base import content_disposition
from tests.security.naughty import NAUGHTY

SCHEMA = pa.schema([("id", pa.int64()), ("text", pa.string())])
BATCH = pa.RecordBatch.from_pydict({"id": list(range(len(NAUGHTY))), "text": NAUGHTY}, SCHEMA)


# XLSX has two writers: the fast one when the rows are counted, XlsxWriter when not.
XLSX_WRITERS = {"xlsx": None, "xlsx-fast": len(NAUGHTY)}


def write(fmt: str, header: str = "text") -> tuple[bytes, object]:
    sink = io.BytesIO()
    writer = open_writer(
        fmt.removesuffix("-fast"),
        sink,
        [OutputColumn("id", "id"), OutputColumn("text", header)],
        SCHEMA,
        rows_expected=XLSX_WRITERS.get(fmt),
    )
    writer.write(BATCH)
    writer.close()
    return sink.getvalue(), writer


def expected_in_a_spreadsheet(value: str) -> str:
    return neutralise(value)


def test_csv_reads_back_every_value_neutralised() -> None:
    data, _ = write("csv")
    rows = list(csv.reader(io.StringIO(data.decode(), newline="")))
    assert [row[1] for row in rows[1:]] == [expected_in_a_spreadsheet(v) for v in NAUGHTY]
    # Not only what neutralise says: a formula behind a NUL or a space is caught too.
    shown = dict(zip(NAUGHTY, (row[1] for row in rows[1:]), strict=True))
    for disguised in ("\x00=SUM(40;2)", " \u00a0=1+1", "\ufeff@SUM(1+1)", "\uff1d1+1"):
        assert shown[disguised] == "'" + disguised


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_json_reads_back_every_value_exactly(fmt: str) -> None:
    data, _ = write(fmt)
    if fmt == "json":
        values = [row["text"] for row in json.loads(data)]
    else:
        values = [json.loads(line)["text"] for line in data.decode().split("\n")[:-1]]
    assert values == NAUGHTY


def test_parquet_reads_back_every_value_exactly() -> None:
    data, _ = write("parquet")
    assert pq.read_table(io.BytesIO(data)).column("text").to_pylist() == NAUGHTY


def _excel_text(value: str) -> str:
    """What Excel shows: OOXML writes a control character as _xHHHH_ (and a literal
    "_xHHHH_" with its underscore escaped), which openpyxl's reader leaves as is."""
    return re.sub(r"_x([0-9A-F]{4})_", lambda m: chr(int(m.group(1), 16)), value)


@pytest.mark.parametrize("fmt", XLSX_WRITERS)
def test_xlsx_opens_and_holds_every_value_or_says_it_was_cut(fmt: str) -> None:
    data, writer = write(fmt)
    sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))[1:]
    for (_, cell), value in zip(rows, NAUGHTY, strict=True):
        shown = _excel_text(cell or "")
        wanted = expected_in_a_spreadsheet(value)
        if len(wanted) > MAX_CELL_CHARS:
            assert len(shown) <= MAX_CELL_CHARS
            assert shown.endswith(f"characters in all; Excel holds {MAX_CELL_CHARS:,}]")
        else:
            # XML 1.0 cannot carry U+FFFE/U+FFFF: Excel shows them escaped, and so do we.
            assert shown == wanted or "\ufffe" in wanted, (value[:40], shown[:40])
    assert writer.cells_cut == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "parquet", *XLSX_WRITERS])
@pytest.mark.parametrize("header", [n for n in NAUGHTY if 0 < len(n) < 300])
def test_any_header_makes_a_file_that_opens(fmt: str, header: str) -> None:
    data, _ = write(fmt, header)
    if fmt == "csv":
        first = next(csv.reader(io.StringIO(data.decode(), newline="")))
        assert first[1] == neutralise(header)
    elif fmt == "jsonl":
        assert header in json.loads(data.decode().split("\n")[0])
    elif fmt == "json":
        assert header in json.loads(data)[0]
    elif fmt == "parquet":
        assert pq.read_table(io.BytesIO(data)).column_names[1] == header
    else:
        first = next(openpyxl.load_workbook(io.BytesIO(data), read_only=True).active.rows)
        assert _excel_text(first[1].value or "") in (neutralise(header), "") or "\ufffe" in header


@pytest.mark.parametrize("name", NAUGHTY)
def test_download_names_never_break_the_header(name: str) -> None:
    value = content_disposition(f"{name}.csv")
    assert value.isascii()
    assert not any(c in value for c in "\r\n\x00")
    fallback = value.split('filename="', 1)[1].split('"', 1)[0]
    assert all(" " <= c <= "~" for c in fallback)


@pytest.mark.parametrize("name", NAUGHTY)
def test_resume_file_names_are_safe_slugs(name: str) -> None:
    slug = filename_slug(name)
    assert re.fullmatch(r"([a-z0-9]+(-[a-z0-9]+)*)?", slug)  # empty: the source names it
    assert len(slug) <= 40


@pytest.mark.parametrize("template", ["classic", "modern"])
def test_a_resume_of_naughty_strings_prints(template: str) -> None:
    short = [n for n in NAUGHTY if len(n) < 300]
    raw = {
        "profile": {
            "name": "Naughty Strings",
            "headline": "{{ 7*7 }} <script>alert(1)</script>",
            "summary": " | ".join(short),  # a right-to-left override in here reverses the rest
        },
        "work": [
            {"organisation": n.strip() or "-", "role": "r", "highlights": short[i::5]}
            for i, n in enumerate(short[:5])
        ],
        "skills": short[:30],
    }
    resume = Resume.model_validate(raw).model_dump(mode="json")
    found = builtin_catalogue().get(template)
    assert found is not None
    pdf = Renderer().render(found, resume, "pdf", RenderOptions("a4", False, max_pages=50))
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    text = text.replace("\x00", "")  # pypdf's reading of fallback fonts' two-byte codes
    assert "Naughty Strings" in text
    assert "{{ 7*7 }}" in text  # data stays data
    assert "alert(1)" in text  # printed as text, not run
