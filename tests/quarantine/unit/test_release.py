"""Whether a held item may be released: the pure rule behind `POST /v1/quarantine/{id}/release`."""

from __future__ import annotations

import pytest

from mailintake_common.domain_errors import Conflict, NotFound
from mailintake_quarantine.domain.release import Hold, refuse_release


def test_a_large_email_after_adjustment_may_be_released() -> None:
    """Seed 001 line 65: large emails go for manual adjustment, then on."""
    refuse_release(Hold("manual_adjustment", ("size",), released=False, visible=True))


@pytest.mark.parametrize("reasons", [("encrypted",), ("media",), ("harmful", "size"), ()])
def test_encrypted_media_and_harmful_items_are_never_released(reasons: tuple[str, ...]) -> None:
    """Seed 001 lines 64 and 67: do not request release of such an email."""
    with pytest.raises(Conflict) as refused:
        refuse_release(Hold("quarantined", reasons, released=False, visible=True))
    assert refused.value.code == "not_releasable"
    assert "size" not in refused.value.detail.split("held for ")[1]


def test_an_item_is_released_once() -> None:
    with pytest.raises(Conflict) as refused:
        refuse_release(Hold("manual_adjustment", ("size",), released=True, visible=True))
    assert refused.value.code == "already_released"


@pytest.mark.parametrize("hold", [None, Hold("manual_adjustment", ("size",), released=False, visible=False)])
def test_an_unknown_item_or_one_beyond_the_key_s_racs_level_is_not_found(hold: Hold | None) -> None:
    with pytest.raises(NotFound):
        refuse_release(hold)
