"""Sources from plugins: the entry point group ``exportd.sources``.

An entry point names a ``Source`` or a function returning an iterable of them.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from exportd.errors import ConfigError
from exportd.sources.base import Source, SourceRegistry

ENTRY_POINT_GROUP = "exportd.sources"


def load_sources() -> SourceRegistry:
    registry = SourceRegistry()
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        loaded = entry.load()
        found = loaded() if callable(loaded) and not isinstance(loaded, Source) else loaded
        for source in [found] if isinstance(found, Source) else list(found):
            if not isinstance(source, Source):
                raise ConfigError(f"entry point {entry.name!r} gave {source!r}, not a Source")
            registry.add(source)
    return registry
