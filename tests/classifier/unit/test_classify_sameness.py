"""`classify()` gives exactly what main's code gave before the speed work of issue 18, on every
item of a broad corpus (tests/classifier/sameness.py): same type, scores, identifiers, audience,
at-risk matches, passages, offsets and reasons. A change meant to change results writes the
frozen digests anew (see that module) and says why."""

from __future__ import annotations

import base64

from tests.classifier import sameness


def test_every_result_is_the_frozen_one() -> None:
    frozen = sameness.load_frozen()
    keys, found = sameness.digests()
    assert len(keys) == int(frozen["count"]) > 9000
    now = sameness.fingerprint(keys, found)
    assert now["keys"] == frozen["keys"], "the corpus itself changed: write the digests anew (sameness.py)"
    short = base64.b64decode(frozen["items"])
    differ = [key for n, key in enumerate(keys) if found[n][:4] != short[4 * n : 4 * n + 4]]
    assert not differ, f"{len(differ)} results differ, e.g. {differ[:10]}"
    assert now["all"] == frozen["all"]


def test_the_fingerprint_sees_a_changed_field() -> None:
    key, item = next(sameness.items())
    result = sameness.run(key, item)
    before = sameness.result_json(result)
    result.document.reasons.append("one more reason")
    assert sameness.result_json(result) != before
