"""Units of work that become ready together go to PostgreSQL together: group commit (issue 18).

A consumer's unit that only writes (`HandlerContext.unit_of_work(claim_with_writes=True)`) is one
autocommitted statement: its claim as a gate, then its writes (writes.py). At saturation a service
has up to 16 of them in flight, and each paid a pool checkout's worth of waiting, a round trip, an
event-loop wake-up and, in PostgreSQL, a transaction's start and COMMIT. Units whose statement has
the same text (one shape of writes) share a lane per engine:

- A unit that finds its lane idle sends its statement at once, alone, as before: no added latency.
- Units that become ready while a statement of their lane is in flight wait; when it is over, the
  first of them sends all that waited (up to `MAILINTAKE_DB_GROUP_MAX_UNITS`) on its connection,
  with asyncpg's `fetchmany` (`statements.run_many`): the statement bound and executed once per
  unit in one pipelined message with one Sync, so one implicit transaction and one COMMIT. Each
  execution sees the ones before it, exactly as if the units had been sent one after another (one
  statement holding K units' CTEs would give them one snapshot: two units about one document, or
  with one content key, would not see each other's rows).
- Each unit keeps its gate: its execution returns its event id only when it claimed it, so a unit
  whose id was claimed before writes nothing and its handler sees AlreadyProcessed while the rest
  of its group is written. Two units with one event id never share a group.
- A group commits whole or not at all: a failure (a constraint, routing's stale directory version,
  a dropped connection) takes it all back, and every unit of it is then sent alone on its own
  connection, as before, for its own outcome, retry and dead letter.
"""

from __future__ import annotations

import asyncio
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mailintake_common import statements
from mailintake_common.db import SETTINGS_OPTION, is_dead_connection, sent_alone
from mailintake_common.settings import CommonSettings
from mailintake_common.statements import Record, Statement
from mailintake_common.writes import Taken

_LEAD = "lead"  # a waiting unit's turn to send what waited with it
_ALONE = "alone"  # its group failed: nothing was written, the unit goes alone as before
_DEAD = "dead"  # the group's connection was dead: nothing was written (db.send_again)


class _Unit:
    __slots__ = ("taken", "turn")

    def __init__(self, taken: Taken) -> None:
        self.taken = taken
        self.turn: asyncio.Future[Any] = asyncio.get_running_loop().create_future()


class _Lane:
    """One engine's units whose statement has one text: is one in flight, and who waits."""

    __slots__ = ("busy", "most", "waiting")

    def __init__(self, most: int) -> None:
        self.busy = False
        self.most = most
        self.waiting: list[_Unit] = []

    def group(self, leader: _Unit) -> list[_Unit]:
        """The leader and the units that waited, up to `most`, no two with one answer (event id):
        a second copy of an event waits for a later group."""
        group, answers, left = [leader], {leader.taken.answer}, []
        for unit in self.waiting:
            if unit.turn.done():  # cancelled while it waited
                continue
            if len(group) < self.most and unit.taken.answer not in answers:
                group.append(unit)
                answers.add(unit.taken.answer)
            else:
                left.append(unit)
        self.waiting = left
        return group

    def pass_on(self) -> None:
        """The lane's statement is over: the first unit still waiting sends the next group."""
        while self.waiting:
            unit = self.waiting.pop(0)
            if not unit.turn.done():
                unit.turn.set_result(_LEAD)
                return
        self.busy = False


_LANES: WeakKeyDictionary[Engine, tuple[int, dict[Statement[Record], _Lane]]] = WeakKeyDictionary()


def _lane(engine: AsyncEngine, taken: Taken) -> _Lane | None:
    """`taken`'s lane; None when it cannot share one (no gate that answers) or grouping is off."""
    if taken.answer is None:
        return None
    sync = engine.sync_engine
    kept = _LANES.get(sync)
    if kept is None:
        settings = sync.get_execution_options().get(SETTINGS_OPTION)
        most = settings.db_group_max_units if settings else CommonSettings.model_fields["db_group_max_units"].default
        kept = _LANES[sync] = (most, {})
    most, lanes = kept
    if most <= 1:
        return None
    lane = lanes.get(taken.statement)
    if lane is None:
        lane = lanes[taken.statement] = _Lane(most)
    return lane


async def sent(engine: AsyncEngine, conn: AsyncConnection, taken: Taken) -> bool:
    """Send a unit's writes, autocommitted: at once when its lane is idle, else with the units
    that wait with it. Raises the unit's own refusal (AlreadyProcessed) or error; False when its
    connection was dead and nothing was written (the caller sends it again: `db.send_again`)."""
    lane = _lane(engine, taken)
    if lane is None:
        return await sent_alone(conn, taken)
    unit = _Unit(taken)
    if lane.busy:
        lane.waiting.append(unit)
        turn = await _turn(lane, unit)
        if turn is not _LEAD:
            return await _own(conn, taken, turn)
        group = lane.group(unit)
    else:
        lane.busy, group = True, [unit]
    try:
        if len(group) == 1:
            return await sent_alone(conn, taken)
        outcome = await _together(conn, group)
    finally:
        lane.pass_on()
        for other in group[1:]:  # the leader was cancelled, or failed: each goes alone
            if not other.turn.done():
                other.turn.set_result(_ALONE)
    return await _own(conn, taken, outcome)


async def _turn(lane: _Lane, unit: _Unit) -> Any:
    try:
        return await unit.turn
    except asyncio.CancelledError:
        if unit in lane.waiting:
            lane.waiting.remove(unit)
        elif unit.turn.done() and not unit.turn.cancelled() and unit.turn.result() is _LEAD:
            lane.pass_on()  # its turn came as it was cancelled: the next one leads
        raise


async def _together(conn: AsyncConnection, group: list[_Unit]) -> Any:
    """Send the group's statements in one transaction; each other unit is told its rows (or to go
    alone), and the leader's outcome is returned."""
    try:
        records = await statements.run_many(conn, group[0].taken.statement, [u.taken.params for u in group])
    except Exception as exc:  # nothing was written: each unit alone, on its own connection
        return _DEAD if is_dead_connection(exc) else _ALONE
    answered: dict[Any, list[Record]] = {}
    for record in records:
        answered.setdefault(record[0], []).append(record)
    for other in group[1:]:
        if not other.turn.done():
            other.turn.set_result(answered.get(other.taken.answer, []))
    return answered.get(group[0].taken.answer, [])


async def _own(conn: AsyncConnection, taken: Taken, outcome: Any) -> bool:
    """What a unit does with its group's outcome: its rows (checked by its gate), or alone."""
    if outcome is _ALONE:
        return await sent_alone(conn, taken)
    if outcome is _DEAD:
        return False
    taken.check(outcome)
    return True
