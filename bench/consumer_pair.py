"""A consumer service's CPU per document, a git ref's code against this checkout's, side by side.

`python -m bench.consumer_pair SERVICE [REF] [ROUNDS]` (SERVICE: quarantine, classifier or
routing; REF default main; ROUNDS default 4) starts one stack with two copies of SERVICE in its
one consumer group: REF's (its packages exported and put first on the copy's PYTHONPATH) and
this checkout's. Each takes two of the four partitions, so both handle the same kind of
documents under the same load at the same moment: on a machine shared with other work the
ratio of their CPU per document holds still where runs one after the other do not (issue 18).
Neither copy runs the outbox relay (`MAILINTAKE_RELAY_ENABLED=false`: one process's relay
would publish for every service and burden its copy alone). Each round posts the pipeline
bench's documents in a closed loop for BENCH_E2E_SECONDS (20 here) and divides each copy's CPU
(with its worker processes) over the round by the documents it handled (its
`mailintake_handler_seconds` count); the medians of the rounds close the run.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from functools import partial
from pathlib import Path
from statistics import median

from bench.classifier_pair import SECONDS, closed_loop, handled
from bench.support import exported, table, tree_cpu_seconds
from tests.support.stack import Service, make_service, start_local_infra

SERVICES = ("intake", "quarantine", "classifier", "routing")
NO_RELAY = {"MAILINTAKE_RELAY_ENABLED": "false"}


def _start(running: list[Service]) -> None:
    for one in running:  # all at once, then wait: they start side by side
        one.start(wait_ready=False)
    for one in running:
        one.wait_ready()


def _cpu_and_count(copies: dict[str, Service]) -> dict[str, tuple[float, float]]:
    """Each copy's CPU seconds so far (with its workers) and the events it handled."""
    return {name: (tree_cpu_seconds(c.proc.pid), handled(c)[0]) for name, c in copies.items()}  # type: ignore[union-attr]


def main(service: str, ref: str = "main", rounds: int = 4) -> None:
    if service not in SERVICES[1:]:
        raise SystemExit(f"SERVICE is one of {', '.join(SERVICES[1:])}")
    with tempfile.TemporaryDirectory(prefix="mailintake-pair-") as tmp:
        old_path = exported(ref, Path(tmp, "ref"))
        infra, stoppables = start_local_infra(Path(tmp))
        others = {name: make_service(infra, name, Path(tmp)) for name in SERVICES if name != service}
        copies = {
            ref: make_service(infra, service, Path(tmp), {"PYTHONPATH": old_path, **NO_RELAY}),
            "this checkout": make_service(infra, service, Path(tmp), NO_RELAY),
        }
        running = [*others.values(), *copies.values()]
        per_round: dict[str, list[float]] = {name: [] for name in copies}
        post = partial(closed_loop, others["intake"].base_url, infra.database_url)
        try:
            _start(running)
            asyncio.run(post(3))  # both joined, warm
            for i in range(rounds):
                before = _cpu_and_count(copies)
                documents, _ = asyncio.run(post(SECONDS))
                line = []
                for name, (cpu, count) in _cpu_and_count(copies).items():
                    cpu, count = cpu - before[name][0], count - before[name][1]
                    per_round[name].append(cpu * 1000 / count if count else float("nan"))
                    line.append(f"{name} {per_round[name][-1]:.2f} ms ({int(count)} documents)")
                print(f"round {i + 1}, {documents} documents: " + ", ".join(line), flush=True)
        finally:
            for one in running:
                one.stop()
            for thing in stoppables:
                thing.stop()  # type: ignore[attr-defined]
    medians = {name: median(values) for name, values in per_round.items()}
    table(
        f"{service} CPU per document, two copies in one group, {rounds} rounds of {SECONDS:g} s (medians)",
        [(name, f"{value:.2f}", "-", "-") for name, value in medians.items()]
        + [("this checkout / " + ref, f"{medians['this checkout'] / medians[ref]:.2f}", "-", "-")],
    )


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args:
        raise SystemExit("usage: python -m bench.consumer_pair SERVICE [REF] [ROUNDS]")
    main(args[0], args[1] if len(args) > 1 else "main", int(args[2]) if len(args) > 2 else 4)
