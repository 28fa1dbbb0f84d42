from __future__ import annotations

from pathlib import Path

from exportd.config import Settings
from exportd.settings_doc import settings_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_the_settings_reference_is_up_to_date() -> None:
    assert DOC.read_text() == settings_markdown(), (
        "docs/settings.md is stale: python -m exportd.settings_doc > docs/settings.md"
    )


def test_every_setting_is_described() -> None:
    undescribed = [name for name, field in Settings.model_fields.items() if not field.description]
    assert undescribed == []
