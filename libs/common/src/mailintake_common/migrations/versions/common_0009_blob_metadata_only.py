"""A blob row may hold metadata only: with `MAILINTAKE_BLOB_STORE=s3` the content is in the bucket.

Revision ID: common_0009_blobs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "common_0009_blobs"
down_revision = "common_0008_feed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("blobs", "content", existing_type=sa.LargeBinary, nullable=True)


def downgrade() -> None:
    # Rows whose content is in object storage cannot go back to NOT NULL without it.
    op.alter_column("blobs", "content", existing_type=sa.LargeBinary, nullable=False)
