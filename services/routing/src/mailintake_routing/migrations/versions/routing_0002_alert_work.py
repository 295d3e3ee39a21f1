"""Alerts as work: acknowledged and closed (when, by whom, outcome, note), and alerts raised
for documents whose customer is unknown (issue 13).

Revision ID: routing_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "routing_0002"
down_revision = "routing_0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("alerts", sa.Column("acknowledged_at", TZ))
    op.add_column("alerts", sa.Column("acknowledged_by", sa.Text))
    op.add_column("alerts", sa.Column("closed_at", TZ))
    op.add_column("alerts", sa.Column("closed_by", sa.Text))
    op.add_column("alerts", sa.Column("outcome", sa.String(32)))
    op.add_column("alerts", sa.Column("note", sa.Text))
    op.add_column("alerts", sa.Column("customer_unknown", sa.Boolean, nullable=False, server_default="false"))
    op.create_index("ix_alerts_status_raised", "alerts", ["status", "raised_at"])


def downgrade() -> None:
    op.drop_index("ix_alerts_status_raised", table_name="alerts")
    for column in (
        "customer_unknown",
        "note",
        "outcome",
        "closed_by",
        "closed_at",
        "acknowledged_by",
        "acknowledged_at",
    ):
        op.drop_column("alerts", column)
