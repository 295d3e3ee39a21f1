"""The routing matrix as data: document type -> category and sub-category (versioned YAML)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml


class MatrixError(ValueError):
    """The matrix file is not usable (missing types, bad entries)."""


@dataclass(frozen=True)
class Route:
    category: str
    sub_category: str | None
    attach: str = "customer"  # customer | organisation
    # any: every identified customer; sender: a two-party document (an agreement), attached only
    # to the customer who sent it, never to the other party (seed 001 line 26)
    parties: str = "any"


@dataclass(frozen=True)
class RoutingMatrix:
    version: int
    routes: dict[str, Route]
    default: Route
    international: Route | None = None

    def route_for(self, document_type: str | None) -> Route:
        return self.routes.get(document_type or "", self.default)

    @property
    def categories(self) -> list[str]:
        extra = {self.international.category} if self.international else set()
        return sorted({r.category for r in self.routes.values()} | {self.default.category} | extra)


REQUIRED_TYPES = frozenset(
    {
        "court_order",
        "court_application",
        "substituted_service",
        "referral_questionnaire",
        "agreement_initiating",
        "agreement_non_initiating",
        "agreement_draft",
        "cheque_domestic",
        "cheque_returned",
        "returned_to_sender",
        "document_retrieval",
        "complaint_feedback",
        "employer_deduction",
        "change_of_circumstances",
        "application_child_support",
        "objection",
        "foi_request",
    }
)


def load_matrix(data: dict[str, Any]) -> RoutingMatrix:
    try:
        version = int(data["version"])
        routes = {
            name: Route(
                str(entry["category"]),
                entry.get("sub_category"),
                str(entry.get("attach", "customer")),
                str(entry.get("parties", "any")),
            )
            for name, entry in data["types"].items()
        }
        default = Route(str(data["default"]["category"]), data["default"].get("sub_category"))
        overseas = data.get("international")
        international = Route(str(overseas["category"]), overseas.get("sub_category")) if overseas else None
    except (KeyError, TypeError, ValueError) as exc:
        raise MatrixError(f"routing matrix is malformed: {type(exc).__name__} {exc}") from None
    missing = REQUIRED_TYPES - set(routes)
    if missing:
        raise MatrixError(f"routing matrix lacks document types: {', '.join(sorted(missing))}")
    bad = [name for name, r in routes.items() if r.attach not in ("customer", "organisation")]
    if bad:
        raise MatrixError(f"routing matrix has an unknown attach target for: {', '.join(bad)}")
    bad = [name for name, r in routes.items() if r.parties not in ("any", "sender")]
    if bad:
        raise MatrixError(f"routing matrix has unknown parties for: {', '.join(bad)}")
    return RoutingMatrix(version, routes, default, international)


@lru_cache(maxsize=1)
def default_matrix() -> RoutingMatrix:
    text = resources.files("mailintake_routing.data").joinpath("routing_matrix.yaml").read_text(encoding="utf-8")
    return load_matrix(yaml.safe_load(text))
