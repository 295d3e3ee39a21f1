"""A consumer's processed-event marker says whether the event was applied or dead-lettered, so a
replay of a dead-lettered event is processed again while a redelivery is still skipped (issue 16).

Revision ID: common_0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "common_0004"
down_revision = "common_0003_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("processed_events", sa.Column("dead_lettered", sa.Boolean, nullable=False, server_default="false"))


def downgrade() -> None:
    op.drop_column("processed_events", "dead_lettered")
