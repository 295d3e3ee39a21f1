"""API keys: last use, revocation (when and by which key), and the dashboard's login sessions (issue 15).

Revision ID: common_0003_keys
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "common_0003_keys"
down_revision = "common_0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("last_used_at", TZ))
    op.add_column("api_keys", sa.Column("revoked_at", TZ))
    op.add_column("api_keys", sa.Column("revoked_by", sa.String(32)))
    op.create_table(
        "api_key_sessions",
        sa.Column("session_hash", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.String(32), sa.ForeignKey("api_keys.key_id"), nullable=False),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", TZ, nullable=False),
    )
    op.create_index("ix_api_key_sessions_key", "api_key_sessions", ["key_id"])


def downgrade() -> None:
    op.drop_index("ix_api_key_sessions_key", table_name="api_key_sessions")
    op.drop_table("api_key_sessions")
    op.drop_column("api_keys", "revoked_by")
    op.drop_column("api_keys", "revoked_at")
    op.drop_column("api_keys", "last_used_at")
