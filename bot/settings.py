"""Settings of the review bot's worker side, from the environment (CELLSBOT_…)."""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_data_dir
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.render import DEFAULT_RULE_LABELS, LabelConfig
from topology.observability import logs
from topology.observability.logs import LogFormat, LogLevel

MAX_RETRY_COUNTDOWN = 300.0  # seconds a task waits before its retry, at most


class BotSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CELLSBOT_", env_ignore_empty=True, extra="ignore")

    #: the GitLab instance the bot posts to
    gitlab_url: str = "https://gitlab.com"
    #: a token of the bot's GitLab user (api scope); unset: reviews cannot be posted
    gitlab_token: str | None = None
    #: seconds per GitLab API request
    gitlab_timeout: float = 10.0
    #: Celery broker; unset: a broker on local files in `data_dir` (no server needed)
    broker_url: str | None = None
    #: Redis for the one-review-per-MR lock, and for the webhook seen-set when the broker is not
    #: Redis; unset: file locks, and a seen-set in the receiver's memory
    redis_url: str | None = None
    #: cellsbot's data directory: the file broker, the file locks, and what `cellsbot serve`
    #: generates (on Linux ~/.local/share/cellsbot)
    data_dir: Path = Path(user_data_dir("cellsbot"))
    #: where the rule pages live (links in notes); unset: no links
    docs_url: str | None = None
    #: how long a review of one MR may hold its lock (seconds)
    review_lock_timeout: float = 600.0
    #: seconds after which a Redis broker hands a job whose worker died (no acknowledgement) to
    #: another worker; longer than any review (`review_lock_timeout`) and any retry countdown
    broker_visibility_timeout: float = 900.0
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
    #: log lines as one JSON object each (`json`) or as plain text (`text`)
    log_format: LogFormat = "json"
    #: the lowest level logged (DEBUG, INFO, WARNING, ERROR); unset: INFO, or a worker's
    #: `--loglevel`
    log_level: LogLevel | None = None
    #: the port on which each worker process serves its Prometheus metrics; unset: not served
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    #: an OpenTelemetry collector (OTLP/HTTP, e.g. http://otel-collector:4318) to send traces
    #: to; unset: no tracing. Needs the `tracing` extra (pip install 'cellsbot[tracing]')
    otlp_endpoint: str | None = None

    @model_validator(mode="after")
    def _jobs_are_not_redelivered_while_they_run(self) -> BotSettings:
        """A job still running (a review holds its lock up to `review_lock_timeout`) or waiting
        for its retry (at most MAX_RETRY_COUNTDOWN) must not be handed to a second worker."""
        longest = max(self.review_lock_timeout, MAX_RETRY_COUNTDOWN, self.rollout_poll_interval)
        if self.broker_visibility_timeout <= longest:
            raise ValueError(
                f"broker_visibility_timeout must exceed {longest:g} s (the review lock "
                "timeout, the longest retry countdown and the rollout poll interval)"
            )
        return self

    def register_secrets(self) -> None:
        """Never log the tokens and passwords of these settings."""
        logs.register_secrets(self.gitlab_token, self.topology_token)
        for url in (self.database_url, self.broker_url, self.redis_url):
            logs.register_url(url)

    def label_config(self) -> LabelConfig:
        return LabelConfig(
            rules=self.labels if self.labels is not None else DEFAULT_RULE_LABELS,
            error_label=None if self.error_label == "none" else self.error_label,
            manage_error_label=self.manage_error_label,
        )

    def broker(self) -> tuple[str, dict]:
        """(broker URL, transport options) for Celery."""
        if self.broker_url:
            redis = self.broker_url.startswith(("redis://", "rediss://"))
            return self.broker_url, (
                {"visibility_timeout": self.broker_visibility_timeout} if redis else {}
            )
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
