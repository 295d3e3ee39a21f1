"""A broad corpus of items and a fingerprint of what `classify()` returns for each (issue 18).

The classifier's reading is made cheaper without changing any result. This module builds the
items (every labelled at-risk set, the training sets, the document-type and at-risk cases, the
bench letters, the public e-mail corpus, and texts made from them: wrapped, upper case, mixed
case with OCR slips, typographic Unicode, web forms, scanned pages, 5 KB letters strung together
from the sets, held and bounced items, items cut short) and the digest of every field of each
result. `data/classify_frozen.json.gz` holds the digests as main's code computed them before the
speed work; `test_classify_sameness.py` compares.

A change that is meant to change results (new cues, a retrained model, another corpus file)
writes the file anew, in the same commit, and says why:

    .venv/bin/python -m tests.classifier.sameness write
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import yaml

from mailintake_classifier.domain.classify import Classification, ItemText, Section, classify
from mailintake_classifier.domain.quality import PageReading

ROOT = Path(__file__).resolve().parents[2]
FROZEN = ROOT / "tests/classifier/data/classify_frozen.json.gz"
DATA = ROOT / "services/classifier/src/mailintake_classifier/data"
# the agency's devset (shared/at-risk/devset.jsonl, the same bytes as the shipped copy), the
# training sets and the held-out sets
SETS = [
    DATA / "at_risk_devset.jsonl",
    DATA / "at_risk_train_extra.jsonl",
    DATA / "at_risk_train_2.jsonl",
    DATA / "at_risk_train_3.jsonl",
    DATA / "at_risk_train_4.jsonl",
    ROOT / "tests/classifier/data/at_risk_heldout.jsonl",
    ROOT / "tests/classifier/data/at_risk_heldout_2.jsonl",
    ROOT / "tests/classifier/data/at_risk_heldout_3.jsonl",
]
LETTER_BYTES = 5000
FORM_TYPES = (None, "complaint_feedback", "change_of_circumstances", "contact_us")
# OCR slips and typographic characters, applied word by word to make damaged variants.
OCR_SLIPS = str.maketrans({"o": "0", "l": "1", "e": "3", "s": "5", "i": "I"})
TYPOGRAPHIC = str.maketrans({"'": "\u2019", '"': "\u201c", "-": "\u2013", " ": " "})


def _texts_of(path: Path) -> list[str]:
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def source_texts() -> list[tuple[str, str]]:
    """(key, text) of every text the corpus starts from."""
    from bench.bench_classifier import EMAIL
    from bench.letters import LETTERS
    from tests.classifier.unit.at_risk_cases import NEGATIVES, POSITIVES

    found: list[tuple[str, str]] = []
    for path in SETS:
        found += [(f"{path.name}:{n}", text) for n, text in enumerate(_texts_of(path))]
    cases = yaml.safe_load((ROOT / "tests/classifier/data/doctype_cases.yaml").read_text(encoding="utf-8"))
    found += [(f"doctype:{case['name']}", case["text"]) for case in cases["cases"]]
    found += [(f"positive:{n}", text) for n, (_, text, _) in enumerate(POSITIVES)]
    found += [(f"negative:{n}", text) for n, (_, text) in enumerate(NEGATIVES)]
    found += [(f"letter:{n}", text) for n, text in enumerate([*LETTERS, EMAIL])]
    for path in sorted((ROOT / "tests/corpus/cpython-test_email").glob("*.txt")):
        found.append((f"corpus:{path.name}", path.read_bytes()[:20_000].decode("utf-8", errors="replace")))
    return found


def _wrapped(text: str, width: int) -> str:
    return "\n".join(textwrap.fill(p, width) for p in text.split("\n"))


def _mixed(text: str) -> str:
    """Every third word in upper case, every fifth with OCR slips, every seventh hyphenated across
    a line break."""
    words = text.split(" ")
    out = []
    for n, word in enumerate(words):
        if n % 3 == 1:
            word = word.upper()
        if n % 5 == 2:
            word = word.translate(OCR_SLIPS)
        if n % 7 == 3 and len(word) > 5:
            word = f"{word[:3]}-\n{word[3:]}"
        out.append(word)
    return " ".join(out)


def variant(kind: int, key: str, text: str) -> tuple[str, ItemText]:
    """One of the variants of a text, as an item."""
    subject = " ".join(text.split()[:6])[:60]
    if kind == 0:
        return f"{key}/wrapped", ItemText("email", sections=[Section("body 1", _wrapped(text, 38))])
    if kind == 1:
        return f"{key}/upper", ItemText(
            "email", sections=[Section("subject", subject.upper()), Section("body 1", text.upper())]
        )
    if kind == 2:
        return f"{key}/mixed", ItemText("email", sections=[Section("body 1", _mixed(text))])
    if kind == 3:
        form = FORM_TYPES[len(text) % len(FORM_TYPES)]
        fields = [
            Section("webform, field name", "name: Sam Example"),
            Section("webform, field message", f"message: {text}"),
        ]
        return f"{key}/form", ItemText("webform", form_type=form, sections=fields)
    if kind == 4:
        pages = [
            PageReading("scan-1", n + 1, _wrapped(chunk, 60), 55.0 + 10 * n, 0.05)
            for n, chunk in enumerate([text[: len(text) // 2], text[len(text) // 2 :]])
        ]
        return f"{key}/scan", ItemText("scan", pages=pages)
    return f"{key}/typographic", ItemText(
        "email",
        sections=[Section("subject", subject), Section("body 1", text.translate(TYPOGRAPHIC) + " \uff11\uff12")],
    )


KINDS = 6


def items() -> Iterator[tuple[str, ItemText]]:
    """(key, item) of the whole corpus, in a fixed order."""
    texts = source_texts()
    for n, (key, text) in enumerate(texts):
        subject = " ".join(text.split()[:6])[:60]
        yield key, ItemText("email", sections=[Section("subject", subject), Section("body 1", text)])
        yield variant(n % KINDS, key, text)
    # 5 KB letters strung together from consecutive texts of the sets, as the pipeline bench posts them
    letter: list[str] = []
    count = 0
    for _, text in texts:
        letter.append(text)
        if sum(map(len, letter)) >= LETTER_BYTES:
            body = "\n\n".join(letter)[:LETTER_BYTES]
            yield (
                f"joined:{count}",
                ItemText("email", sections=[Section("subject", "Re: my case"), Section("body 1", body)]),
            )
            if count % 4 == 0:
                yield f"joined:{count}/wrapped", ItemText("email", sections=[Section("body 1", _wrapped(body, 72))])
            letter, count = [], count + 1
    # the pipeline bench's documents: each letter repeated to 5 KB, as an e-mail and a web form
    for key, text in texts:
        if key.startswith("letter:"):
            body = "0123456789abcdef\n\n" + (text * (LETTER_BYTES // len(text) + 1))[:LETTER_BYTES]
            yield (
                f"bench:{key}/email",
                ItemText("email", sections=[Section("subject", "Child support"), Section("body 1", body)]),
            )
            yield (
                f"bench:{key}/form",
                ItemText("webform", sections=[Section("webform, field message", f"message: {body}")]),
            )
    # held, bounced and cut-short items
    for n, (key, text) in enumerate(texts[::97]):
        held = ItemText("email", verdict="quarantined", sections=[Section("body 1", text)])
        yield f"{key}/held", held
        yield f"{key}/bounce", ItemText("email", report_type="delivery-status", sections=[Section("body 1", text)])
        yield f"{key}/cut", ItemText("email", sections=[Section("subject", "x" * n), Section("body 1", text)])


CUT_AT = 400  # max_chars of the "/cut" items


def result_json(result: Classification) -> str:
    """Every field of a result (and its derived flags), as canonical JSON: floats exactly."""
    fields = dataclasses.asdict(result)
    fields["derived"] = [result.child_support_related, result.intended_for_other_agency, result.overseas]
    return json.dumps(fields, sort_keys=True, ensure_ascii=True)


def run(key: str, item: ItemText) -> Classification:
    return classify(item, max_chars=CUT_AT) if key.endswith("/cut") else classify(item)


def digests() -> tuple[list[str], list[bytes]]:
    """(keys, sha256 of each item's result)."""
    keys, found = [], []
    for key, item in items():
        keys.append(key)
        found.append(hashlib.sha256(result_json(run(key, item)).encode()).digest())
    return keys, found


def fingerprint(keys: list[str], found: list[bytes]) -> dict[str, str]:
    """The whole corpus's digest, its keys' digest, and a short digest per item (to say which
    items differ)."""
    return {
        "keys": hashlib.sha256("\n".join(keys).encode()).hexdigest(),
        "count": str(len(keys)),
        "all": hashlib.sha256(b"".join(found)).hexdigest(),
        "items": base64.b64encode(b"".join(d[:4] for d in found)).decode(),
    }


def load_frozen() -> dict[str, str]:
    return json.loads(gzip.decompress(FROZEN.read_bytes()))


def write() -> None:
    keys, found = digests()
    FROZEN.write_bytes(gzip.compress(json.dumps(fingerprint(keys, found), indent=0).encode(), mtime=0))
    print(f"{len(keys)} items written to {FROZEN.relative_to(ROOT)}")


if __name__ == "__main__":
    if sys.argv[1:] == ["write"]:
        write()
    else:
        print(__doc__)
