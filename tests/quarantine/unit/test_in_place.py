"""Which items are screened without a worker round trip (issue 18), and that it changes nothing."""

from __future__ import annotations

import json

from mailintake_common.workers import SupervisedPool
from mailintake_quarantine.adapters.inspector import screen_in_worker
from mailintake_quarantine.domain.screening import InputPart, opens_nothing
from tests.factories import quarantine_files as files
from tests.quarantine.unit.conftest import LIMITS

FIELDS = json.dumps(
    {"name": "Sam Okafor", "message": "Can you call me about the payment that did not arrive on Friday?"}
).encode()


def test_only_an_item_of_form_fields_alone_is_screened_in_place() -> None:
    form = InputPart("p0", "form_fields", FIELDS)
    assert opens_nothing([form])
    assert not opens_nothing([form, InputPart("p1", "attachment", files.windows_exe(), "receipt.exe")])
    assert not opens_nothing([InputPart("p0", "raw_email", files.email_with([]))])
    assert not opens_nothing([InputPart("p0", "scan", files.small_png(), "page1.png", "image/png")])


async def test_form_fields_screened_in_place_get_the_screening_a_worker_gives() -> None:
    pool = SupervisedPool("quarantine-test", 1, 0)
    try:
        for parts in ([InputPart("p0", "form_fields", FIELDS)], [InputPart("p0", "form_fields", files.EICAR)]):
            in_worker = await pool.run(screen_in_worker, parts, LIMITS, False, timeout_s=60)
            assert screen_in_worker(parts, LIMITS, False) == in_worker
    finally:
        pool.close()


def test_form_fields_holding_the_test_string_are_held_in_place() -> None:
    result = screen_in_worker([InputPart("p0", "form_fields", b'{"note": "' + files.EICAR + b'"}')], LIMITS, False)
    assert result.verdict == "quarantined"
    assert [f.rule for f in result.findings] == ["eicar"]
