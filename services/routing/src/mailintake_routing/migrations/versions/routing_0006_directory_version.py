"""A version of the directory, bumped by every directory change, and the checks routing's write
statement makes (issue 18, session 10).

Routing looks the directory up in an autocommitted statement, and its write statement (claim and
writes, also autocommitted) checks that nothing changed since: no BEGIN or COMMIT, and no row
locks held across its decision. Every directory upsert bumps the version in its transaction
(`awaiting.hold_still`), after it locks `awaiting_identity` against writers; routing's write
statement always writes to that table, so it takes its lock before its snapshot and sees any
upsert that committed since the look-up, or that it waited for.

- `routing_directory_version`: one row, the version.
- `routing_look_again(why)`: raises `serialization_failure` (40001) with `why`; routing's write
  statement calls it only when the directory's version is no longer the one its look-up read, or
  when another document remembered the content key since (that document is first): the statement
  writes nothing and routing runs again.

Revision ID: routing_0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "routing_0006"
down_revision = "routing_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "routing_directory_version",
        sa.Column("only_row", sa.Boolean, primary_key=True, server_default=sa.true()),
        sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
        sa.CheckConstraint("only_row", name="routing_directory_version_one_row"),
    )
    op.execute("INSERT INTO routing_directory_version (only_row, version) VALUES (true, 0)")
    op.execute(
        """
        CREATE FUNCTION routing_look_again(why TEXT) RETURNS BOOLEAN LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            RAISE EXCEPTION '%', why USING ERRCODE = 'serialization_failure';
        END $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION routing_look_again(TEXT)")
    op.drop_table("routing_directory_version")
