"""Tax file numbers masked, customer reference numbers kept (SPEC 5 Privacy; issue 14)."""

from __future__ import annotations

import pytest

from mailintake_common.privacy import TFN_MASK, mask_tfns, tfn_valid

# Nine digits that pass the TFN checksum: as a CRN's digits they must survive.
DIGITS = "273464686"
SPACED = "273 464 686"


def test_the_examples_pass_the_tfn_checksum() -> None:
    assert tfn_valid(DIGITS) and tfn_valid("492589913")


@pytest.mark.parametrize(
    "text",
    [
        f"My CRN is {DIGITS} and I have moved house.",
        f"CRN: {SPACED}",
        f"crn no. {DIGITS}",
        f"Customer reference number {DIGITS}, payer",
        f"customer ref no {SPACED}",
        f"Please update the record for {SPACED}A.",
        f"reference {DIGITS}A",
        f"reference {DIGITS} A",
        f"reference {SPACED} A\nThanks",
        f"Reference: {DIGITS} K.",
    ],
)
def test_a_crn_is_never_masked_as_a_tfn(text: str) -> None:
    """seed 001 line 26 (the customer's record is found by CRN); SPEC 5 Identifiers."""
    assert mask_tfns(text) == text


@pytest.mark.parametrize(
    "text",
    [
        f"my tax file number is {DIGITS}",
        f"TFN {SPACED} A copy of my payslip is attached",
        f"TFN: {DIGITS} A",  # labelled a TFN: the letter after it does not make it a CRN
        f"the number {DIGITS} I think is right",
        f"{DIGITS}",
        f"payslip_{DIGITS}.pdf",
        "Tax file no. 492 589 913 for my employer",
    ],
)
def test_a_tfn_is_masked_wherever_it_is_written(text: str) -> None:
    masked = mask_tfns(text)
    assert TFN_MASK in masked and DIGITS not in masked.replace(" ", "") and "492589913" not in masked.replace(" ", "")


def test_a_crn_label_does_not_protect_a_tfn_further_along() -> None:
    text = f"CRN 492589913A. Separately, the tax office has my number {DIGITS}."
    masked = mask_tfns(text)
    assert "492589913A" in masked and DIGITS not in masked
