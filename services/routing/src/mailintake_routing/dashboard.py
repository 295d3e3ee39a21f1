"""The operations dashboard: one self-contained HTML page that refreshes its figures.

Choice (written down in docs/operations.md): the page itself is public and carries no data;
its figures come from `GET /v1/dashboard/summary`, which needs an `ops:read` key. The page
takes the key from `?key=` or a form, keeps it in sessionStorage only, and sends it as
`X-API-Key`. Figures are counts and document ids (no personal details), filtered by the key's
RACS level like every other listing. No asset comes from the internet: CSS and JS are inline.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from mailintake_common.web import EngineDep
from mailintake_routing.adapters import queues
from mailintake_routing.api import ReadKey, get_queues

router = APIRouter()

PAGE = resources.files("mailintake_routing.data").joinpath("dashboard.html").read_text(encoding="utf-8")


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
async def dashboard(request: Request) -> HTMLResponse:
    settings = request.app.state.settings
    page = PAGE.replace("__REFRESH_MS__", str(int(settings.dashboard_refresh_s * 1000)))
    page = page.replace("__INTAKE_URL__", settings.intake_public_url.rstrip("/"))
    return HTMLResponse(
        page,
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'",
        },
    )


@router.get("/v1/dashboard/summary", tags=["routing"])
async def summary(engine: EngineDep, principal: ReadKey) -> dict[str, Any]:
    """The dashboard's figures: queues, throughput, quarantine counts, open and acknowledged alert
    counts with the age of the oldest of each (alerts whose customer is unknown count for every
    key), recent ids."""
    async with engine.connect() as conn:
        figures = await queues.summary(conn, principal.racs_level)
    figures["queues"] = await get_queues(engine, principal)
    figures["recent"] = [{**r, "routed_at": r["routed_at"].isoformat()} for r in figures["recent"]]
    return figures
