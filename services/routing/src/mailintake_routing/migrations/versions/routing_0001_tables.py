"""Routing's tables: directory, queue items, reroute audit, alerts, seen content.

Revision ID: routing_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "routing_0001"
down_revision = None
branch_labels = ("routing",)
depends_on = "common_0001"

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("customer_id", sa.String(64), primary_key=True),
        sa.Column("crn", sa.String(10), nullable=False, unique=True),
        sa.Column("given_name", sa.Text, nullable=False),
        sa.Column("family_name", sa.Text, nullable=False),
        sa.Column("date_of_birth", sa.Date),
        sa.Column("emails", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("racs_level", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_customers_emails", "customers", ["emails"], postgresql_using="gin")
    op.create_index("ix_customers_dob", "customers", ["date_of_birth"])
    op.create_table(
        "organisations",
        sa.Column("organisation_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("abn", sa.String(11)),
        sa.Column("email_domains", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("sender_addresses", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("secure_messaging", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("in_liquidation", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_organisations_abn", "organisations", ["abn"])
    op.create_table(
        "queue_items",
        sa.Column("document_id", sa.String(64), primary_key=True),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("sub_category", sa.String(64)),
        sa.Column("exemption", sa.Boolean, nullable=False),
        sa.Column("priority", sa.Boolean, nullable=False),
        sa.Column("due_by", TZ),
        sa.Column("customer_ids", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("organisation_id", sa.String(64)),
        sa.Column("racs_level", sa.Integer, nullable=False, server_default="0"),
        sa.Column("at_risk", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("reasons", JSONB, nullable=False, server_default="[]"),
        sa.Column("routed_at", TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_queue_items_queue", "queue_items", ["queue", "routed_at", "document_id"])
    op.create_table(
        "reroutes",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("document_id", sa.String(64), nullable=False),
        sa.Column("from_queue", sa.String(64), nullable=False),
        sa.Column("to_queue", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("at", TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.String(64), primary_key=True),
        sa.Column("document_id", sa.String(64), nullable=False, unique=True),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("customer_ids", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("categories", ARRAY(sa.Text), nullable=False),
        sa.Column("racs_level", sa.Integer, nullable=False, server_default="0"),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("raised_at", TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "seen_content",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("document_id", sa.String(64), nullable=False),
        sa.Column("first_seen", TZ, nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    for table in ("seen_content", "alerts", "reroutes", "queue_items", "organisations", "customers"):
        op.drop_table(table)
