"""Which documents name which blobs, for retention (records disposal, issue 16); processed-event
ids indexed by age, so disposal finds old ones without reading the table.

Backfilled from the outbox rows still kept (`MAILINTAKE_OUTBOX_RETENTION_HOURS`): a blob whose
documents are older has no link, and retention keeps a blob nobody is known to own.

Revision ID: common_0006_document_blobs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "common_0006_document_blobs"
down_revision = "common_0005_racs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_blobs",
        sa.Column("document_id", sa.String(64), primary_key=True),
        sa.Column("sha256", sa.String(64), sa.ForeignKey("blobs.sha256"), primary_key=True),
    )
    op.create_index("ix_document_blobs_sha256", "document_blobs", ["sha256"])
    op.create_index("ix_processed_events_processed_at", "processed_events", ["processed_at"])
    op.execute(
        """
        INSERT INTO document_blobs (document_id, sha256)
        SELECT DISTINCT o.document_id, ref.sha
        FROM outbox o
        CROSS JOIN LATERAL jsonb_path_query(convert_from(o.value, 'UTF8')::jsonb, 'lax $.payload.**.sha256') AS j(v)
        CROSS JOIN LATERAL (SELECT j.v #>> '{}' AS sha) AS ref
        JOIN blobs b ON b.sha256 = ref.sha
        WHERE o.document_id IS NOT NULL AND o.event_type <> 'dead_letter' AND o.topic NOT LIKE '%.dlq'
        ON CONFLICT DO NOTHING
        """
    )


def downgrade() -> None:
    op.drop_index("ix_processed_events_processed_at", table_name="processed_events")
    op.drop_index("ix_document_blobs_sha256", table_name="document_blobs")
    op.drop_table("document_blobs")
