"""The classifier's CPU per document, a git ref's code against this checkout's, side by side.

`python -m bench.classifier_pair [REF]` (default main) starts one stack with two classifier
copies in the one consumer group: REF's (its packages exported and put first on the copy's
PYTHONPATH) and this checkout's. Each takes two of the four partitions, so both classify the
same kind of documents under the same load at the same moment: on a machine shared with other
work, the ratio of their CPU per document holds still where two runs one after the other do
not (issue 18). The pipeline bench's documents are posted in a closed loop for
BENCH_E2E_SECONDS (20 here); each copy's CPU (with its worker processes) over the run is
divided by the documents it classified (its `mailintake_handler_seconds` count).
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import httpx

from bench.bench_pipeline import post_mixed
from bench.support import table, tree_cpu_seconds, wait_routed
from tests.support.stack import ADMIN_KEY, Service, make_service, start_local_infra

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "libs/common",
    "libs/cli",
    "services/intake",
    "services/quarantine",
    "services/classifier",
    "services/routing",
)
SECONDS = float(os.environ.get("BENCH_E2E_SECONDS", "20"))
CONCURRENCY = int(os.environ.get("BENCH_E2E_CONCURRENCY", "8"))


def exported(ref: str, folder: Path) -> str:
    """REF's packages under `folder`; the PYTHONPATH that imports them first."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, *(f"{p}/src" for p in PACKAGES)],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return os.pathsep.join(str(folder / p / "src") for p in PACKAGES)


def handled(service: Service) -> float:
    text = httpx.get(f"{service.base_url}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("mailintake_handler_seconds_count{")
    )


async def closed_loop(base_url: str, database_url: str, seconds: float) -> int:
    ids: list[str] = []
    async with httpx.AsyncClient(base_url=base_url, headers={"X-API-Key": ADMIN_KEY}, timeout=60) as http:
        started = time.perf_counter()

        async def worker() -> None:
            while time.perf_counter() - started < seconds:
                ids.append(await post_mixed(http, len(ids)))

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        await wait_routed(database_url, ids)
    return len(ids)


def main(ref: str = "main") -> None:
    with tempfile.TemporaryDirectory(prefix="mailintake-pair-") as tmp:
        old_path = exported(ref, Path(tmp, "ref"))
        infra, stoppables = start_local_infra(Path(tmp))
        services = {name: make_service(infra, name, Path(tmp)) for name in ("intake", "quarantine", "routing")}
        copies = {
            ref: make_service(infra, "classifier", Path(tmp), {"PYTHONPATH": old_path}),
            "this checkout": make_service(infra, "classifier", Path(tmp)),
        }
        running = [*services.values(), *copies.values()]
        try:
            for service in running:
                service.start(wait_ready=False)
            for service in running:
                service.wait_ready()
            asyncio.run(closed_loop(services["intake"].base_url, infra.database_url, 3))  # both joined, warm
            before = {name: (tree_cpu_seconds(c.proc.pid), handled(c)) for name, c in copies.items()}  # type: ignore[union-attr]
            documents = asyncio.run(closed_loop(services["intake"].base_url, infra.database_url, SECONDS))
            after = {name: (tree_cpu_seconds(c.proc.pid), handled(c)) for name, c in copies.items()}  # type: ignore[union-attr]
        finally:
            for service in running:
                service.stop()
            for thing in stoppables:
                thing.stop()  # type: ignore[attr-defined]
    ms = {}
    for name in copies:
        cpu, count = after[name][0] - before[name][0], after[name][1] - before[name][1]
        ms[name] = (cpu * 1000 / count if count else float("nan"), int(count))
    print(f"CPU ms/doc {ms}", flush=True)
    new, old = ms["this checkout"][0], ms[ref][0]
    table(
        f"classifier CPU per document, two copies in one group, {documents} documents over {SECONDS:g} s",
        [(f"{name} ({count} documents)", f"{value:.2f}", "-", "-") for name, (value, count) in ms.items()]
        + [("this checkout / " + ref, f"{new / old:.2f}", "-", "-")],
    )


if __name__ == "__main__":
    main(*sys.argv[1:2])
