"""Sources for the API and service tests: the demo trades source and the built-in resume."""

from __future__ import annotations

from exportd.demo.sources import TradesSource
from exportd.documents.source import RESUME
from exportd.sources import SourceRegistry


def fake_sources() -> SourceRegistry:
    return SourceRegistry([TradesSource(), RESUME])
