"""Case links between customers, and items waiting to be identified again (issue 14).

Revision ID: routing_0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "routing_0003"
down_revision = "routing_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("customers", sa.Column("case_ids", ARRAY(sa.Text), nullable=False, server_default="{}"))
    op.create_table(
        "awaiting_identity",
        sa.Column("document_id", sa.String(64), primary_key=True),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("crns", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("emails", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("dobs", ARRAY(sa.Date), nullable=False, server_default="{}"),
        sa.Column("abns", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("sender", sa.Text),
        sa.Column("sender_domain", sa.Text),
        sa.Column("organisation_words", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("classified", JSONB, nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    for column in ("crns", "emails", "dobs", "abns", "organisation_words"):
        op.create_index(f"ix_awaiting_identity_{column}", "awaiting_identity", [column], postgresql_using="gin")


def downgrade() -> None:
    op.drop_table("awaiting_identity")
    op.drop_column("customers", "case_ids")
