"""The supervisor's claim notes: handed on while fresh, once, and never piling up."""

from __future__ import annotations

import pytest

from exportd.worker import claim_notes
from exportd.worker.claim_notes import ClaimNotes


def test_a_fresh_note_is_handed_on_once(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(claim_notes.time, "monotonic", lambda: now[0])
    notes = ClaimNotes()
    notes.keep({1: "one", 2: "two"})
    now[0] += claim_notes.FRESH_S / 2
    assert notes.take(1) == "one"
    assert notes.take(1) is None  # once
    now[0] += claim_notes.FRESH_S
    assert notes.take(2) is None  # a prefetched job that waited: its child reads afresh


def test_notes_nobody_takes_do_not_pile_up(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(claim_notes.time, "monotonic", lambda: now[0])
    notes = ClaimNotes()
    notes.keep({1: "handed back"})
    now[0] += claim_notes.FRESH_S
    notes.keep({2: "new"})
    assert notes._notes.keys() == {2}
    notes.forget(2)
    assert notes.take(2) is None
