"""Who an item is for and what must not be deleted, from positive evidence only (issue 14).

- Another agency (seed 001 lines 107, 109, 129): the item is addressed to it (a greeting, an
  addressee line, "I am writing to the ATO", the agency's sign-off), or is only about its
  business (weighed cues: Family Tax Benefit, JobSeeker, BAS, visas, NDIS plans); either way it
  says nothing of child support. A mention of Centrelink or a tax return is not evidence (child
  support uses both), so `addressed` and `matters` are told apart: routing keeps an identified
  customer's mail with the customer unless it is addressed elsewhere.
- Unrelated mail (advertising, pitches, newsletters, scams, phishing): weighed cues, one strong
  and one weak at least, and nothing of child support.
- Child support's own words outweigh everything; the words it shares with other agencies
  (assessment, employer, deductions) outweigh weighed evidence but not an addressee.
- An overseas case (seed 000): an overseas agency, treaty, court, or a parent living abroad;
  a holiday abroad is not one.
- Referrals (seed 001 lines 113-116): family violence, fraud, child protection, FOI.
- The agency's own Securemail delivery notice wording (seed 000 line 36); routing checks the sender.
- The model (audience_model.py) reads every item too: where no cue found another agency or
  advertising, a confident enough reading may (more confident still over child support's own
  words), it may find an employer's voice, and a customer's own voice outweighs deduction cues.
  Its thresholds are data (`model` in audience.yaml).

The cues are data (`data/audience.yaml`, versioned); every finding names the cue group.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from mailintake_classifier.domain.audience_model import AudienceReading
from mailintake_classifier.domain.needles import Screened, TextNeedles

Patterns = tuple[Screened, ...]
AtRiskHit = tuple[str, str, int]  # an at-risk match: category, layer, words in its passage


@dataclass(frozen=True)
class Weighed:
    """Cues weighed together: each different strong cue found counts 2, each weak one 1."""

    strong: Patterns
    weak: Patterns
    min_score: int

    def score(self, text: TextNeedles) -> int:
        return 2 * _hits(self.strong, text) + _hits(self.weak, text)

    def found_in(self, text: TextNeedles) -> bool:
        return self.score(text) >= self.min_score


@dataclass(frozen=True)
class ModelThresholds:
    """From which probability the audience model's reading decides (audience.yaml `model`)."""

    version: int
    not_child_support_min: float  # other agency or unrelated, where nothing speaks of child support
    over_child_support_min: float  # the same over child support's own words ("Child Support", "CRN")
    employer_min: float  # an employer's voice
    customer_min: float  # a customer's own voice: what is typed as deductions is from their own pay
    min_words: int = 0  # a reading of fewer words decides nothing ("Please verify your account.")
    customer_min_words: int = 0  # nor outweighs the deductions type ("X has sent you a payment ...")


@dataclass(frozen=True)
class AudienceCues:
    version: int
    child_support: Patterns
    child_support_context: Patterns
    addressed_to_other_agency: Patterns
    other_agency_matters: Weighed
    unrelated: Weighed
    overseas_case: Patterns
    securemail_notice: Patterns
    read_notice: tuple[Patterns, int]  # a plain-text read notice's wording, in an item this short or shorter
    referral_cues: dict[str, Patterns]
    referral_from_at_risk: dict[str, str]
    referral_from_at_risk_layers: frozenset[str]
    referral_from_model_min_words: int | None  # a model-layer passage this long or longer is a referral too
    referral_from_document_type: dict[str, str]
    model: ModelThresholds | None = None  # None: the cues alone decide

    def groups(self) -> list[Patterns]:
        """Every group of patterns, weighed or not."""
        weighed = [self.other_agency_matters, self.unrelated]
        found = [self.child_support, self.child_support_context, self.addressed_to_other_agency]
        found += [group for cues in weighed for group in (cues.strong, cues.weak)]
        return [*found, self.overseas_case, self.securemail_notice, self.read_notice[0], *self.referral_cues.values()]


@dataclass(frozen=True)
class Audience:
    child_support: bool  # the text says something of child support
    addressed_to_other_agency: bool
    about_other_agency_only: bool
    unrelated: bool  # advertising or scams: nothing of child support, or the model confident over it
    overseas_case: bool
    securemail_wording: bool
    read_notice_wording: bool = False  # a plain-text read notice's words, and nothing much else
    referrals: tuple[str, ...] = ()
    employer_voice: bool = False  # the model read an employer's voice (classify.py adds the cues')
    customer_voice: bool = False  # the model read a customer's own voice, confidently
    reasons: list[str] = field(default_factory=list)

    @property
    def intended_for_other_agency(self) -> bool:
        return self.addressed_to_other_agency or self.about_other_agency_only

    @property
    def child_support_related(self) -> bool:
        return not (self.intended_for_other_agency or self.unrelated)


def _compile(patterns: Iterable[str], names: dict[str, str]) -> Patterns:
    """Each pattern with its `{agencies}` and `{countries}` filled in (regex braces are left alone)."""
    compiled = []
    for pattern in patterns:
        for name, value in names.items():
            pattern = pattern.replace("{" + name + "}", value)
        compiled.append(Screened.of(re.compile(pattern, re.IGNORECASE | re.MULTILINE)))
    return tuple(compiled)


def _weighed(data: dict[str, Any], names: dict[str, str]) -> Weighed:
    return Weighed(_compile(data["strong"], names), _compile(data["weak"], names), int(data["min_score"]))


def load_cues(data: dict[str, Any]) -> AudienceCues:
    names = {"agencies": data["other_agencies"], "countries": data["countries"]}
    referrals = data["referrals"]
    return AudienceCues(
        version=int(data["version"]),
        child_support=_compile(data["child_support"], names),
        child_support_context=_compile(data["child_support_context"], names),
        addressed_to_other_agency=_compile(data["addressed_to_other_agency"], names),
        other_agency_matters=_weighed(data["other_agency_matters"], names),
        unrelated=_weighed(data["unrelated"], names),
        overseas_case=_compile(data["overseas_case"], names),
        securemail_notice=_compile(data["securemail_notice"], names),
        read_notice=(_compile([data["read_notice"]["wording"]], names), int(data["read_notice"]["max_chars"])),
        referral_cues={name: _compile(cues, names) for name, cues in referrals["cues"].items()},
        referral_from_at_risk=dict(referrals.get("from_at_risk", {})),
        referral_from_at_risk_layers=frozenset(referrals.get("from_at_risk_layers", ["lexicon", "construction"])),
        referral_from_model_min_words=referrals.get("from_model_min_words"),
        referral_from_document_type=dict(referrals.get("from_document_type", {})),
        model=ModelThresholds(**data["model"]) if data.get("model") else None,
    )


@lru_cache(maxsize=1)
def default_cues() -> AudienceCues:
    text = resources.files("mailintake_classifier.data").joinpath("audience.yaml").read_text(encoding="utf-8")
    return load_cues(yaml.safe_load(text))


def _hits(patterns: Patterns, text: TextNeedles) -> int:
    return sum(1 for p in patterns if p.found_in(text))


def needles_of(cues: AudienceCues) -> set[str]:
    return {n for group in cues.groups() for p in group for n in p.needles or ()}


def _long_enough(words: int, min_words: int | None) -> bool:
    return min_words is not None and words >= min_words


def referrals_in(
    text: str | TextNeedles, document_type: str | None, at_risk: Iterable[AtRiskHit], cues: AudienceCues
) -> tuple[str, ...]:
    """The referral kinds the item relates to, in a stable order. `at_risk`: (category, layer,
    words in the passage) of each at-risk match."""
    found = {
        cues.referral_from_at_risk[category]
        for category, layer, words in at_risk
        if category in cues.referral_from_at_risk
        and (layer in cues.referral_from_at_risk_layers or _long_enough(words, cues.referral_from_model_min_words))
    }
    if document_type in cues.referral_from_document_type:
        found.add(cues.referral_from_document_type[document_type])
    read = text if isinstance(text, TextNeedles) else TextNeedles(text)
    found |= {name for name, patterns in cues.referral_cues.items() if _hits(patterns, read)}
    return tuple(sorted(found))


def assess_audience(
    text: str,
    document_type: str | None = None,
    at_risk: Iterable[AtRiskHit] = (),
    cues: AudienceCues | None = None,
    found: TextNeedles | None = None,
    reading: AudienceReading | None = None,
) -> Audience:
    """What the normalised text of one item says about who it is for. `at_risk`: the at-risk
    filter's matches as (category, layer, words in the passage); `found`: the text's needles when
    the caller has them; `reading`: the audience model's (audience_model.py)."""
    cues = cues or default_cues()
    read = found if found is not None and found.text == text else TextNeedles(text)
    # A document type's cues are general ("update my address"); only child support's own words
    # outweigh an addressee, but a typed item, or one with words child support shares with other
    # agencies, is never "only about" another agency or unrelated.
    words = bool(_hits(cues.child_support, read))
    child_support = words or document_type is not None or bool(_hits(cues.child_support_context, read))
    addressed = not words and bool(_hits(cues.addressed_to_other_agency, read))
    matters = not child_support and not addressed and cues.other_agency_matters.found_in(read)
    unrelated = not child_support and cues.unrelated.found_in(read)
    model = model_says(reading, cues.model, words) if not (addressed or matters or unrelated) else None
    employer, customer = voices(reading, cues.model)
    audience = Audience(
        child_support=child_support,
        addressed_to_other_agency=addressed,
        about_other_agency_only=matters or model == "other_agency",
        unrelated=unrelated or model == "unrelated",
        overseas_case=bool(_hits(cues.overseas_case, read)),
        securemail_wording=bool(_hits(cues.securemail_notice, read)),
        read_notice_wording=len(text) <= cues.read_notice[1] and bool(_hits(cues.read_notice[0], read)),
        referrals=referrals_in(read, document_type, at_risk, cues),
        employer_voice=employer,
        customer_voice=customer,
    )
    v = f"audience cues v{cues.version}"
    audience.reasons.extend(
        reason
        for flag, reason in (
            (addressed, f"{v}: addressed to another agency, nothing about child support"),
            (matters, f"{v}: only about another agency's payments, nothing about child support"),
            (unrelated, f"{v}: advertising or scam wording, nothing about child support"),
            (audience.overseas_case, f"{v}: an overseas case"),
        )
        if flag
    )
    if reading is not None and cues.model is not None:
        m = f"audience model v{cues.model.version}"
        if model is not None:
            audience.reasons.append(f"{m}: {model.replace('_', ' ')} ({reading.probability:.2f})")
        if employer:
            audience.reasons.append(f"{m}: an employer's voice ({reading.of('employer'):.2f})")
    audience.reasons.extend(f"{v}: relates to a referral ({r})" for r in audience.referrals)
    return audience


def employer_correspondence(audience: Audience, by_type: bool, by_cues: bool) -> bool:
    """Written in an employer's voice: the model or the employer cues (senders.py) read one, or the
    item is typed as deductions and the model does not read a customer's own voice, confidently:
    a parent writing about what is taken from their own pay is typed so too (seed 001 lines
    151-156). The veto is given as a reason."""
    if audience.employer_voice or by_cues:
        return True
    if by_type and audience.customer_voice:
        audience.reasons.append("audience model: a customer writing about their own pay, not an employer")
        return False
    return by_type


def voices(reading: AudienceReading | None, thresholds: ModelThresholds | None) -> tuple[bool, bool]:
    """(an employer's voice, a customer's own voice), as the model reads them confidently enough."""
    if reading is None or thresholds is None or reading.words < thresholds.min_words:
        return False, False
    employer = reading.of("employer") >= thresholds.employer_min
    customer = reading.words >= thresholds.customer_min_words and reading.of("child_support") >= thresholds.customer_min
    return employer, customer


def model_says(reading: AudienceReading | None, thresholds: ModelThresholds | None, child_support: bool) -> str | None:
    """ "other_agency" or "unrelated" when the model reads so confidently enough: more confidently
    over child support's own words (`child_support`: phishing names Child Support) than elsewhere.
    A document type or words child support shares with other agencies ask no more than the
    model's own reading (its training mail has them)."""
    if reading is None or thresholds is None or reading.label not in ("other_agency", "unrelated"):
        return None
    if reading.words < thresholds.min_words:
        return None
    needed = thresholds.over_child_support_min if child_support else thresholds.not_child_support_min
    return reading.label if reading.probability >= needed else None
