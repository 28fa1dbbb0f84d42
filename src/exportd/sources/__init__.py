"""Sources: where rows or a document come from."""

from exportd.sources.base import ColumnSpec, Source, SourceRegistry, TabularSource

__all__ = ["ColumnSpec", "Source", "SourceRegistry", "TabularSource"]
