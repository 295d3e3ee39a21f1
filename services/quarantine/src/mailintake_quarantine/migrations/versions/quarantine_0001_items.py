"""Quarantine's own table: items held (quarantined or waiting for manual adjustment).

Revision ID: quarantine_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "quarantine_0001"
down_revision = None
branch_labels = ("quarantine",)
depends_on = "common_0001"


def upgrade() -> None:
    op.create_table(
        "quarantine_items",
        sa.Column("document_id", sa.String(64), sa.ForeignKey("documents.document_id"), primary_key=True),
        sa.Column("verdict", sa.String(32), nullable=False),
        sa.Column("reasons", ARRAY(sa.Text), nullable=False),
        sa.Column("findings", JSONB, nullable=False),
        sa.Column("received", JSONB, nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("released_at", sa.DateTime(timezone=True)),
        sa.Column("released_by", sa.String(32)),
        sa.Column("release_reason", sa.Text),
    )
    op.create_index("ix_quarantine_items_held", "quarantine_items", ["held_at", "document_id"])


def downgrade() -> None:
    op.drop_table("quarantine_items")
