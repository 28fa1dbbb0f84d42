"""Exports with the ids a test chooses (the service draws them at random), for lookups by
a short id."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from exportd.exports import service


def choose_ids(monkeypatch: pytest.MonkeyPatch, *starts: str) -> list[str]:
    """The next exports created get ids starting with ``starts``, in order."""
    ids = [start.ljust(32, "0") for start in starts]
    pending = iter(ids)
    fake = SimpleNamespace(uuid4=lambda: SimpleNamespace(hex=next(pending)))
    monkeypatch.setattr(service, "uuid", fake)
    return ids
