"""Personal details stay in the database (issue 15): the tables v2 events leave their details in.

`received_details` (written by intake), `screening_details` (quarantine) and
`classification_details` (the classifier): one JSONB row per document, read by the next stage.

Revision ID: common_0007_details
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "common_0007_details"
down_revision = "common_0006_document_blobs"
branch_labels = None
depends_on = None

TABLES = ("received_details", "screening_details", "classification_details")


def upgrade() -> None:
    for name in TABLES:
        op.create_table(
            name,
            sa.Column("document_id", sa.String(64), sa.ForeignKey("documents.document_id"), primary_key=True),
            sa.Column("details", JSONB, nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        )


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_table(name)
