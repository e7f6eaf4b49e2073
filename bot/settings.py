"""Settings of the review bot's worker side, from the environment (CELLSBOT_…)."""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_data_dir
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.render import DEFAULT_RULE_LABELS, LabelConfig


class BotSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CELLSBOT_", env_ignore_empty=True, extra="ignore")

    gitlab_url: str = "https://gitlab.com"
    #: a token of the bot's GitLab user (api scope); unset: reviews cannot be posted
    gitlab_token: str | None = None
    gitlab_timeout: float = 10.0
    #: Celery broker; unset: a broker on local files in `data_dir` (no server needed)
    broker_url: str | None = None
    #: Redis for webhook dedupe and the one-review-per-MR lock; unset: in-process and file locks
    redis_url: str | None = None
    data_dir: Path = Path(user_data_dir("cellsbot"))
    #: where the rule pages live (links in notes); unset: no links
    docs_url: str | None = None
    #: how long a review of one MR may hold its lock (seconds)
    review_lock_timeout: float = 600.0
    #: the Celery queue the webhook fills and the workers read
    queue: str = "cellsbot"
    #: rule-code prefix -> label, as JSON, in priority order; unset: bot.render's defaults
    labels: dict[str, str] | None = None
    #: the label wanted while an error finding remains ("none": no such label)
    error_label: str = "database::review pending"
    #: whether the bot also removes `error_label` when the errors are gone
    manage_error_label: bool = False
    #: PostgreSQL for the coordination ledger (schema `ledger`; it can share the Topology
    #: Service's database); unset: no ledger, so no conflicts, owners, claims or rollouts
    database_url: str | None = None
    #: the Topology Service, for claim types and rollouts (e.g. http://topology:8070)
    topology_url: str | None = None
    #: an admin token of the Topology Service (cluster file `[[callers]]`, role admin)
    topology_token: str | None = None
    #: seconds between two looks at a running rollout
    rollout_poll_interval: float = 30.0

    def label_config(self) -> LabelConfig:
        return LabelConfig(
            rules=self.labels if self.labels is not None else DEFAULT_RULE_LABELS,
            error_label=None if self.error_label == "none" else self.error_label,
            manage_error_label=self.manage_error_label,
        )

    def broker(self) -> tuple[str, dict]:
        """(broker URL, transport options) for Celery."""
        if self.broker_url:
            return self.broker_url, {}
        folder = self.data_dir / "broker"
        for part in ("queue", "processed", "control"):
            (folder / part).mkdir(parents=True, exist_ok=True)
        options = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
        }
        return "filesystem://", options
