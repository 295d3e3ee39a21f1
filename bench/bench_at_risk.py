"""Recall and false alarms of the at-risk detector per category and per style, and its speed.

    python -m bench at_risk           # devset (tuned on) and held-out (never tuned on)

The devset and the training sets are what the model learns from, so their figures are
in-sample; the held-out sets (tests/classifier/data/at_risk_heldout*.jsonl) were each written by
a helper who never saw the rules, the devset or the training data, and are the figures that
matter. Set 2 was written after set 1 had been reported, so it is unseen by every change since;
set 3 after the session-5 retraining, with 120 everyday messages beside the hard negatives.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

from mailintake_classifier.domain.at_risk import find_at_risk
from mailintake_classifier.domain.at_risk.model import default_model

ROOT = Path(__file__).resolve().parent.parent
SETS = {
    "devset (trained on)": ROOT / "services/classifier/src/mailintake_classifier/data/at_risk_devset.jsonl",
    "held-out 1 (never tuned on)": ROOT / "tests/classifier/data/at_risk_heldout.jsonl",
    "held-out 2 (never tuned on)": ROOT / "tests/classifier/data/at_risk_heldout_2.jsonl",
    "held-out 3 (never tuned on)": ROOT / "tests/classifier/data/at_risk_heldout_3.jsonl",
}


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def evaluate(items: list[dict]) -> dict:
    by: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # key -> [alerted, total]
    missed = []
    for item in items:
        alerted = bool(find_at_risk(item["text"]))
        side = "pos" if item["at_risk"] else "neg"
        keys = [side, f"{side}/{item['category']}", f"{side}/style {item['style']}"]
        if "kind" in item and not item["at_risk"]:  # held-out 3: hard negatives and everyday mail, reported apart
            keys.append(f"{side}/kind {item['kind']}")
        for key in keys:
            by[key][0] += alerted
            by[key][1] += 1
        if item["at_risk"] and not alerted:
            missed.append(item["id"])
    return {"by": dict(by), "missed": missed}


def report(name: str, result: dict) -> None:
    by = result["by"]
    recall, fa = by["pos"][0] / by["pos"][1], by["neg"][0] / by["neg"][1]
    print(
        f"{name}: recall {recall:.1%} ({by['pos'][0]}/{by['pos'][1]}), "
        f"false alarms {fa:.1%} ({by['neg'][0]}/{by['neg'][1]})"
    )
    for key in sorted(k for k in by if "/" in k):
        hit, total = by[key]
        label = "recall" if key.startswith("pos") else "false alarms"
        print(f"    {key[4:]:<28} {label:<12} {hit / total:6.1%}  ({hit}/{total})")
    if result["missed"]:
        print("    missed:", ", ".join(result["missed"]))


def speed(items: list[dict], target_chars: int = 2048) -> float:
    texts = []
    for i in range(len(items)):
        text = ""
        j = i
        while len(text) < target_chars:
            text += items[j % len(items)]["text"] + "\n\n"
            j += 7
        texts.append(text[:target_chars])
    started = time.process_time()
    for text in texts:
        find_at_risk(text)
    return len(texts) / (time.process_time() - started)


def main() -> None:
    default_model()
    for name, path in SETS.items():
        report(name, evaluate(load(path)))
    negatives = [i for i in load(next(iter(SETS.values()))) if not i["at_risk"]]
    print(f"speed: {speed(negatives):.0f} texts/s per core on 2 KB texts (every layer on)")


if __name__ == "__main__":
    main()
