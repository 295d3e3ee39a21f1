"""Checking directory records before they are stored (SPEC 3 Directory): pure, raising domain errors.

Details name the record by its position and id only, never a CRN or name.
"""

from __future__ import annotations

import re
from typing import Any

from mailintake_common.domain_errors import Invalid

CRN = re.compile(r"^\d{9}[A-Z]$")
ABN_WEIGHTS = (10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19)


def abn_valid(abn: str) -> bool:
    if not re.fullmatch(r"\d{11}", abn):
        return False
    values = [int(d) for d in abn]
    values[0] -= 1
    return sum(v * w for v, w in zip(values, ABN_WEIGHTS, strict=True)) % 89 == 0


def customer_records(body: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Customers as stored: CRN upper-cased without spaces, emails lower-cased, case ids trimmed.

    A CRN that is not 9 digits and a letter, or the same CRN twice in one request, is refused."""
    records = []
    for index, record in enumerate(body):
        crn = record["crn"].replace(" ", "").upper()
        if not CRN.match(crn):
            raise Invalid(
                "invalid_crn",
                f"record {index} (customer_id {record['customer_id']}): crn must be 9 digits and a letter",
            )
        records.append(
            {
                **record,
                "crn": crn,
                "emails": [e.strip().lower() for e in record["emails"]],
                "case_ids": list(dict.fromkeys(c.strip() for c in record.get("case_ids", []) if c.strip())),
            }
        )
    crns = [r["crn"] for r in records]
    if len(set(crns)) != len(crns):
        index = next(i for i, crn in enumerate(crns) if crns.index(crn) != i)
        raise Invalid(
            "duplicate_crn",
            f"record {index} (customer_id {body[index]['customer_id']}): the same crn appears twice in the request",
        )
    return records


def organisation_records(body: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Organisations as stored; an ABN failing the ABN checksum is refused."""
    records = []
    for index, record in enumerate(body):
        abn = (record.get("abn") or "").replace(" ", "") or None
        if abn is not None and not abn_valid(abn):
            raise Invalid(
                "invalid_abn",
                f"record {index} (organisation_id {record['organisation_id']}): "
                "abn is not a valid ABN (11 digits passing the checksum)",
            )
        records.append(
            {
                **record,
                "abn": abn,
                "email_domains": [d.strip().lower().lstrip("@") for d in record["email_domains"]],
                "sender_addresses": [a.strip().lower() for a in record["sender_addresses"]],
            }
        )
    return records
