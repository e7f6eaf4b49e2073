"""docs/settings.md is generated from the settings classes and says what every setting is."""

from __future__ import annotations

from bot.settings_reference import field_docs, reference, sections
from tests.conftest import ROOT

REFERENCE = ROOT / "docs" / "settings.md"


def test_the_reference_is_current() -> None:
    assert REFERENCE.read_text() == reference(), (
        "docs/settings.md is stale: run `.venv/bin/cellsbot settings-reference > docs/settings.md`"
    )


def test_every_setting_says_what_it_is() -> None:
    undocumented = [
        f"{cls.__name__}.{name}"
        for _, _, cls in sections()
        for name in cls.model_fields
        if not field_docs(cls).get(name)
    ]
    assert undocumented == [], "give these fields a `#:` comment"
