"""Indexes that keep the dashboard cheap with millions of documents (issue 16): every figure it
shows is read from an index over the few rows it counts, never from a scan of the whole table.

- documents received per minute (`received_at`), and the documents not yet routed or failed
  (`status` where it is not `routed`);
- held items (`screening ->> 'verdict'` where it is not `clear`);
- dead letters not processed since (`processed_events` where `dead_lettered`);
- queue items routed per minute (`routed_at`), and open items oldest first or by due date;
- open and acknowledged alerts (`status`).

Revision ID: routing_0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "routing_0005"
down_revision = "routing_0004"
branch_labels = None
depends_on = "common_0004"  # processed_events.dead_lettered

INDEXES: list[tuple[str, str, list[str | sa.TextClause], str | None]] = [
    ("ix_documents_received_at", "documents", ["received_at"], None),
    ("ix_documents_unrouted_status", "documents", ["status"], "status <> 'routed'"),
    (
        "ix_documents_held_verdict",
        "documents",
        [sa.text("(screening ->> 'verdict')")],
        "(screening ->> 'verdict') <> 'clear'",
    ),
    ("ix_processed_events_dead_lettered", "processed_events", ["consumer"], "dead_lettered"),
    ("ix_queue_items_routed_at", "queue_items", ["routed_at"], None),
    ("ix_queue_items_open_oldest", "queue_items", ["routed_at"], "completed_at IS NULL"),
    ("ix_queue_items_open_due", "queue_items", ["due_by"], "completed_at IS NULL AND due_by IS NOT NULL"),
    ("ix_alerts_worked_on", "alerts", ["status"], "status IN ('open', 'acknowledged')"),
]


def upgrade() -> None:
    for name, table, columns, where in INDEXES:
        op.create_index(name, table, columns, postgresql_where=sa.text(where) if where else None)


def downgrade() -> None:
    for name, table, _, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
