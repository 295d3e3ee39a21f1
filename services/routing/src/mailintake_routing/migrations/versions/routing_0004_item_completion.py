"""Queue items as work: completed (when, by whom, outcome, note); depth and overdue count open
items only (issue 16).

Revision ID: routing_0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "routing_0004"
down_revision = "routing_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("queue_items", sa.Column("completed_at", sa.DateTime(timezone=True)))
    op.add_column("queue_items", sa.Column("completed_by", sa.Text))
    op.add_column("queue_items", sa.Column("outcome", sa.Text))
    op.add_column("queue_items", sa.Column("note", sa.Text))
    op.create_index(
        "ix_queue_items_open", "queue_items", ["queue", "routed_at"], postgresql_where=sa.text("completed_at IS NULL")
    )


def downgrade() -> None:
    op.drop_index("ix_queue_items_open", table_name="queue_items")
    for column in ("note", "outcome", "completed_by", "completed_at"):
        op.drop_column("queue_items", column)
