"""The directory's exact identifiers held in arrays, one row each, for look-ups by equality on a
B-tree (issue 18, session 11).

Routing's look-up found an e-mail's sender among customers (`emails && ...`) and organisations
(`email_domains && ... OR sender_addresses && ...`) by sequential scans: PostgreSQL's generic plan
estimates `&&` on a value it has no statistics for at about 1% of the rows and chose the scan over
the GIN index on customers' e-mails (and GIN indexes on the organisations' arrays were not used
either, session 8). These tables hold each element of those arrays with its record's id; the
look-up finds the ids by equality on their primary keys, then the records by theirs.

- `customer_emails (email, customer_id)`: each element of `customers.emails`, as stored.
- `organisation_addresses (address, is_domain, organisation_id)`: each element of
  `organisations.email_domains` (is_domain) and of `sender_addresses` (not), as stored.

Kept in step by triggers on `customers` and `organisations` (after an insert, and after an update
that changes the arrays or the id), so in the same transaction as whatever writes a record (the
directory upserts, `adapters/directory.py`, after `awaiting.hold_still` has bumped the directory's
version) and in the same snapshot for a reader; a deleted record's rows go with it (ON DELETE
CASCADE). Filled here from the records already stored. An element over 2,000 octets, which no
address or domain is, is not held, so not found.

Revision ID: routing_0007
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "routing_0007"
down_revision = "routing_0006"
branch_labels = None
depends_on = None


# An element longer than this is not held (a B-tree entry must fit in a third of a page, and an upsert
# of such a record must not fail): no e-mail address (254 octets, RFC 5321) or domain (253) is.
_LONGEST = 2000


class _Kept:
    """A record table (`record`, its id `record_id`), the key table that holds its arrays' elements
    (`keys`: its name and columns), and per array the value of the key table's flag column (None:
    it has none); `function` keeps the key table in step."""

    def __init__(self, record: str, record_id: str, keys: str, arrays: dict[str, str | None], function: str) -> None:
        self.record, self.record_id, self.keys, self.arrays, self.function = record, record_id, keys, arrays, function
        self.table = keys.split(" (")[0]

    def elements(self, row: str, source: str) -> str:
        """Each distinct non-null element of the arrays of `row` (read from `source`), with its id."""
        return " UNION ".join(
            f"SELECT DISTINCT k{', ' + flag if flag else ''}, {row}.{self.record_id}"
            f" FROM {source} unnest({row}.{array}) AS k WHERE k IS NOT NULL AND octet_length(k) <= {_LONGEST}"
            for array, flag in self.arrays.items()
        )

    def create(self) -> None:
        op.execute(f"INSERT INTO {self.keys} {self.elements(self.record, self.record + ',')}")
        op.execute(
            f"CREATE FUNCTION {self.function}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " IF TG_OP = 'UPDATE' THEN"
            f" DELETE FROM {self.table} WHERE {self.record_id} IN (OLD.{self.record_id}, NEW.{self.record_id});"
            f" END IF; INSERT INTO {self.keys} {self.elements('NEW', '')}; RETURN NULL; END $$"
        )
        changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in (self.record_id, *self.arrays))
        op.execute(
            f"CREATE TRIGGER {self.function}_added AFTER INSERT ON {self.record}"
            f" FOR EACH ROW EXECUTE FUNCTION {self.function}()"
        )
        op.execute(
            f"CREATE TRIGGER {self.function}_changed AFTER UPDATE ON {self.record} FOR EACH ROW"
            f" WHEN ({changed}) EXECUTE FUNCTION {self.function}()"
        )
        op.execute(f"ANALYZE {self.table}")

    def drop(self) -> None:
        op.execute(f"DROP TRIGGER {self.function}_changed ON {self.record}")
        op.execute(f"DROP TRIGGER {self.function}_added ON {self.record}")
        op.execute(f"DROP FUNCTION {self.function}()")
        op.drop_table(self.table)


_KEPT = (
    _Kept(
        "customers", "customer_id", "customer_emails (email, customer_id)", {"emails": None}, "routing_customer_emails"
    ),
    _Kept(
        "organisations",
        "organisation_id",
        "organisation_addresses (address, is_domain, organisation_id)",
        {"email_domains": "true", "sender_addresses": "false"},
        "routing_organisation_addresses",
    ),
)


def _key_table(name: str, keys: list[sa.Column[Any]], record: str, record_id: str) -> None:
    """A key table: its keys with the id of the record holding them, all in the primary key."""
    owner = sa.ForeignKey(f"{record}.{record_id}", ondelete="CASCADE", onupdate="CASCADE")
    op.create_table(name, *keys, sa.Column(record_id, sa.String(64), owner, primary_key=True))
    op.create_index(f"ix_{name}_{record_id}", name, [record_id])  # the trigger's delete, the cascade


def upgrade() -> None:
    _key_table("customer_emails", [sa.Column("email", sa.Text, primary_key=True)], "customers", "customer_id")
    keys: list[sa.Column[Any]] = [
        sa.Column("address", sa.Text, primary_key=True),
        sa.Column("is_domain", sa.Boolean, primary_key=True),
    ]
    _key_table("organisation_addresses", keys, "organisations", "organisation_id")
    for kept in _KEPT:
        kept.create()


def downgrade() -> None:
    for kept in reversed(_KEPT):
        kept.drop()
