"""Tables every service shares: documents and their timeline, blobs, outbox, keys.

SQLAlchemy Core tables, so repositories write plain SQL expressions. The schema itself is
created by Alembic migrations (migrations/versions); this module only describes it.
Service-owned tables live in each service's adapters and migrations.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = MetaData()

documents = Table(
    "documents",
    metadata,
    Column("document_id", String(64), primary_key=True),
    Column("channel", String(16), nullable=False),
    Column("mailbox", String(16)),
    Column("form_type", String(32)),
    Column("status", String(16), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("screening", JSONB),
    Column("classification", JSONB),
    Column("routing", JSONB),
    # Highest RACS level of any customer the document was attached to (0: none). NULL: not yet
    # known (read by the classifier, or failed, but not routed): visible only to racs:3 (issue 15).
    Column("racs_level", Integer, nullable=True, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("reconciled_at", DateTime(timezone=True)),
    Column("reconcile_count", Integer, nullable=False, server_default="0"),
    Index("ix_documents_status_updated", "status", "updated_at"),
)

timeline = Table(
    "timeline",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("document_id", String(64), ForeignKey("documents.document_id"), nullable=False),
    Column("stage", String(32), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("outcome", String(64), nullable=False),
    Column("reasons", JSONB, nullable=False, server_default="[]"),
    Index("ix_timeline_document", "document_id", "id"),
)

blobs = Table(
    "blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("media_type", String(255), nullable=False),
    # NULL when the content is in object storage (blobs.py); compressed with lz4 (common_0010)
    Column("content", LargeBinary),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Which documents name which blob (common_0006): written with each event that carries a BlobRef
# (outbox.py), read by retention.py. The foreign key makes a blob that a document is being linked
# to right now impossible to delete, and a blob deleted first fails that document's transaction.
document_blobs = Table(
    "document_blobs",
    metadata,
    Column("document_id", String(64), primary_key=True),
    Column("sha256", String(64), ForeignKey("blobs.sha256"), primary_key=True),
    Index("ix_document_blobs_sha256", "sha256"),
)

# Every event is written here in the same transaction as the state it announces;
# the relay publishes rows in id order and stamps published_at after the broker acks.
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("document_id", String(64)),
    Column("event_type", String(64), nullable=False),
    Column("topic", String(255), nullable=False),
    Column("key", String(255)),
    Column("value", LargeBinary, nullable=False),
    Column("headers", JSONB, nullable=False, server_default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True)),
    Index("ix_outbox_unpublished", "id", postgresql_where="published_at IS NULL"),
    Index("ix_outbox_document_topic", "document_id", "topic"),
    # common_0008: a topic's published events in publication order (the queue feed, `mailintake tail`)
    Index("ix_outbox_published_topic", "topic", "published_at", "id", postgresql_where="published_at IS NOT NULL"),
)

# A consumer group's record of the events it has applied: the idempotency guard.
processed_events = Table(
    "processed_events",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("event_id", String(64), primary_key=True),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # common_0004: the event was dead-lettered, not applied; a replay may claim it again.
    Column("dead_lettered", Boolean, nullable=False, server_default="false"),
    Index("ix_processed_events_processed_at", "processed_at"),  # common_0006: retention finds old ones
)

# A consumer group's count of tries at one event, kept across restarts so a message that keeps
# killing a worker (or the whole process) ends in the DLQ instead of looping (consumer.py).
# The row is removed when the event is applied and kept, with the reason, when it is dead-lettered.
consumer_attempts = Table(
    "consumer_attempts",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("event_id", String(64), primary_key=True),
    Column("document_id", String(64)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("worker_failures", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("scopes", ARRAY(Text), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("created_by", String(32)),  # key_id of the key that made it (none: the bootstrap key)
    Column("last_used_at", DateTime(timezone=True)),  # stamped at most once a minute
    Column("revoked_at", DateTime(timezone=True)),
    Column("revoked_by", String(32)),  # key_id of the key that revoked it
)

# The dashboard's login sessions: a cookie's hash and the key it stands for (revoking the key ends them).
api_key_sessions = Table(
    "api_key_sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),
    Column("key_id", String(32), ForeignKey("api_keys.key_id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_api_key_sessions_key", "key_id"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("channel", String(16), primary_key=True),
    Column("key", String(512), primary_key=True),
    Column("document_id", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


# Personal details a v2 event leaves out (issue 15; details.py): one row per document, written by
# one service in the same transaction as its event, read by the next stage. common_0006.
def _details_table(name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("document_id", String(64), ForeignKey("documents.document_id"), primary_key=True),
        Column("details", JSONB, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


received_details = _details_table("received_details")  # intake: the parts' filenames
screening_details = _details_table("screening_details")  # quarantine: findings, cleared parts' names, email facts
classification_details = _details_table("classification_details")  # classifier: identifiers, names, passages
