"""Who an item is for: the audience model alone and the classifier's decision, per label and style.

    python -m bench audience

- Training sets, out of fold (5 folds, each item scored by a model that never saw it): what the
  thresholds in audience.yaml `model` were chosen on.
- The held-out set (tests/classifier/data/audience_heldout.jsonl), written by a helper who never
  saw the rules, the cues or the training data, and never tuned on: the figure that matters.

"Decision" is what the whole classifier (cues and model) concludes from the text alone: not for
child support (another agency's or unrelated: rule 7 non-customer, for an item whose sender is not
a customer on file) and an employer's voice (employer correspondence). Child support items the
decision calls "not for child support" are the harm to watch: unidentified, they would go to
non-customer instead of unidentified-customer.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

from bench.support import table
from mailintake_classifier.domain.audience_model import LABELS, default_model, train, training_items, words_text
from mailintake_classifier.domain.classify import ItemText, Section, classify

ROOT = Path(__file__).resolve().parent.parent
HELD_OUT = ROOT / "tests/classifier/data/audience_heldout.jsonl"
NOT_FOR_CHILD_SUPPORT = ("other_agency", "unrelated")


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def decided(text: str) -> tuple[bool, bool]:
    """(not for child support, employer's voice) as the classifier decides from the text alone."""
    result = classify(ItemText("email", sections=[Section("body 1", text)]))
    return not result.child_support_related, result.employer_correspondence


def out_of_fold(items: list[dict], folds: int = 5) -> list[str]:
    """Each item's label as read by a model trained on the other folds."""
    predicted = [""] * len(items)
    for k in range(folds):
        model = train([item for i, item in enumerate(items) if i % folds != k])
        for i in range(k, len(items), folds):
            predicted[i] = model.read(words_text(items[i]["text"])).label
    return predicted


def label_rows(items: list[dict], predicted: list[str]) -> list[tuple[str, str, str, str]]:
    rows = []
    for label in LABELS:
        truly = [i for i, item in enumerate(items) if item["label"] == label]
        said = [i for i, p in enumerate(predicted) if p == label]
        right = sum(1 for i in truly if predicted[i] == label)
        precision = right / len(said) if said else 0.0
        rows.append((f"{label}: recall", f"{right}/{len(truly)}", f"precision {precision:.2f}", ""))
    correct = sum(1 for item, p in zip(items, predicted, strict=True) if item["label"] == p)
    rows.append(("all: accuracy", f"{correct}/{len(items)}", f"{correct / len(items):.3f}", ""))
    return rows


def decision_rows(items: list[dict]) -> list[tuple[str, str, str, str]]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # key -> [not for CS, employer, total]
    for item in items:
        not_cs, employer = decided(item["text"])
        for key in (item["label"], f"{item['label']} / {item.get('style', '?')}"):
            counts[key][0] += not_cs
            counts[key][1] += employer
            counts[key][2] += 1
    rows = []
    for key in sorted(counts, key=lambda k: (k.split(" / ")[0], " / " in k, k)):
        elsewhere, employers, total = counts[key]
        rows.append((f"{key}", f"{elsewhere}/{total} not for CS", f"{employers}/{total} employer", ""))
    return rows


def speed(texts: list[str], target_chars: int = 2048) -> float:
    model = default_model()
    long = [words_text((t + "\n\n") * (target_chars // max(len(t), 1) + 1))[:target_chars] for t in texts[:50]]
    started = time.process_time()
    for text in long * 4:
        model.read(text)
    return len(long) * 4 / (time.process_time() - started)


def main() -> None:
    training = training_items()
    started = time.process_time()
    model = default_model()
    trained_s = time.process_time() - started
    print(f"audience model: {model.training_items} training items, trained in {trained_s:.1f} CPU s")
    table("training sets, out of fold (5 folds): the model alone", label_rows(training, out_of_fold(training)))
    held_out = load(HELD_OUT)
    predicted = [model.read(words_text(item["text"])).label for item in held_out]
    table("held-out (never tuned on): the model alone", label_rows(held_out, predicted))
    table("held-out (never tuned on): the classifier's decision (cues and model)", decision_rows(held_out))
    rate = speed([item["text"] for item in held_out])
    table("speed", [("audience model: 2 KB texts/s, one core", f"{rate:.0f}", "50/s per core (issue 13's floor)", "")])


if __name__ == "__main__":
    main()
