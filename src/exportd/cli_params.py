"""``--param key=value`` pairs, typed as the source's params schema types them."""

from __future__ import annotations

import json
from typing import Any

import typer

from exportd.client import ExportdClient


def params_of(client: ExportdClient, source: str, pairs: list[str]) -> dict[str, Any]:
    """``--param`` pairs typed by the source's params schema (from the server's catalogue;
    a source it does not list is left for the server to refuse)."""
    if not pairs:
        return {}
    listed = {item.get("name"): item.get("params_schema") for item in client.sources()}
    return typed_params(pairs, listed.get(source))


def typed_params(pairs: list[str], schema: dict[str, Any] | None) -> dict[str, Any]:
    """``k=v`` pairs, each value as the source's params schema types it: text stays text
    (``symbol=7203``, ``symbol=null``); a list takes each value given for its key
    (``-p tags=a -p tags=b``) or a JSON list; a number or a true/false is read as JSON.
    Without a schema (a key the source does not have), a value is text unless it is a
    JSON list or object; the server names what does not fit."""
    properties = (schema or {}).get("properties", {})
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"want key=value, got {pair!r}", param_hint="--param")
        kinds = _json_types(properties.get(key, {}))
        if "array" in kinds:
            listed = _json_or(value, None)
            items = listed if isinstance(listed, list) else [value]
            params[key] = [*params.get(key, []), *items]
            continue
        if key in params:
            raise typer.BadParameter(f"{key} is given twice", param_hint="--param")
        if "string" in kinds:
            params[key] = value
        elif kinds:
            params[key] = _json_or(value, value)
        else:
            structured = _json_or(value, None)
            params[key] = structured if isinstance(structured, (list, dict)) else value
    return params


def _json_types(prop: dict[str, Any]) -> set[str]:
    """The JSON types a property of a JSON Schema allows (``null`` left out)."""
    found: set[str] = set()
    for option in [prop, *prop.get("anyOf", []), *prop.get("oneOf", [])]:
        kind = option.get("type")
        found.update(kind if isinstance(kind, list) else [kind] if kind else [])
    if "enum" in prop and not found:
        found.add("string")
    return found - {"null"}


def _json_or(value: str, otherwise: Any) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return otherwise
