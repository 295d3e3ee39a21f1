"""Settings shared by every process. Each service subclasses `CommonSettings` with its own.

All come from environment variables prefixed `MAILINTAKE_` (docs/configuration.md lists
them); defaults suit a local `make run`.
"""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MAILINTAKE_", extra="ignore")

    # Where things are
    database_url: str = "postgresql+asyncpg://mailintake@127.0.0.1:55432/mailintake"
    kafka_bootstrap: str = "127.0.0.1:59092"
    host: str = "127.0.0.1"
    intake_port: int = 8001
    quarantine_port: int = 8002
    classifier_port: int = 8003
    routing_port: int = 8004

    # Keys
    bootstrap_admin_key: SecretStr | None = None

    # Kafka clients
    topic_partitions: int = 4
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_interval_ms: int = 3_000
    kafka_request_timeout_ms: int = 15_000

    # Consumer runner: bounded retries with exponential backoff, then the DLQ
    consumer_max_attempts: int = 4
    consumer_backoff_initial_s: float = 0.2
    consumer_backoff_max_s: float = 5.0
    consumer_batch_size: int = 50
    # Size of this process's share of concurrent handlers (one partition at a time each)
    consumer_concurrency: int = 4

    # Outbox relay and reconciler
    relay_enabled: bool = True
    relay_batch_size: int = 500
    relay_poll_interval_s: float = 0.05
    # How often the relay checks that the broker still has the topics it writes to
    relay_topic_check_interval_s: float = 1.0
    outbox_retention_hours: int = 72
    reconciler_enabled: bool = True
    reconcile_interval_s: float = 30.0
    reconcile_stuck_after_s: float = 120.0
    # After this many republications a document is left for a person (timeline: gave_up).
    reconcile_max_attempts: int = 10

    # Database pool
    db_pool_size: int = 10
    db_connect_timeout_s: float = 3.0

    # Logs
    log_level: str = "INFO"
    log_json: bool = True
