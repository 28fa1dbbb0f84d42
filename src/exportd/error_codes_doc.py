"""docs/api.md's error codes, generated from ``exportd.error_codes``.

``python -m exportd.error_codes_doc docs/api.md`` rewrites the section between its two
markers in place; without an argument it prints the section.  A test fails when the page
and the registry drift apart.
"""

from __future__ import annotations

import sys
from pathlib import Path

from exportd.error_codes import Code, Where, where

BEGIN = (
    "<!-- error codes: generated from src/exportd/error_codes.py by "
    "`python -m exportd.error_codes_doc docs/api.md`; edit the registry, not this -->"
)
END = "<!-- end of error codes -->"

_INTRO = {
    Where.API: "",
    Where.PAGE: "The page (`/exports`) shows the API's codes in its notices, and these of its own:",
    Where.FAILURE: (
        "A failed export or delivery names its cause in `error.code`: a rule of the API "
        "checked again when the job runs (`render_failed`, `storage_quota_exceeded`, "
        "`document_missing`…), `internal_error` (an exception nobody classified: retried), or "
        "one of these:"
    ),
    Where.CLI: "The command line's own:",
    Where.DEFAULT: (
        "An exception class's own code, for a raise that names none: an answer that carries "
        "one is a bug to report."
    ),
}


def section() -> str:
    """The generated section, markers included."""
    parts = [BEGIN]
    for kind in Where:
        codes = where(kind)
        if _INTRO[kind]:
            parts += ["", _INTRO[kind]]
        parts += [
            "",
            *_table(codes, with_status=kind is not Where.FAILURE and kind is not Where.CLI),
        ]
    return "\n".join([*parts, "", END])


def replaced(page: str) -> str:
    """``page`` with its section between the markers generated afresh."""
    start, end = page.index(BEGIN), page.index(END) + len(END)
    return page[:start] + section() + page[end:]


def _table(codes: dict[str, Code], *, with_status: bool) -> list[str]:
    if not with_status:
        return ["| code | when |", "| --- | --- |"] + [
            f"| `{name}` | {code.when} |" for name, code in codes.items()
        ]
    ordered = sorted(codes.items(), key=lambda item: item[1].status or 0)
    return ["| status | code | when |", "| --- | --- | --- |"] + [
        f"| {code.status or '—'} | `{name}` | {code.when} |" for name, code in ordered
    ]


def main(argv: list[str]) -> None:
    if not argv:
        print(section())
        return
    path = Path(argv[0])
    path.write_text(replaced(path.read_text()))


if __name__ == "__main__":
    main(sys.argv[1:])
