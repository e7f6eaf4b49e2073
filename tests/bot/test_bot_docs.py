"""The review bot's docs: docs/bot.md documents every setting the code reads, and the README's
Quick start is still the two commands `make run` and `make test`."""

from __future__ import annotations

import re
from pathlib import Path

from bot.cache import CACHE_DIR_ENV
from bot.settings import BotSettings
from bot.webhook import WebhookSettings
from topology.settings import TopologySettings

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "bot.md"
README = ROOT / "README.md"

BOT_VARIABLES = [
    f"CELLSBOT_{name.upper()}"
    for settings in (BotSettings, WebhookSettings)
    for name in settings.model_fields
] + [CACHE_DIR_ENV]


def _settings_rows(guide: str) -> dict[str, list[str]]:
    """Variable -> the cells of its row in the settings table (`| `CELLSBOT_X` | default | …`)."""
    rows = {}
    for line in guide.splitlines():
        found = re.match(r"\|\s*`(CELLSBOT_[A-Z0-9_]+)`\s*\|", line)
        if found:
            rows[found.group(1)] = [cell.strip() for cell in line.strip().strip("|").split("|")]
    return rows


def test_guide_lists_every_setting_with_its_variable():
    guide = GUIDE.read_text()
    missing = [variable for variable in BOT_VARIABLES if f"`{variable}`" not in guide]
    assert not missing, f"docs/bot.md does not document {missing}"
    rows = _settings_rows(guide)
    without_row = [variable for variable in BOT_VARIABLES if variable not in rows]
    assert not without_row, f"docs/bot.md's settings table has no row for {without_row}"


def test_guide_gives_the_scalar_defaults_of_the_code():
    rows = _settings_rows(GUIDE.read_text())
    wrong = {}
    for settings in (BotSettings, WebhookSettings):
        for name, field in settings.model_fields.items():
            default = field.default
            if isinstance(default, bool) or not isinstance(default, str | int | float):
                continue  # unset, a path that depends on the machine, or a factory
            variable = f"CELLSBOT_{name.upper()}"
            if f"`{default}`" not in rows.get(variable, ["", ""])[1]:
                wrong[variable] = default
    assert not wrong, f"docs/bot.md's settings table gives other defaults than the code: {wrong}"


def test_guide_names_no_variable_the_code_does_not_read():
    known = set(BOT_VARIABLES) | {
        f"CELLSBOT_{name.upper()}" for name in TopologySettings.model_fields
    }
    named = set(re.findall(r"\bCELLSBOT_[A-Z0-9_]+\b(?!\*)", GUIDE.read_text()))  # not `X_*`
    assert not named - known, f"docs/bot.md names unknown variables {sorted(named - known)}"


def _quick_start_commands(readme: str) -> list[str]:
    section = re.search(r"^## Quick start\n(.*?)(?=^## )", readme, re.MULTILINE | re.DOTALL)
    assert section, "README.md has no '## Quick start' section"
    block = re.search(r"^```sh\n(.*?)^```", section.group(1), re.MULTILINE | re.DOTALL)
    assert block, "README.md's Quick start has no ```sh block"
    lines = (line.split("#", 1)[0].strip() for line in block.group(1).splitlines())
    return [line for line in lines if line]


def test_readme_quick_start_is_make_run_and_make_test():
    assert _quick_start_commands(README.read_text()) == ["make run", "make test"]
