"""Settings shared by every process. Each service subclasses `CommonSettings` with its own.

All come from environment variables prefixed `MAILINTAKE_` (docs/configuration.md lists
them); defaults suit a local `make run`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from mailintake_common.topics import TopicOverride

KiB = 1024
MiB = 1024 * KiB


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MAILINTAKE_", extra="ignore")

    # PostgreSQL, the system of record (SQLAlchemy async URL)
    database_url: str = "postgresql+asyncpg://mailintake@127.0.0.1:55432/mailintake"
    # Kafka-protocol broker bootstrap address(es), comma-separated
    kafka_bootstrap: str = "127.0.0.1:59092"
    # Interface the HTTP servers listen on
    host: str = "127.0.0.1"
    # HTTP port of the intake service
    intake_port: int = 8001
    # HTTP port of the quarantine service
    quarantine_port: int = 8002
    # HTTP port of the classifier service
    classifier_port: int = 8003
    # HTTP port of the routing service
    routing_port: int = 8004

    # If set, this key exists at start-up with every scope (SPEC 3); under 32 random bytes it is refused
    bootstrap_admin_key: SecretStr | None = None
    # How long a service trusts a looked-up key: a revoked key stops working everywhere within this
    key_cache_ttl_s: float = 1.0
    # A request body over this gets 413 before the key is checked or a byte is parsed (SPEC 3)
    max_request_bytes: int = 64 * MiB

    # /readyz of a service that only produces (intake) also needs the broker (false: its outbox holds events meanwhile)
    ready_requires_broker: bool = False

    # Partitions of each topic the services create at start-up, unless overridden (the unit of consumer
    # parallelism: copies beyond it sit idle)
    topic_partitions: int = 4
    # Replication factor of each topic, unless overridden (1 for one broker; 3 on a production cluster)
    topic_replication_factor: int = 1
    # JSON by topic name or pattern (`*.dlq`, `mail.queue.*`; the most specific applies last): `partitions`,
    # `replication_factor`, `configs` (e.g. `{"*": {"replication_factor": 3, "configs": {"min.insync.replicas": "2"}}}`)
    topic_overrides: dict[str, TopicOverride] = {}
    # How long the broker keeps dead letters (`retention.ms` of every `<topic>.dlq`; 30 days); 0: the broker's default
    dlq_retention_ms: int = 30 * 24 * 3600 * 1000
    # Consumer group session timeout; a group join takes about half of it
    kafka_session_timeout_ms: int = 10_000
    # Consumer heartbeat interval (well under the session timeout)
    kafka_heartbeat_interval_ms: int = 3_000
    # Longest a consumer's fetch waits on the broker for new records (lower: less latency, more requests:
    # Tansu answers each idle fetch at about this interval, and each answer costs it and the consumer CPU)
    kafka_fetch_max_wait_ms: int = 250
    # Broker request timeout for producers, consumers and admin calls
    kafka_request_timeout_ms: int = 15_000

    # How every Kafka client talks to the broker: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (SASL over TLS)
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    # SASL mechanism for SASL_PLAINTEXT and SASL_SSL (PLAIN is refused over SASL_PLAINTEXT: a password in clear)
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    # SASL user name (required with SASL_PLAINTEXT and SASL_SSL)
    kafka_sasl_username: str | None = None
    # SASL password (required with SASL_PLAINTEXT and SASL_SSL; never logged)
    kafka_sasl_password: SecretStr | None = None
    # PEM file of the CA that signed the broker's certificate (required with SSL and SASL_SSL)
    kafka_ssl_cafile: str | None = None
    # Trust the system's CAs when no MAILINTAKE_KAFKA_SSL_CAFILE is given (off: only the configured CA)
    kafka_ssl_system_ca: bool = False
    # PEM client certificate for mutual TLS (may hold the private key too)
    kafka_ssl_certfile: str | None = None
    # PEM private key of the client certificate, if not in MAILINTAKE_KAFKA_SSL_CERTFILE
    kafka_ssl_keyfile: str | None = None
    # Password of an encrypted client private key (never logged)
    kafka_ssl_key_password: SecretStr | None = None
    # The broker's certificate must name the host connected to (off only for a name its certificate lacks)
    kafka_ssl_check_hostname: bool = True

    # Handler attempts for one event before it goes to `<topic>.dlq` (counted in PostgreSQL, across restarts)
    consumer_max_attempts: int = 4
    # Attempts that crash or time out a worker process (a parser, OCR) before the event goes to `<topic>.dlq`
    consumer_max_worker_failures: int = 2
    # Consumers still read v1 events, which carried personal details, written before v2 (issue 15);
    # false sends them to `<topic>.dlq` (once none are left in the outbox, on topics or in dead letters)
    read_superseded_payloads: bool = True
    # First retry delay; doubles per attempt
    consumer_backoff_initial_s: float = 0.2
    # Longest retry delay
    consumer_backoff_max_s: float = 5.0
    # Most records fetched from the broker at once
    consumer_batch_size: int = 50
    # Partitions this process works on side by side (each partition stays in order)
    consumer_concurrency: int = 4
    # Documents of one partition's batch worked on side by side (each document's events stay in
    # order; offsets are committed only past records that are all finished)
    consumer_documents_per_partition: int = 4
    # Longest a finished offset waits to be committed while records keep coming: one request for all
    # partitions per interval instead of one per partition's batch (issue 18); an idle consumer, a
    # rebalance and a stop commit at once. A crash re-reads at most this much, skipped by event id. 0:
    # after every partition's batch
    consumer_commit_interval_ms: int = 1000
    # An unreachable object store (MAILINTAKE_BLOB_STORE=s3) is waited out with backoff, its tries
    # not counted toward the attempts limit, instead of failing documents to the DLQ
    consumer_wait_out_storage_outages: bool = True
    # A stage that reads its event's blobs (quarantine, the classifier) reads those kept in PostgreSQL up to this
    # size each with its batch's check-in, one statement for the batch (issue 18); larger ones (a scan, an
    # archive) are read or streamed when the handler needs them, as are all blobs in an S3 store. 0: none
    consumer_prefetch_blob_bytes: int = 256 * KiB
    # Most blob content one partition's batch reads with its check-in, in all
    consumer_prefetch_batch_bytes: int = 8 * MiB

    # Run the outbox relay in this process (one relay is active at a time: advisory lock)
    relay_enabled: bool = True
    # Most outbox rows published per round
    relay_batch_size: int = 500
    # Pause between rounds when the outbox is empty and the relay cannot LISTEN for new rows
    relay_poll_interval_s: float = 0.05
    # Fallback round when the relay LISTENs (a committed outbox row wakes it at once): only a lost
    # notification waits this long (issue 18: each round is a query, paid every interval while idle)
    relay_fallback_poll_interval_s: float = 5.0
    # Busy rounds in a row (each found rows and more were committed meanwhile) after which the
    # relay stops listening for notifications and runs its rounds back to back until one finds
    # nothing, then listens again (issue 18: each notification costs PostgreSQL and the relay
    # CPU that a busy relay does not need); 0: always listen
    relay_busy_rounds_before_unlisten: int = 3
    # While busy (a round found rows and more were committed meanwhile), the next round starts at
    # least this long after the last one started (issue 18: each round is a statement and a produce
    # request, whose CPU a round of a few rows pays as much as one of many); 0: back to back
    relay_busy_round_interval_ms: float = 25.0
    # How often a standby relay tries to take over the advisory lock (a dead leader's lock is free
    # at once; its events wait in the outbox at most this much longer)
    relay_standby_retry_s: float = 5.0
    # How often the active relay deletes published rows older than MAILINTAKE_OUTBOX_RETENTION_HOURS
    relay_housekeeping_interval_s: float = 100.0
    # How often the relay checks that the broker still has the topics it writes to
    relay_topic_check_interval_s: float = 1.0
    # Published outbox rows are deleted after this long
    outbox_retention_hours: int = 72
    # Run the reconciler in this process (one is active at a time: advisory lock)
    reconciler_enabled: bool = True
    # How often the reconciler looks for stuck documents
    reconcile_interval_s: float = 30.0
    # A document not moved past a stage for this long gets that stage's input republished
    reconcile_stuck_after_s: float = 120.0
    # After this many republications a document is left for a person (timeline: gave_up)
    reconcile_max_attempts: int = 10

    # `make run`: first delay before a crashed service is started again; doubles per exit in a row
    supervise_backoff_initial_s: float = 1.0
    # `make run`: longest delay before a crashed service is started again
    supervise_backoff_max_s: float = 30.0
    # `make run`: a service that ran this long before it exited restarts from the first delay
    supervise_stable_after_s: float = 60.0

    # Records disposal (retention.py), run by the active reconciler; 0 keeps that kind for ever.
    # Content (raw items, cleared parts, text) of routed documents with nothing open, this many days after routing
    retention_routed_content_days: int = 0
    # Processed-event ids (consumers' duplicate guard) older than this many days
    retention_processed_events_days: int = 30
    # Completed queue items, this many days after completion
    retention_completed_items_days: int = 0
    # Most documents, event ids or queue items disposed of per kind per run
    retention_batch_size: int = 500
    # How often the active reconciler runs a disposal
    retention_interval_s: float = 3600.0

    # Where blob content lives: `postgres` (bytea beside its metadata) or `s3` (an S3-compatible
    # object store; PostgreSQL then keeps only sha256, size and media type)
    blob_store: Literal["postgres", "s3"] = "postgres"
    # S3 endpoint URL (scheme, host and port), e.g. https://s3.ap-southeast-2.amazonaws.com
    s3_endpoint_url: str = "http://127.0.0.1:8333"
    # S3 bucket the blobs go in (it must exist; path-style addressing)
    s3_bucket: str = "mail-intake"
    # S3 region the requests are signed for (SigV4)
    s3_region: str = "us-east-1"
    # Object name prefix; the object name is this followed by the blob's sha256
    s3_prefix: str = "blobs/"
    # S3 access key id
    s3_access_key_id: SecretStr | None = None
    # S3 secret access key (never logged)
    s3_secret_access_key: SecretStr | None = None
    # Seconds an S3 request may take to connect or between bytes before it fails
    s3_timeout_s: float = 30.0
    # Bytes read or sent at a time when blob content is streamed
    blob_chunk_bytes: int = 1 * MiB
    # A part larger than this reaches quarantine's and the classifier's worker processes as a private temporary
    # file, streamed from the blob store a chunk at a time; smaller ones as bytes (never whole in the service)
    part_spool_bytes: int = 1 * MiB
    # Directory those temporary files go in (a private subdirectory per item, removed after it); empty: TMPDIR
    part_spool_dir: str | None = None

    # Half the database connections a process may open: it opens up to twice this many as it needs
    # them and keeps them open
    db_pool_size: int = 10
    # Seconds to wait for a database connection before answering 503
    db_connect_timeout_s: float = 3.0
    # Ping every pooled connection before use (three round trips with asyncpg). Off: a connection the
    # server closed is replaced at checkout, and a transaction's own first statement runs again once
    # on a fresh connection; turn on where a network drops idle connections without a word
    # (a firewall that forgets idle flows)
    db_ping_on_checkout: bool = False
    # Most consumer units of work sent together in one pipelined transaction when they become ready
    # while one of the same shape is in flight (group commit); 1 sends each alone
    db_group_max_units: int = 16

    # Log level (DEBUG, INFO, WARNING, ERROR)
    log_level: str = "INFO"
    # JSON log lines (only safe fields: never personal details)
    log_json: bool = True
    # Also write access log lines for /healthz, /readyz and /metrics (probes every few seconds drown the rest)
    access_log_probes: bool = False
    # Run the event loop on uvloop and parse HTTP with httptools when installed (false: asyncio and h11)
    fast_event_loop: bool = True
    # How often gauges read from PostgreSQL and the broker (outbox age, documents, DLQ depth, lag) are refreshed
    metrics_refresh_interval_s: float = 10.0
    # Counting gauges (documents per status, unpublished rows, DLQ depth) stop counting at this many
    metrics_count_cap: int = 100_000
    # A status whose count reached the cap is counted again only this often (issue 18: counting
    # 100,000 routed documents cost 20-50 ms of PostgreSQL's CPU in every process every refresh)
    metrics_capped_recount_interval_s: float = 300.0
