"""A document's RACS level may be "not yet known" (NULL): visible only to racs:3 (issue 15).

Documents already read (classified) or failed but not yet routed become unknown; routed
documents keep the level routing gave them; received and screened documents keep 0.

Revision ID: common_0005_racs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "common_0005_racs"
down_revision = "common_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("documents", "racs_level", existing_type=sa.Integer, nullable=True)
    op.execute("UPDATE documents SET racs_level = NULL WHERE status IN ('classified', 'failed')")


def downgrade() -> None:
    op.execute("UPDATE documents SET racs_level = 3 WHERE racs_level IS NULL")
    op.alter_column("documents", "racs_level", existing_type=sa.Integer, nullable=False)
