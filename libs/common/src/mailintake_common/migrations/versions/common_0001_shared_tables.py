"""Shared tables: documents, timeline, blobs, outbox, processed events, API keys, idempotency.

Revision ID: common_0001
"""

from __future__ import annotations

from alembic import op

from mailintake_common.tables import metadata

revision = "common_0001"
down_revision = None
branch_labels = ("common",)
depends_on = None

SHARED = ("documents", "timeline", "blobs", "outbox", "processed_events", "api_keys", "idempotency_keys")


def upgrade() -> None:
    bind = op.get_bind()
    metadata.create_all(bind, tables=[metadata.tables[name] for name in SHARED])


def downgrade() -> None:
    bind = op.get_bind()
    metadata.drop_all(bind, tables=[metadata.tables[name] for name in reversed(SHARED)])
