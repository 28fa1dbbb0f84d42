"""Sources: where rows or a document come from."""

from exportd.sources.base import ColumnSpec, DocumentSource, Source, SourceRegistry, TabularSource

__all__ = ["ColumnSpec", "DocumentSource", "Source", "SourceRegistry", "TabularSource"]
