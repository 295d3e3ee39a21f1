"""Who sends what in a lane of units ready together (issue 18, `group_commit.py`).

Hand-written fakes stand for the database: sending a unit alone or a group waits until the test
lets it finish, and records what went. The real PostgreSQL's side is in
tests/common/integration/test_group_commit.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any, cast

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mailintake_common import group_commit
from mailintake_common.db import SETTINGS_OPTION
from mailintake_common.handler_context import AlreadyProcessed
from mailintake_common.settings import CommonSettings
from mailintake_common.statements import Statement
from mailintake_common.writes import Taken

STATEMENT: Statement[Any] = Statement("SELECT 1")


class FakeDatabase:
    def __init__(self, refused: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        self.sent: list[tuple[str, list[int]]] = []
        self.release = asyncio.Event()
        self.refused = refused
        self.then: Callable[[], object] | None = None  # called just after a unit sent alone is over

    async def alone(self, conn: Any, taken: Taken) -> bool:
        self.sent.append(("alone", [taken.answer]))
        await self.release.wait()
        if self.then is not None:
            asyncio.get_running_loop().call_soon(self.then)
        taken.check([] if taken.answer in self.refused else [(taken.answer,)])
        return True

    async def many(self, conn: Any, statement: Any, many: Sequence[Mapping[str, Any]]) -> list[tuple[int]]:
        answers = [p["event_id"] for p in many]
        self.sent.append(("group", answers))
        await self.release.wait()
        return [(a,) for a in answers if a not in self.refused]


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch) -> FakeDatabase:
    fake = FakeDatabase(refused={3})
    monkeypatch.setattr(group_commit, "sent_alone", fake.alone)
    monkeypatch.setattr(group_commit.statements, "run_many", fake.many)
    return fake


class FakeSyncEngine:  # what the lanes read of an engine: its settings (weakly referenced)
    def __init__(self, most: int) -> None:
        self.options = {SETTINGS_OPTION: CommonSettings(db_group_max_units=most)}

    def get_execution_options(self) -> dict[str, Any]:
        return self.options


def engine(most: int) -> AsyncEngine:
    return cast(AsyncEngine, SimpleNamespace(sync_engine=FakeSyncEngine(most)))


def unit(answer: int) -> Taken:
    return Taken(STATEMENT, {"event_id": answer}, lambda: AlreadyProcessed(str(answer)), answer)


async def start(db: AsyncEngine, answers: list[int]) -> list[asyncio.Task[bool]]:
    conn = cast(AsyncConnection, None)
    tasks = []
    for answer in answers:
        tasks.append(asyncio.create_task(group_commit.sent(db, conn, unit(answer))))
        await asyncio.sleep(0)  # each reaches the lane in turn
    return tasks


async def test_units_ready_while_one_is_in_flight_go_together_up_to_the_bound(database: FakeDatabase) -> None:
    db = engine(most=3)
    tasks = await start(db, [1, 2, 3, 4, 5, 6])
    database.release.set()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert database.sent == [("alone", [1]), ("group", [2, 3, 4]), ("group", [5, 6])]
    assert [type(d) for d in done] == [bool, bool, AlreadyProcessed, bool, bool, bool]  # 3's claim refused


async def test_a_unit_cancelled_while_it_waits_is_not_sent_and_one_cancelled_as_its_turn_came_passes_it_on(
    database: FakeDatabase,
) -> None:
    db = engine(most=16)
    first, waiting, leader, *rest = await start(db, [1, 2, 4, 5, 6])
    waiting.cancel()
    await asyncio.sleep(0)
    database.then = leader.cancel  # its turn to lead comes, and it is cancelled before it runs
    database.release.set()
    assert await asyncio.wait_for(asyncio.gather(first, *rest), 5) == [True, True, True]  # nobody left waiting
    assert leader.cancelled()
    assert database.sent == [("alone", [1]), ("group", [5, 6])]


async def test_grouping_off_sends_each_unit_alone_at_once(database: FakeDatabase) -> None:
    tasks = await start(engine(most=1), [1, 2, 4])
    assert database.sent == [("alone", [1]), ("alone", [2]), ("alone", [4])]  # none waited
    database.release.set()
    assert await asyncio.gather(*tasks) == [True, True, True]
