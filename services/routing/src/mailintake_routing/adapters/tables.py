"""Routing's tables, described for SQLAlchemy Core (created by its migration)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Date, DateTime, Dialect, Integer, String, Table, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.types import TypeDecorator

from mailintake_common.tables import metadata


class EncodedJSONB(TypeDecorator[Any]):
    """JSONB written as JSON text the caller encoded (pydantic's `model_dump_json`), not encoded
    again here; read back decoded, as JSONB. Issue 18, session 12: routing dumped the classified
    payload to Python values and SQLAlchemy encoded those with `json.dumps`, twice the work."""

    impl = JSONB
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None  # the driver's jsonb codec takes the text as it is


customers = Table(
    "customers",
    metadata,
    Column("customer_id", String(64), primary_key=True),
    Column("crn", String(10), nullable=False, unique=True),
    Column("given_name", Text, nullable=False),
    Column("family_name", Text, nullable=False),
    Column("date_of_birth", Date),
    Column("emails", ARRAY(Text), nullable=False, server_default="{}"),
    Column("racs_level", Integer, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The child support cases the customer is a party to (routing_0003): the two parents of a
    # case share its id, so mail naming both is not "multiple customers" (seed 001 line 99).
    Column("case_ids", ARRAY(Text), nullable=False, server_default="{}"),
)

organisations = Table(
    "organisations",
    metadata,
    Column("organisation_id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("abn", String(11)),
    Column("email_domains", ARRAY(Text), nullable=False, server_default="{}"),
    Column("sender_addresses", ARRAY(Text), nullable=False, server_default="{}"),
    Column("kind", String(32), nullable=False),
    Column("secure_messaging", Boolean, nullable=False, server_default="false"),
    Column("in_liquidation", Boolean, nullable=False, server_default="false"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

queue_items = Table(
    "queue_items",
    metadata,
    Column("document_id", String(64), primary_key=True),
    Column("queue", String(64), nullable=False),
    Column("category", String(64), nullable=False),
    Column("sub_category", String(64)),
    Column("exemption", Boolean, nullable=False),
    Column("priority", Boolean, nullable=False),
    Column("due_by", DateTime(timezone=True)),
    Column("customer_ids", ARRAY(Text), nullable=False, server_default="{}"),
    Column("organisation_id", String(64)),
    Column("racs_level", Integer, nullable=False, server_default="0"),
    Column("at_risk", Boolean, nullable=False, server_default="false"),
    Column("reasons", JSONB, nullable=False, server_default="[]"),
    Column("routed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Work after routing (routing_0004): an officer completed the item; depth counts open ones only.
    Column("completed_at", DateTime(timezone=True)),
    Column("completed_by", Text),
    Column("outcome", Text),
    Column("note", Text),
)

reroutes = Table(
    "reroutes",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("document_id", String(64), nullable=False),
    Column("from_queue", String(64), nullable=False),
    Column("to_queue", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

alerts = Table(
    "alerts",
    metadata,
    Column("alert_id", String(64), primary_key=True),
    Column("document_id", String(64), nullable=False, unique=True),
    Column("queue", String(64), nullable=False),
    Column("customer_ids", ARRAY(Text), nullable=False, server_default="{}"),
    Column("categories", ARRAY(Text), nullable=False),
    Column("racs_level", Integer, nullable=False, server_default="0"),
    Column("status", String(16), nullable=False, server_default="open"),
    Column("raised_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Work after routing (routing_0002): who acknowledged and closed it, when, and with what outcome.
    Column("acknowledged_at", DateTime(timezone=True)),
    Column("acknowledged_by", Text),
    Column("closed_at", DateTime(timezone=True)),
    Column("closed_by", Text),
    Column("outcome", String(32)),
    Column("note", Text),
    # Raised before anyone knew whose it is (a dead-lettered document): restricted for detail,
    # counted for everyone.
    Column("customer_unknown", Boolean, nullable=False, server_default="false"),
)

seen_content = Table(
    "seen_content",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("document_id", String(64), nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Open items no customer or employer could be found for, with the clues they were routed on
# (routing_0003): a directory upsert that makes one match routes it again (issue 14).
awaiting_identity = Table(
    "awaiting_identity",
    metadata,
    Column("document_id", String(64), primary_key=True),
    Column("queue", String(64), nullable=False),
    Column("crns", ARRAY(Text), nullable=False, server_default="{}"),
    Column("emails", ARRAY(Text), nullable=False, server_default="{}"),
    Column("dobs", ARRAY(Date), nullable=False, server_default="{}"),
    Column("abns", ARRAY(Text), nullable=False, server_default="{}"),
    Column("sender", Text),
    Column("sender_domain", Text),
    Column("organisation_words", ARRAY(Text), nullable=False, server_default="{}"),
    Column("classified", EncodedJSONB, nullable=False),  # the classified event's payload (JSON text), to decide again
    Column("since", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
