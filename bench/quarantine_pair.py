"""`python -m bench.quarantine_pair [REF] [ROUNDS]`: `bench.consumer_pair quarantine` (a ref's
quarantine and this checkout's in one consumer group, side by side, rounds of the pipeline
bench's documents) with the helpers it shares with `bench.classifier_pair` as they are now:
`handled` and `closed_loop` came to return tuples, which `consumer_pair` (not this session's
file) still reads as numbers (issue 18, session 11)."""

from __future__ import annotations

import sys
from typing import Any

from bench import classifier_pair, consumer_pair
from tests.support.stack import Service


def _handled(service: Service) -> float:
    return classifier_pair.handled(service)[0]  # events handled (not the seconds spent)


async def _closed_loop(*args: Any) -> int:
    return (await classifier_pair.closed_loop(*args))[0]  # documents posted (not the probes)


if __name__ == "__main__":
    consumer_pair.handled = _handled  # type: ignore[assignment]
    consumer_pair.closed_loop = _closed_loop  # type: ignore[assignment]
    args = sys.argv[1:]
    consumer_pair.main("quarantine", args[0] if args else "main", *(int(a) for a in args[1:2]))
