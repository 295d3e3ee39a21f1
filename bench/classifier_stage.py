"""The classifier's handler in-process, a git ref's code against this checkout's (issue 18, session 11).

`python -m bench.classifier_stage [ref] [rounds] [events]` starts one PostgreSQL, then runs the
classifier's real handler (`make_handler`, its OCR pool's worker processes, `classify()`) through
the consumer runner's `apply_batch` in separate processes, the ref's code (an export of its
packages on `PYTHONPATH`, as `bench.classifier_pair` makes it) and this checkout's in turn, and prints for
each round the CPU per event of the process with its workers (`psutil`: no broker, no relay;
`cpu_ms`), of the process alone (`main_ms`) and of its event loop's thread (`loop_ms`: the rest
of `main_ms` is `classify()` in the executor's threads), and PostgreSQL's statements per event.
The events are the pipeline bench's: 5 KB letters with a unique first line, as e-mails (subject
and cleared text body) and web forms (form fields) in turn, each with its screening details,
batches of 8 as a partition's. `CLASSIFIER_STAGE_PROFILE=path` writes a cProfile of the timed
events in this checkout's rounds (the event loop's thread CPU: the workers' and `classify()`'s
share is in the CPU figures, not the profile). Warm before timing: the workers started and every
shape used.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from statistics import median

from bench.support import ROOT, exported

BATCH = 8  # records per partition batch


def _cpu_s() -> float:
    """This process's CPU seconds with its live children's (the OCR pool's workers)."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for process in [me, *me.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


async def _worker(url: str, events: int) -> dict[str, float]:
    from aiokafka import ConsumerRecord, TopicPartition
    from sqlalchemy import text

    from bench.letters import LETTERS
    from mailintake_classifier.adapters.ocr import OcrPool
    from mailintake_classifier.domain.classify import prepare
    from mailintake_classifier.handlers import make_handler
    from mailintake_classifier.settings import ClassifierSettings
    from mailintake_common.consumer import ConsumerRunner, Subscription
    from mailintake_common.db import make_engine
    from mailintake_common.events import TOPIC_SCREENED
    from tests.classifier.screened_documents import screened
    from tests.support.statements import statements_during

    settings = ClassifierSettings(database_url=url)
    pool = OcrPool(2, memory_bytes=settings.ocr_worker_memory_bytes)  # two workers, as on the bench's 2 cores
    prepare()
    await pool.start(timeout_s=120)
    engine = make_engine(settings)
    tp = TopicPartition(TOPIC_SCREENED, 0)
    subscription = Subscription(TOPIC_SCREENED, make_handler(settings, pool), "classifier")
    runner = ConsumerRunner(engine, settings, f"bench-{uuid.uuid4().hex[:8]}", [subscription])

    def body(i: int) -> str:
        letter = LETTERS[(i // 2) % len(LETTERS)]
        return uuid.uuid4().hex + "\n\n" + (letter * (5000 // len(letter) + 1))[:5000]

    async def documents(count: int, first: int) -> list[ConsumerRecord]:
        """E-mails and web forms in turn, at offsets from `first`."""
        return [await screened(engine, i % 2 == 1, body(i), i) for i in range(first, first + count)]

    async def apply(records: list[ConsumerRecord]) -> None:
        for start in range(0, len(records), BATCH):
            await runner.apply_batch(tp, records[start : start + BATCH], {})

    warm = await documents(BATCH * 4, 0)
    await apply(warm)
    timed = await documents(events, len(warm))
    cpu: dict[str, float] = {}

    async def timed_run() -> None:
        profiler = None
        if os.environ.get("CLASSIFIER_STAGE_PROFILE"):
            import cProfile

            profiler = cProfile.Profile(time.thread_time)  # the event loop thread's CPU, not its waits
            profiler.enable()
        started = {"cpu_ms": _cpu_s(), "main_ms": time.process_time(), "loop_ms": time.thread_time()}
        await apply(timed)
        ended = {"cpu_ms": _cpu_s(), "main_ms": time.process_time(), "loop_ms": time.thread_time()}
        cpu.update({name: ended[name] - started[name] for name in started})
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(os.environ["CLASSIFIER_STAGE_PROFILE"])

    calls = sum((await statements_during(url, timed_run)).values())
    async with engine.connect() as conn:
        done = (
            await conn.execute(
                text("SELECT count(*) FROM documents WHERE status = 'classified' AND document_id = ANY(:ids)"),
                {"ids": [r.key.decode() for r in warm + timed]},  # type: ignore[union-attr]
            )
        ).scalar_one()
    await engine.dispose()
    pool.close()
    assert done == len(warm) + len(timed), f"{done} classified of {len(warm) + len(timed)}"
    return {name: seconds * 1000 / events for name, seconds in cpu.items()} | {"statements": float(calls) / events}


def _round(url: str, pythonpath: str | None, events: int, profile: bool) -> dict[str, float]:
    env = dict(os.environ)
    if not profile:  # the ref's rounds run without it
        env.pop("CLASSIFIER_STAGE_PROFILE", None)
    env["PYTHONPATH"] = os.pathsep.join([p for p in (pythonpath, str(ROOT), env.get("PYTHONPATH", "")) if p])
    command = [sys.executable, "-m", "bench.classifier_stage", "--worker", url, str(events)]
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main(ref: str = "main", rounds: int = 4, events: int = 200) -> None:
    from mailintake_common.devstack import Postgres, free_port
    from mailintake_common.migrate import upgrade

    pairs: list[tuple[dict[str, float], dict[str, float]]] = []  # (ref's, this checkout's) per round
    with tempfile.TemporaryDirectory() as tmp:
        old_path = exported(ref, Path(tmp) / "old")
        options = ("-c", "shared_preload_libraries=pg_stat_statements")
        pg = Postgres(Path(tmp) / "pg", free_port(), fast=True, options=options)
        pg.start()
        try:
            upgrade(pg.url)
            for i in range(rounds):  # in turn, the first of each round alternating
                paths = {"old": old_path, "new": None}
                order = ("old", "new") if i % 2 == 0 else ("new", "old")
                done = {name: _round(pg.url, paths[name], events, profile=name == "new") for name in order}
                pairs.append((done["old"], done["new"]))
                print(f"round {i + 1}: " + _compared(*pairs[-1]), flush=True)
        finally:
            pg.stop()
    medians = [{key: median(run[key] for run in side) for key in side[0]} for side in zip(*pairs, strict=True)]
    print(f"medians, {ref} against this checkout: " + _compared(*medians))


def _compared(old: dict[str, float], new: dict[str, float]) -> str:
    return ", ".join(f"{key} {old[key]:.3f} -> {new[key]:.3f} ({new[key] / old[key]:.2f})" for key in old)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        print(json.dumps(asyncio.run(_worker(sys.argv[2], int(sys.argv[3])))))
    else:
        ref, *numbers = sys.argv[1:] or ["main"]
        main(ref, *map(int, numbers))
