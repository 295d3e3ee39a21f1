"""Write-only statements of a unit of work, sent as one statement before COMMIT (issue 18).

Most statements a stage runs in its transaction return nothing it needs: the timeline entry,
the details, the blob's content, the blob links, the outbox row and its NOTIFY. A unit of work
collects them here (`Writes.add`) and `flush` sends them together as one statement of
data-modifying CTEs (`WITH w0 AS (INSERT ...), w1 AS (INSERT ...) SELECT pg_notify(...)`), in
the same transaction, before COMMIT: a write that fails fails the statement, so the whole unit
rolls back as before. A statement whose result is needed (a claim, the idempotency key, a
status that must have moved) still runs where it is.

Rules that keep this the same as running each statement in turn:

- Rows of one kind go in one INSERT ... SELECT (its rows joined by UNION ALL) in the order they
  were added, so ids (timeline, outbox) keep the order of the calls.
- The CTEs of one statement see the same snapshot: none may depend on another's row. A blob
  link names blobs written in the same statement by value (`pending`), never by reading them.
- A row with a key (one document's details, one document's status) replaces its pending row of
  the same kind when a later write would simply overwrite it (an upsert), and otherwise sends
  the pending writes first.
- Any other statement on the unit's connection sends the pending writes first (`send_first`, a
  `before_execute` hook, as an ORM session autoflushes): a later read or UPDATE in the same
  unit sees them, exactly as if each write had run when it was called.

The statement for one shape (which kinds, how many rows of each) is built once and kept, so its
text is the same each time and the driver's prepared statement is reused.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import (
    CTE,
    ColumnElement,
    Connection,
    Engine,
    Executable,
    Table,
    bindparam,
    event,
    exists,
    func,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import UpdateBase

from mailintake_common import statements
from mailintake_common.statements import Record, Statement

MAX_PENDING_ROWS = 64  # a larger unit (a directory upsert routing many items again) flushes in parts

Row = dict[str, Any]


Condition = ColumnElement[bool]


@dataclass(frozen=True, eq=False)
class Kind:
    """A kind of deferred write. `build(n, condition)` gives the DML for `n` rows (one multi-row
    statement, or one per row), each row's parameters named `f"{name}{i}_{key}"`, writing only
    when `condition` holds (None: always)."""

    name: str
    build: Callable[[int, Condition | None], Sequence[UpdateBase]]
    notify: str | None = None  # a channel to NOTIFY when the statement holds rows of this kind


@dataclass(frozen=True, eq=False)
class Gate:
    """A statement the writes wait on (a consumer's claim of its event id): sent in the same
    statement as them, which write only when its first CTE returns a row. `ctes()` builds its
    CTEs; their parameters are the gate's own (not prefixed)."""

    name: str
    ctes: Callable[[], Sequence[CTE]]
    answers: str | None = None  # the parameter whose value its first CTE returns when it says yes


def rows_insert(
    name: str,
    table: Table,
    columns: Sequence[str],
    conflict: Callable[[Insert], Insert] | None = None,
    notify: str | None = None,
) -> Kind:
    """A kind whose rows go into `table` in one INSERT (then `conflict`, e.g. an upsert)."""

    def build(count: int, condition: Condition | None) -> Sequence[UpdateBase]:
        rows = [
            [bindparam(f"{name}{i}_{column}", type_=table.c[column].type) for column in columns] for i in range(count)
        ]
        # INSERT ... SELECT the rows (WHERE the condition holds), in order: unlike a multi-row
        # VALUES, SQLAlchemy caches its compiled form
        selects = [select(*row) if condition is None else select(*row).where(condition) for row in rows]
        statement = insert(table).from_select(columns, selects[0] if count == 1 else union_all(*selects))
        return [conflict(statement) if conflict else statement]

    return Kind(name, build, notify)


def one_per_row(name: str, statement: Callable[[str, Condition | None], UpdateBase], notify: str | None = None) -> Kind:
    """A kind sent as one statement per row (an UPDATE): `statement(prefix, condition)` names its
    parameters `prefix + key`."""
    return Kind(name, lambda count, condition: [statement(f"{name}{i}_", condition) for i in range(count)], notify)


@lru_cache(maxsize=128)
def _statement(shape: tuple[tuple[Kind, int], ...], gate: Gate | None = None) -> Statement[Record]:
    """One statement for `shape` (and `gate`): every write a CTE; its result the gate's answer
    (one row or none) and the NOTIFYs. Run on the driver connection (statements.py)."""
    return Statement(_clause(shape, gate))


def _clause(shape: tuple[tuple[Kind, int], ...], gate: Gate | None) -> Executable:
    gating: Sequence[CTE] = gate.ctes() if gate else ()
    answer = gating[0] if gating else None
    condition = exists(select(answer.c[0])) if answer is not None else None
    dml = [d for kind, count in shape for d in kind.build(count, condition)]
    ctes = [*gating[1:], *(d.cte(f"w{i}") for i, d in enumerate(dml))]
    channels = sorted({kind.notify for kind, _ in shape if kind.notify})
    notifies = [func.pg_notify(literal_column(f"'{c}'"), literal_column("''")) for c in channels]
    if answer is not None:
        return select(answer.c[0], *notifies).select_from(answer).add_cte(*ctes)
    return select(*notifies).add_cte(*ctes) if notifies else select(literal_column("1")).add_cte(*ctes)


@dataclass(frozen=True)
class Taken:
    """Pending writes taken to be sent: their statement, parameters and, when gated, what to
    raise if the gate says no."""

    statement: Statement[Record]
    params: dict[str, Any]
    refused: Callable[[], Exception] | None
    answer: Any = None  # what the gate answers with when it says yes (its first column): group_commit.py

    def check(self, rows: Sequence[Any]) -> None:
        """`rows`: what the statement returned (the gate's answer is its first row)."""
        if self.refused is not None and not rows:
            raise self.refused()


class Writes:
    """The pending write-only statements of one unit of work."""

    def __init__(self) -> None:
        self._rows: dict[Kind, list[Row]] = {}
        self._keyed: dict[Hashable, tuple[Kind, int]] = {}
        self._count = 0
        self._gate: tuple[Gate, Row, Callable[[], Exception]] | None = None

    def __bool__(self) -> bool:
        return bool(self._rows) or self._gate is not None

    def gate(self, gate: Gate, params: Row, refused: Callable[[], Exception]) -> None:
        """Send `gate` with the first statement this unit sends (the writes, or alone before any
        other statement), the writes only if it answers with a row, else raise `refused()`."""
        self._gate = (gate, params, refused)

    def take_gate(self) -> tuple[Gate, Row, Callable[[], Exception]] | None:
        """The gate not yet sent, which is then no longer pending: the caller sends it in a
        statement of its own (routing's look-up, issue 18) and raises `refused()` if it says no."""
        gate, self._gate = self._gate, None
        return gate

    def pending(self, key: Hashable) -> bool:
        return key in self._keyed

    async def add(
        self,
        conn: AsyncConnection,
        kind: Kind,
        row: Row,
        *,
        key: Hashable | None = None,
        merge: Callable[[Row, Row], Row] | None = None,
        replaces: bool = True,
    ) -> None:
        """Defer `row`. With a `key` already pending in the same kind, `merge(old, new)` replaces
        the pending row (without `merge`, the new row does, as a second upsert would); a key
        pending in another kind, or in a kind whose rows do not simply replace each other
        (`replaces=False`: an UPDATE that decides on what it finds), sends the pending writes first."""
        if key is not None and key in self._keyed:
            held, index = self._keyed[key]
            if held is kind and replaces:
                old = self._rows[kind][index]
                self._rows[kind][index] = merge(old, row) if merge else row
                return
            await self.flush(conn)
        if self._count >= MAX_PENDING_ROWS:
            await self.flush(conn)
        rows = self._rows.setdefault(kind, [])
        rows.append(row)
        self._count += 1
        if key is not None:
            self._keyed[key] = (kind, len(rows) - 1)

    async def flush(self, conn: AsyncConnection, *, alone: bool = False) -> None:
        """Send the pending writes as one statement (nothing pending: no statement), in the
        connection's transaction, or with `alone` as a transaction of its own (statements.py)."""
        if taken := self.take():
            await send(conn, taken, alone=alone)

    def take(self) -> Taken | None:
        """The pending writes (and gate) as one statement, which are then no longer pending."""
        if not self:
            return None
        shape = tuple((kind, len(rows)) for kind, rows in self._rows.items())
        params = {
            f"{kind.name}{i}_{key}": value
            for kind, rows in self._rows.items()
            for i, row in enumerate(rows)
            for key, value in row.items()
        }
        gate, refused, answer = None, None, None
        if self._gate is not None:
            gate, gate_params, refused = self._gate
            params.update(gate_params)
            answer = gate_params[gate.answers] if gate.answers else None
        self._rows, self._keyed, self._count, self._gate = {}, {}, 0, None
        return Taken(_statement(shape, gate), params, refused, answer)


async def send(conn: AsyncConnection, taken: Taken, *, alone: bool = False) -> None:
    """Send taken writes on `conn` (on the driver connection: statements.py)."""
    taken.check(await statements.run(conn, taken.statement, taken.params, alone=alone))


_OF_CONNECTION: WeakKeyDictionary[Connection, Writes] = WeakKeyDictionary()


def of_connection(conn: AsyncConnection, writes: Writes) -> Writes:
    """The deferred writes of `conn`'s checkout: `writes`, unless the connection has some already
    (two units of work on one connection share them). Other statements on it send them first."""
    return _OF_CONNECTION.setdefault(conn.sync_connection, writes) if conn.sync_connection else writes


def _send_pending(conn: Connection) -> None:
    writes = _OF_CONNECTION.get(conn)
    if writes and (taken := writes.take()):  # taken first: this execute does not come back here
        taken.check(conn.execute(taken.statement.clause, taken.params).all())


async def _send_pending_first(conn: AsyncConnection) -> None:
    """A statement run on the driver connection (statements.py): the pending writes go first."""
    writes = _OF_CONNECTION.get(conn.sync_connection) if conn.sync_connection else None
    if writes and (taken := writes.take()):
        await send(conn, taken)


statements.before_each(_send_pending_first)


@event.listens_for(Engine, "before_execute")
def send_first(conn: Connection, clause: Any, multiparams: Any, params: Any, options: Any) -> None:
    """A statement on a connection with deferred writes: the writes go first (issue 18)."""
    _send_pending(conn)


@event.listens_for(Engine, "commit")
def send_before_commit(conn: Connection) -> None:
    """A COMMIT on a connection with deferred writes that nobody flushed: they go first."""
    _send_pending(conn)


@event.listens_for(Engine, "rollback")
def forget_on_rollback(conn: Connection) -> None:
    """A rolled back unit's deferred writes are dropped with it."""
    if writes := _OF_CONNECTION.get(conn):
        writes.take()
