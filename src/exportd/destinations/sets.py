"""What one delivery sends, and under which keys: the export's file, or a split's whole set.

An export of one file (a split in one zip included) is one key, the template's.  A split
delivered as parts (``split.deliver: "parts"``) sends every part, then the manifest's
signature, then the manifest: last, so a reader that waits for the manifest finds the
whole set beside it.  Each file keeps its own name, the one the manifest lists, so that
``exportd verify`` checks the set where it landed:

- a template with ``{filename}`` is filled in once per file (``{ext}`` is that file's
  too: ``csv.gz``, ``manifest.json``, ``manifest.json.sig``);
- any other template names the set's folder: its key without a final ``.{ext}``, so the
  default ``{source}/{date}/{export_id}.{ext}`` puts the set under
  ``trades/2026-12-03/<export id>/``.

A retry sends the set again under the same keys: each file replaces its earlier copy
whole, so nothing is duplicated, and the delivery is ``sent`` only once the manifest is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exportd.destinations.keys import KeyTemplateInvalid, KeyValues, in_folder, render
from exportd.destinations.models import S3Config, SftpConfig
from exportd.destinations.port import remote_key

# The order a set is sent in: parts, the signature, the manifest.
_ORDER = {"part": 0, "signature": 1, "manifest": 2}


@dataclass(frozen=True, slots=True)
class Planned:
    """One file to send: its key in our storage and at the destination."""

    storage_key: str
    remote_key: str
    size: int | None


def planned(config: S3Config | SftpConfig, export: Any) -> list[Planned]:
    """Every file the export sends to this destination, in order; the last one's key is
    the one the export shows (the file, or the set's manifest)."""
    result = export.result or {}
    split = result.get("split") or {}
    files = result.get("files") if split.get("deliver") == "parts" else None
    if not files:
        key = render(config.key_template, values_of(export, result["filename"]))
        return [Planned(result["key"], remote_key(config, key), result.get("size"))]
    ordered = sorted(files, key=lambda f: _ORDER.get(f.get("role", "part"), 0))
    keys = _set_keys(config.key_template, export, [f["name"] for f in ordered])
    if len(set(keys)) != len(keys):
        raise KeyTemplateInvalid("the key template gives two files of the split the same key")
    return [
        Planned(f["key"], remote_key(config, key), f.get("size"))
        for f, key in zip(ordered, keys, strict=True)
    ]


def _set_keys(template: str, export: Any, names: list[str]) -> list[str]:
    if "{filename}" in template:
        return [render(template, values_of(export, name)) for name in names]
    folder_template = template.removesuffix(".{ext}")
    # {ext} elsewhere in the folder's template is the parts' extension (csv.gz).
    folder = render(folder_template, values_of(export, names[0])) if folder_template else ""
    return [in_folder(folder, name) for name in names]


def values_of(export: Any, filename: str) -> KeyValues:
    return KeyValues(
        source=export.source,
        format=export.format,
        filename=filename,
        export_id=export.id,
        created_at=export.created_at,
    )
