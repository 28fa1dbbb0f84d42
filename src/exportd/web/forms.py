"""The create form, both ways: a source's params schema to form fields, and the posted
form back to an export request body.

Pure functions over plain data, so the page's rules are unit-tested without a browser.
Form names: ``p.<param>`` for params, ``col`` (repeated, in page order) for the chosen
columns, ``label.<column>`` for a rename; empty inputs mean "not given".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PARAM_PREFIX = "p."
LABEL_PREFIX = "label."


@dataclass(frozen=True, slots=True)
class Field:
    """One input of the params fieldset."""

    name: str
    label: str
    kind: str  # text | date | integer | choice | list
    help: str = ""
    choices: tuple[str, ...] = ()
    default: Any = None
    minimum: int | None = None
    maximum: int | None = None

    @property
    def input_name(self) -> str:
        return PARAM_PREFIX + self.name


def fields_of(schema: Mapping[str, Any], *, skip: Iterable[str] = ()) -> list[Field]:
    """The inputs for a params JSON schema (as Pydantic writes it), in schema order."""
    skipped = set(skip)
    return [
        _field(name, spec)
        for name, spec in schema.get("properties", {}).items()
        if name not in skipped
    ]


def _field(name: str, spec: Mapping[str, Any]) -> Field:
    # Optional params are written as anyOf [the type, null]: the type is what matters.
    variants = [v for v in spec.get("anyOf", [spec]) if v.get("type") != "null"]
    typed = variants[0] if variants else {}
    kind = "text"
    if "enum" in typed:
        kind = "choice"
    elif typed.get("type") == "integer":
        kind = "integer"
    elif typed.get("type") == "array":
        kind = "list"
    elif typed.get("format") == "date":
        kind = "date"
    return Field(
        name=name,
        label=spec.get("title") or name.replace("_", " ").capitalize(),
        kind=kind,
        help=spec.get("description", ""),
        choices=tuple(str(c) for c in typed.get("enum", ())),
        default=spec.get("default"),
        minimum=typed.get("minimum"),
        maximum=typed.get("maximum"),
    )


_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")


def params_from_form(form: Mapping[str, str], fields: Iterable[Field]) -> dict[str, Any]:
    """The params the user filled in; the API validates their values and names bad ones."""
    params: dict[str, Any] = {}
    for field in fields:
        raw = form.get(field.input_name, "").strip()
        if not raw:
            continue
        if field.kind == "list":
            params[field.name] = [item.strip() for item in raw.split(",") if item.strip()]
        elif field.kind == "integer" and _is_int(raw):
            params[field.name] = int(raw)
        else:
            params[field.name] = raw  # a wrong integer reaches the API, which names it
    return params


def _is_int(raw: str) -> bool:
    # ASCII digits only: str.isdigit() is true of "²", which int() refuses.
    return _INTEGER.fullmatch(raw) is not None


def columns_from_form(
    chosen: Iterable[str], form: Mapping[str, str], *, all_columns: Iterable[str]
) -> list[dict[str, str]] | None:
    """The chosen columns in page order with their renames; None when the choice is
    "every column, as named" (the source's default, which keeps the request short)."""
    picked = list(dict.fromkeys(chosen))  # a double-posted checkbox counts once
    renamed = {
        name: form.get(LABEL_PREFIX + name, "").strip()
        for name in picked
        if form.get(LABEL_PREFIX + name, "").strip() not in ("", name)
    }
    if picked == list(all_columns) and not renamed:
        return None
    return [
        {"name": name, "label": renamed[name]} if name in renamed else {"name": name}
        for name in picked
    ]


def ordered_columns(
    columns: list[dict[str, str]], preset: list[str] | None
) -> list[tuple[dict[str, str], bool]]:
    """Columns for the picker with whether each starts checked: a preset's columns first,
    in its order, and checked; the rest after, unchecked.  No preset: all, checked."""
    if not preset:
        return [(column, True) for column in columns]
    by_name = {column["name"]: column for column in columns}
    first = [(by_name[name], True) for name in preset if name in by_name]
    rest = [(column, False) for column in columns if column["name"] not in preset]
    return first + rest


FORMAT_NAMES = {"parquet": "Parquet"}


def format_name(format: str) -> str:
    """How a format reads on the page: the file extension in capitals, or its own name."""
    return FORMAT_NAMES.get(format, format.upper())


@dataclass(frozen=True, slots=True)
class FormatChoice:
    """One option of the format picker: a format outside the plan is shown, disabled."""

    format: str
    allowed: bool
    selected: bool


def format_choices(formats: Iterable[str], allowed: Iterable[str]) -> list[FormatChoice]:
    """The source's formats in its order; the first one the plan allows starts chosen."""
    permitted = set(allowed)
    offered = list(formats)
    first = next((f for f in offered if f in permitted), None)
    return [FormatChoice(f, f in permitted, f == first) for f in offered]


def plan_note(choices: Iterable[FormatChoice], plan: str) -> str | None:
    """Why some formats are disabled, in one line: "XLSX is not in your plan (free)"."""
    names = [format_name(c.format) for c in choices if not c.allowed]
    if not names:
        return None
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    verb = "is" if len(names) == 1 else "are"
    return f"{listed} {verb} not in your plan ({plan})."


def export_body(
    form: Mapping[str, str], chosen_columns: list[str], source: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``POST /v1/exports`` body the form describes, for the API's own model."""
    kind = source["kind"]
    skip = ("document_id", "page_size") if kind == "document" else ()
    body: dict[str, Any] = {
        "source": source["name"],
        "format": form.get("format", ""),
        "params": params_from_form(form, fields_of(source["params_schema"], skip=skip)),
    }
    if kind == "document":
        for name in ("document_id", "page_size"):
            if form.get(PARAM_PREFIX + name):
                body["params"][name] = form[PARAM_PREFIX + name]
        if form.get("template"):
            body["template"] = form["template"]
    else:
        columns = columns_from_form(
            chosen_columns, form, all_columns=[c["name"] for c in source["columns"]]
        )
        if columns is not None:
            body["columns"] = columns
        options = _options(form)
        if options:
            body["options"] = options
    notify = {
        key: form[f"notify_{key}"].strip()
        for key in ("email", "webhook_url")
        if form.get(f"notify_{key}", "").strip()
    }
    if notify:
        body["notify"] = notify
    if form.get("destination"):  # the page offers one; the API takes several
        body["destinations"] = [form["destination"]]
    return body


def _options(form: Mapping[str, str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if form.get("timezone", "").strip():
        options["timezone"] = form["timezone"].strip()
    if form.get("format") == "csv":
        delimiter = {"comma": ",", "semicolon": ";", "tab": "\t", "pipe": "|"}.get(
            form.get("delimiter", "")
        )
        if delimiter and delimiter != ",":
            options["delimiter"] = delimiter
        if form.get("bom") == "on":
            options["bom"] = True
        if form.get("locale", "").strip():
            options["locale"] = form["locale"].strip()
    if form.get("keep_partial") == "on" and form.get("format") not in ("pdf", "html"):
        options["keep_partial"] = True
    return options
