"""Routing's settings: quality thresholds, the business-day clock, links."""

from __future__ import annotations

from mailintake_common.settings import CommonSettings


class RoutingSettings(CommonSettings):
    # A scanned image with mean OCR confidence below this is unclear: review-image (seed 001)
    review_image_min_confidence: float = 60.0
    # Fuzzy-match score (0-100) a name must reach, beside an exact date of birth, to identify a customer
    name_match_min_score: float = 85.0
    # Fuzzy-match score (0-100) an organisation's name must reach to identify it when its ABN and sender are unknown
    organisation_name_min_score: float = 90.0
    # Most directory records read as fuzzy candidates (people sharing a date of birth, organisations sharing a
    # word of a name); look-ups by CRN, email address, ABN or sender are never capped
    fuzzy_candidates_max: int = 200
    # A two-party document (an agreement) that nothing shows the sender of goes to a person instead of a record
    two_party_sender_required: bool = True
    # Timezone of the business-day clock for priority due dates
    business_timezone: str = "Australia/Canberra"
    # End of the business day, local time (HH:MM)
    business_day_end: str = "17:00"
    # Public holidays of this country and subdivision are not business days
    holiday_country: str = "AU"
    # Subdivision (state/territory) whose public holidays apply
    holiday_subdivision: str = "ACT"
    # Extra non-business days, ISO dates, comma-separated (e.g. agency shutdown days)
    extra_holidays: str = ""
    # Where intake answers, for the dashboard's links to a document's timeline
    intake_public_url: str = "http://127.0.0.1:8001"
    # How often the dashboard refreshes its figures, in seconds
    dashboard_refresh_s: int = 5
    # Hours of history in the dashboard's documents-per-minute chart
    dashboard_chart_hours: int = 3
    # Open queue items the dashboard lists (overdue first, then the oldest)
    dashboard_open_items: int = 20
    # How long a dashboard login lasts before the key must be typed again, in hours
    dashboard_session_hours: float = 8.0
    # Longest note an officer may record when acknowledging or closing an alert (characters)
    alert_note_max_chars: int = 2000
    # Longest note an officer may record when completing a queue item (characters)
    item_note_max_chars: int = 2000
    # Auto-Submitted values (comma-separated) that mark an automatic reply for pending-delete (RFC 3834);
    # `auto-generated` (payroll remittances, system notices) is real mail and is not listed
    automatic_reply_values: str = "auto-replied"
    # Senders of the agency's own Securemail delivery notices: addresses or domains, comma-separated (seed 000)
    securemail_senders: str = "securemail.servicesaustralia.gov.au"
    # A directory upsert that lowers a customer's RACS level lowers their existing queue items, alerts and
    # documents too (raising always does); false keeps work at the highest level it ever had (issue 15)
    racs_relevel_lowers: bool = True
