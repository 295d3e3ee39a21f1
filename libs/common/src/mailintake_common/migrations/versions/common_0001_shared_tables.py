"""Shared tables: documents, timeline, blobs, outbox, processed events, API keys, idempotency.

Written out column by column (not from tables.py), so this revision means the same thing
forever; later schema changes are new revisions.

Revision ID: common_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "common_0001"
down_revision = None
branch_labels = ("common",)
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("document_id", sa.String(64), primary_key=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("mailbox", sa.String(16)),
        sa.Column("form_type", sa.String(32)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        sa.Column("screening", JSONB),
        sa.Column("classification", JSONB),
        sa.Column("routing", JSONB),
        sa.Column("racs_level", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("reconciled_at", TZ),
        sa.Column("reconcile_count", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_documents_status_updated", "documents", ["status", "updated_at"])
    op.create_table(
        "timeline",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("document_id", sa.String(64), sa.ForeignKey("documents.document_id"), nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("reasons", JSONB, nullable=False, server_default="[]"),
    )
    op.create_index("ix_timeline_document", "timeline", ["document_id", "id"])
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("media_type", sa.String(255), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("document_id", sa.String(64)),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("key", sa.String(255)),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("headers", JSONB, nullable=False, server_default="{}"),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("published_at", TZ),
    )
    op.create_index("ix_outbox_unpublished", "outbox", ["id"], postgresql_where=sa.text("published_at IS NULL"))
    op.create_index("ix_outbox_document_topic", "outbox", ["document_id", "topic"])
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.String(64), primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("processed_at", TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("scopes", ARRAY(sa.Text), nullable=False),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("created_by", sa.String(32)),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("document_id", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    for table in ("idempotency_keys", "api_keys", "processed_events", "outbox", "blobs", "timeline", "documents"):
        op.drop_table(table)
