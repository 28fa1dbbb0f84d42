"""Sources from plugins: the entry point group ``exportd.sources``.

An entry point names a ``Source`` or a function returning an iterable of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from exportd.errors import ConfigError
from exportd.sources.base import Source, SourceRegistry

if TYPE_CHECKING:
    from exportd.config import ConnectionSpec

ENTRY_POINT_GROUP = "exportd.sources"


def load_sources(
    modules: list[str] | None = None,
    sql_specs: list[dict[str, Any]] | None = None,
    connections: Mapping[str, ConnectionSpec] | None = None,
) -> SourceRegistry:
    """The built-in resume source, sources from plugins' entry points, from
    ``module:function`` specs and from declarative SQL specs (refused when unsafe); a
    source naming a connection that is not in ``connections`` is refused."""
    from exportd.documents.source import RESUME
    from exportd.sources.connections import check_connections
    from exportd.sources.query import QuerySource, unscoped
    from exportd.sources.sql import SqlSourceSpec, sql_source

    registry = SourceRegistry([RESUME])
    for raw in sql_specs or []:
        try:
            sql_spec = SqlSourceSpec.model_validate(raw)
        except ValidationError as exc:
            name = raw.get("name", "?") if isinstance(raw, dict) else "?"
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"EXPORTD_CONFIG sql_sources {name!r}: {problems}") from None
        registry.add(sql_source(sql_spec))
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        _add(registry, entry.name, entry.load())
    for spec in modules or []:
        module_name, _, attribute = spec.partition(":")
        try:
            loaded = getattr(importlib.import_module(module_name), attribute or "sources")
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"EXPORTD_SOURCE_MODULES: cannot load {spec!r}: {exc}") from None
        _add(registry, spec, loaded)
    named = {s.name: s.connection for s in registry.all() if s.connection is not None}
    check_connections(connections or {}, named)
    for source in registry.all():
        if isinstance(source, QuerySource) and source.connection and unscoped(source):
            raise ConfigError(
                f"source {source.name!r} on connection {source.connection!r}: its query "
                "must bind the owner (owner_id) to scope rows to their owner"
            )
    return registry


def _add(registry: SourceRegistry, origin: str, loaded: Any) -> None:
    found = loaded() if callable(loaded) and not isinstance(loaded, Source) else loaded
    for source in [found] if isinstance(found, Source) else list(found):
        if not isinstance(source, Source):
            raise ConfigError(f"{origin!r} gave {source!r}, not a Source")
        try:
            registry.add(source)
        except ValueError as exc:  # two plugins, or a plugin and the demo, name one source
            raise ConfigError(f"{origin!r}: {exc}") from None
