"""Published outbox rows by topic and publication order: the HTTP feed `mailintake tail` reads
(routing's `GET /v1/queues/{queue}/events`, issue 15) instead of the broker.

Revision ID: common_0008_feed
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "common_0008_feed"
down_revision = "common_0007_details"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_outbox_published_topic",
        "outbox",
        ["topic", "published_at", "id"],
        postgresql_where=sa.text("published_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_published_topic", table_name="outbox")
