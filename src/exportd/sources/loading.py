"""Sources from plugins: the entry point group ``exportd.sources``.

An entry point names a ``Source`` or a function returning an iterable of them.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from exportd.errors import ConfigError
from exportd.sources.base import Source, SourceRegistry

ENTRY_POINT_GROUP = "exportd.sources"


def load_sources(modules: list[str] | None = None) -> SourceRegistry:
    """The built-in resume source, sources from plugins' entry points and from
    ``module:function`` specs."""
    from exportd.documents.source import RESUME

    registry = SourceRegistry([RESUME])
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        _add(registry, entry.name, entry.load())
    for spec in modules or []:
        module_name, _, attribute = spec.partition(":")
        try:
            loaded = getattr(importlib.import_module(module_name), attribute or "sources")
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"EXPORTD_SOURCE_MODULES: cannot load {spec!r}: {exc}") from None
        _add(registry, spec, loaded)
    return registry


def _add(registry: SourceRegistry, origin: str, loaded: Any) -> None:
    found = loaded() if callable(loaded) and not isinstance(loaded, Source) else loaded
    for source in [found] if isinstance(found, Source) else list(found):
        if not isinstance(source, Source):
            raise ConfigError(f"{origin!r} gave {source!r}, not a Source")
        registry.add(source)
