"""The bot's settings from the environment, labels included."""

from __future__ import annotations

from bot.render import DEFAULT_ERROR_LABEL, DEFAULT_RULE_LABELS
from bot.settings import BotSettings


def test_labels_default_to_the_rendering_defaults(monkeypatch):
    for name in ("CELLSBOT_LABELS", "CELLSBOT_ERROR_LABEL", "CELLSBOT_MANAGE_ERROR_LABEL"):
        monkeypatch.delenv(name, raising=False)
    config = BotSettings().label_config()
    assert dict(config.rules) == dict(DEFAULT_RULE_LABELS)
    assert config.error_label == DEFAULT_ERROR_LABEL
    assert DEFAULT_ERROR_LABEL not in config.managed


def test_labels_from_the_environment(monkeypatch):
    monkeypatch.setenv("CELLSBOT_LABELS", '{"CELLS011": "needs-claim", "CELLS0": "cells"}')
    monkeypatch.setenv("CELLSBOT_ERROR_LABEL", "schema::blocked")
    monkeypatch.setenv("CELLSBOT_MANAGE_ERROR_LABEL", "true")
    config = BotSettings().label_config()
    assert list(config.rules.items()) == [("CELLS011", "needs-claim"), ("CELLS0", "cells")]
    assert config.managed == {"needs-claim", "cells", "schema::blocked"}


def test_no_error_label(monkeypatch):
    monkeypatch.setenv("CELLSBOT_ERROR_LABEL", "none")
    assert BotSettings().label_config().error_label is None
