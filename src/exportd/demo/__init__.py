"""Demo data and sources for ``exportd demo`` and the tests."""
