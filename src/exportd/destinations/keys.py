"""Where a file lands at a destination: a key template such as
``{source}/{date}/{export_id}.{ext}``, checked when the destination is saved and filled
in when an export is delivered.

Only the variables of :data:`VARIABLES` may appear, each as a plain ``{name}`` (no
format spec, conversion, index or attribute: ``{source.__class__}`` is refused).  The
literal text may not climb out of the prefix or directory: no ``..`` segment, no leading
``/``, no backslash or control character.  The values filled in are ours (names, dates,
hex ids), and the filled-in key is checked again.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime

DEFAULT_TEMPLATE = "{source}/{date}/{export_id}.{ext}"
MAX_KEY_LENGTH = 1024

VARIABLES = {
    "source": "the source's name (trades)",
    "format": "the format (csv, xlsx, pdf…)",
    "ext": "the file's extension, compression included (csv, csv.gz)",
    "filename": "the download's file name (trades-20261203-1a2b3c4d.csv)",
    "export_id": "the export's id (32 hex digits)",
    "date": "the day the export was asked for, UTC (2026-12-03)",
    "time": "the time it was asked for, UTC (174502)",
    "year": "2026",
    "month": "12",
    "day": "03",
}


class KeyTemplateInvalid(ValueError):
    """The template names an unknown variable or could leave its root."""


@dataclass(frozen=True, slots=True)
class KeyValues:
    """What an export fills a template with."""

    source: str
    format: str
    filename: str
    export_id: str
    created_at: datetime

    def as_dict(self) -> dict[str, str]:
        at = self.created_at
        _, dot, ext = self.filename.partition(".")
        return {
            "source": self.source,
            "format": self.format,
            "ext": ext if dot else self.format,
            "filename": self.filename,
            "export_id": self.export_id,
            "date": f"{at:%Y-%m-%d}",
            "time": f"{at:%H%M%S}",
            "year": f"{at:%Y}",
            "month": f"{at:%m}",
            "day": f"{at:%d}",
        }


def check_template(template: str) -> str:
    """The template, or :class:`KeyTemplateInvalid` saying what is wrong with it."""
    if not template or len(template) > 512:
        raise KeyTemplateInvalid("a key template has 1 to 512 characters")
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:  # an unmatched brace
        raise KeyTemplateInvalid(f"not a key template: {exc}") from None
    literal = ""
    for text, name, spec, conversion in parts:
        literal += text
        if name is None:
            continue
        literal += "x"  # a value: never empty, never a separator
        if name not in VARIABLES or spec or conversion:
            raise KeyTemplateInvalid(
                f"{{{name}}} is not a variable; use {', '.join('{' + v + '}' for v in VARIABLES)}"
            )
    _check_key(literal, what="the template")
    return template


def render(template: str, values: KeyValues) -> str:
    """The key for one export; refused if the values made it unsafe (they never should)."""
    key = check_template(template).format(**values.as_dict())
    return _check_key(key, what="the key")


def in_folder(folder: str, name: str) -> str:
    """``name`` inside ``folder`` (the root when empty), checked as any key is."""
    return _check_key(f"{folder}/{name}" if folder else name, what="the key")


def _check_key(key: str, *, what: str) -> str:
    if key.startswith("/") or "\\" in key or any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise KeyTemplateInvalid(
            f"{what} must be relative, without backslashes or control characters"
        )
    if any(segment in ("", ".", "..") for segment in key.split("/")):
        raise KeyTemplateInvalid(f"{what} may not have empty, '.' or '..' segments")
    if len(key.encode()) > MAX_KEY_LENGTH:
        raise KeyTemplateInvalid(f"{what} is longer than {MAX_KEY_LENGTH} bytes")
    return key
