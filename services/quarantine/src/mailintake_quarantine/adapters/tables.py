"""Quarantine's table, described for SQLAlchemy Core (created by its migration)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, String, Table, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from mailintake_common.tables import metadata

quarantine_items = Table(
    "quarantine_items",
    metadata,
    Column("document_id", String(64), ForeignKey("documents.document_id"), primary_key=True),
    Column("verdict", String(32), nullable=False),
    Column("reasons", ARRAY(Text), nullable=False),
    Column("findings", JSONB, nullable=False),
    # The received event's payload, so a released item can be screened again
    Column("received", JSONB, nullable=False),
    Column("held_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("released_at", DateTime(timezone=True)),
    Column("released_by", String(32)),
    Column("release_reason", Text),
)
