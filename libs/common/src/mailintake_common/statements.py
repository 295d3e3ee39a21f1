"""The hot statements, run on the asyncpg connection underneath SQLAlchemy (issue 18).

SQLAlchemy costs about 60-140 us of CPU around each statement over asyncpg itself (the
greenlet hop, the cache key and compiled-statement look-up, the execution context, result
processing). The few statements every event runs (the batch check-in, a stage's write
statement, its claim, a blob's read) are `Statement`s instead: SQL compiled once by
SQLAlchemy for the engine's dialect (the same text, casts and bind processing it would send),
then run by `run` on the driver connection, where asyncpg keeps each text's prepared statement.

`run` keeps what SQLAlchemy's own execution promised:

- The transaction: on a connection that is not autocommit, a statement runs inside the
  connection's transaction, begun as SQLAlchemy's asyncpg adapter begins it (lazily, at the
  first statement): SQLAlchemy's transaction is begun too, so `commit()` and `rollback()` end
  what the statement wrote. `alone=True` runs the statement outside any transaction (its own,
  autocommitted), and refuses a connection that has one open.
- What must go first: callbacks registered with `before_each` run before each statement
  (the unit of work's deferred writes go first, as SQLAlchemy's `before_execute` hook sends
  them before its own statements: writes.py).
- Errors: a driver error is translated and handled by SQLAlchemy itself (the same exception
  classes; a dead connection is invalidated and its error says `connection_invalidated`), so
  `db.is_dead_connection`, `db.is_unavailable` and the retries behave as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, NoReturn, TypeVar

from sqlalchemy import Connection, Dialect, Executable, text
from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")
Record = Any  # asyncpg.Record: by position or by name (row["attempts"])

_BEFORE: list[Callable[[AsyncConnection], Awaitable[None]]] = []


def before_each(callback: Callable[[AsyncConnection], Awaitable[None]]) -> None:
    """Run `callback(conn)` before each statement `run` sends (writes.py: the pending writes)."""
    _BEFORE.append(callback)


class _Compiled:
    """One statement's SQL for a dialect, and how its parameters go in, by position."""

    __slots__ = ("_defaults", "_names", "_processors", "sql")

    def __init__(self, clause: Executable, dialect: Dialect) -> None:
        compiled = clause.compile(dialect=dialect)  # type: ignore[attr-defined]
        for bind in compiled.binds.values():
            if bind.expanding or bind.literal_execute:  # rendered per call: not a prebuilt text
                raise ValueError("a prebuilt statement cannot have expanding or literal-execute parameters")
        self.sql: str = compiled.string
        self._names: tuple[str, ...] = tuple(compiled.positiontup or ())
        processors = compiled._bind_processors
        self._processors = tuple(processors.get(name) for name in self._names)
        by_name = {compiled.bind_names[bind]: bind for bind in compiled.bind_names}
        self._defaults = {
            name: by_name[name].effective_value
            for name in self._names
            if by_name[name].value is not None or by_name[name].callable is not None
        }

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        out = []
        for name, process in zip(self._names, self._processors, strict=True):
            value = params[name] if name in params else self._defaults[name]
            out.append(process(value) if process is not None and value is not None else value)
        return out


class Statement(Generic[T]):
    """A statement built once: its SQL is compiled at first use and kept; each row it returns
    is given to `row` (a typed result), or returned as asyncpg's record."""

    __slots__ = ("_compiled", "_row", "clause")

    def __init__(self, clause: Executable | str, row: Callable[[Record], T] | None = None) -> None:
        self.clause: Executable = text(clause) if isinstance(clause, str) else clause
        self._row = row
        self._compiled: tuple[Dialect, _Compiled] | None = None

    def compiled(self, dialect: Dialect) -> _Compiled:
        kept = self._compiled
        if kept is None or kept[0] is not dialect:
            kept = self._compiled = (dialect, _Compiled(self.clause, dialect))
        return kept[1]

    def rows(self, records: list[Record]) -> list[T]:
        return records if self._row is None else [self._row(r) for r in records]


def unfolded_array(name: str, element: str) -> str:
    """SQL for the array parameter `:name` of `element`s, read through a sub-select, which
    PostgreSQL does not fold into a plan: a plan made for the values at hand is then costed as the
    kept (generic) plan is, so after a connection's first five calls the kept plan serves instead
    of the statement being planned again on every call (issue 18, sessions 11 and 12). The outer
    CAST makes `= ANY(...)` read it as an array, not as `ANY (subquery)`."""
    return f"CAST((SELECT CAST(:{name} AS {element}[])) AS {element}[])"


async def run(
    conn: AsyncConnection, statement: Statement[T], params: Mapping[str, Any] | None = None, *, alone: bool = False
) -> list[T]:
    """Run `statement` on `conn`'s driver connection and return its rows.

    In the connection's transaction (begun now if the connection is not autocommit and has none
    yet), or with `alone` outside any transaction; what `before_each` registered goes first."""
    for callback in _BEFORE:
        await callback(conn)
    compiled = statement.compiled(conn.dialect)
    args = compiled.args(params or {})
    if alone and conn.in_transaction():
        raise RuntimeError("a statement meant to run alone was given a connection inside a transaction")
    try:
        driver = await _driver(conn, alone)
        records = await driver.fetch(compiled.sql, *args)
    except Exception as exc:
        await _failed(conn, exc, compiled.sql, args)
    return statement.rows(records)


async def run_many(conn: AsyncConnection, statement: Statement[T], many: Sequence[Mapping[str, Any]]) -> list[T]:
    """Run `statement` once for each of `many` on `conn`'s driver connection, outside any
    transaction of the connection's, and return every execution's rows in order (group commit,
    issue 18). asyncpg's `fetchmany` binds and executes them in one pipelined message with one
    Sync: one implicit transaction, so either all of them commit or none does, and each execution
    sees the ones before it, as statements sent one after another would."""
    for callback in _BEFORE:
        await callback(conn)
    compiled = statement.compiled(conn.dialect)
    args = [compiled.args(params) for params in many]
    if conn.in_transaction():
        raise RuntimeError("statements meant to run together were given a connection inside a transaction")
    try:
        driver = await _driver(conn, True)
        records = await driver.fetchmany(compiled.sql, args)
    except Exception as exc:
        await _failed(conn, exc, compiled.sql, args[0] if args else [])
    return statement.rows(records)


async def commit(conn: AsyncConnection) -> None:
    """`conn.commit()`, with the COMMIT sent on the driver connection (issue 18: SQLAlchemy's
    commit cost a greenlet hop and its execution path around the round trip). What `before_each`
    registered goes first, as SQLAlchemy's commit hook sends a unit's pending writes; SQLAlchemy's
    side of the transaction then ends without a round trip (the driver has none left). A failed
    COMMIT raises what SQLAlchemy would have (translated; a dead connection invalidated), and the
    transaction is over either way, as with asyncpg's own. A connection with no driver
    transaction (autocommit, or nothing sent yet) commits through SQLAlchemy as before."""
    sync = conn.sync_connection
    adapted: Any = sync.connection.dbapi_connection if sync is not None and not sync.invalidated else None
    if adapted is None or adapted._transaction is None:
        await conn.commit()
        return
    for callback in _BEFORE:
        await callback(conn)
    try:
        await adapted._call_and_discard(adapted._transaction.commit)  # as the adapter's own commit()
    except Exception as exc:
        await _failed(conn, exc, "COMMIT", [])
    assert sync is not None
    sync.commit()  # no round trip and no await: the adapter has no transaction to end


async def _driver(conn: AsyncConnection, alone: bool) -> Any:
    """The asyncpg connection, inside the transaction SQLAlchemy would have begun (unless `alone`)."""
    sync = conn.sync_connection
    fairy = sync.connection if sync is not None and not sync.invalidated else await conn.get_raw_connection()
    adapted: Any = fairy.dbapi_connection  # SQLAlchemy's asyncpg adapter (its transaction is private)
    if alone:
        if adapted._transaction is not None:
            raise adapted.dbapi.InterfaceError("the driver connection is inside a transaction")
    elif adapted._transaction is None and adapted.isolation_level != "autocommit":
        if sync is not None and not sync.in_transaction():
            sync.begin()  # SQLAlchemy's side of its autobegin (no round trip: BEGIN is the driver's)
        await adapted._start_transaction()  # BEGIN, as the adapter sends it before its first statement
    return fairy.driver_connection


async def _failed(conn: AsyncConnection, exc: Exception, sql: str, args: list[Any]) -> NoReturn:
    """Raise what SQLAlchemy would have raised for `exc` (translated; a dead connection invalidated)."""

    def handle(sync: Connection) -> None:
        fairy = sync.connection
        try:
            fairy.dbapi_connection._handle_exception(exc)  # type: ignore[union-attr]
        except Exception as translated:
            sync._handle_dbapi_exception(translated, sql, tuple(args), None, None)

    if conn.sync_connection is None or conn.sync_connection.invalidated:
        raise exc
    await conn.run_sync(handle)
    raise exc
