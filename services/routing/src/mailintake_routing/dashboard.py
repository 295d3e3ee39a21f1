"""The operations dashboard: one small page that refreshes its figures, behind a login form.

Choice (written down in docs/operations.md): a key never travels in a URL. The page itself is
public and carries no data; an officer types an `ops:read` key into its form, which is posted
to `/dashboard/login` and exchanged for a session cookie (HttpOnly, SameSite=Strict, Secure on
https) that names the key. The cookie is good only for reading (GET), lasts
`MAILINTAKE_DASHBOARD_SESSION_HOURS`, and dies with the key when the key is revoked. The figures
come from `GET /v1/dashboard/summary` (counts and document ids, no personal details, filtered by
the key's RACS level like every other listing). Script and style are files of their own, so the
page runs under a policy with no inline script (gate.py); nothing comes from the internet.
"""

from __future__ import annotations

from datetime import timedelta
from html import escape
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mailintake_common.auth import SESSION_COOKIE
from mailintake_common.keys import end_session, start_session
from mailintake_common.web import EngineDep
from mailintake_routing.adapters import dashboard as dashboard_figures
from mailintake_routing.api import ReadKey, get_queues

router = APIRouter()

DATA = resources.files("mailintake_routing.data")
PAGE = DATA.joinpath("dashboard.html").read_text(encoding="utf-8")
SCRIPT = DATA.joinpath("dashboard.js").read_text(encoding="utf-8")
STYLE = DATA.joinpath("dashboard.css").read_text(encoding="utf-8")
NO_STORE = {"Cache-Control": "no-store"}


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
async def dashboard(request: Request) -> HTMLResponse:
    settings = request.app.state.settings
    page = PAGE.replace("__REFRESH_MS__", str(int(settings.dashboard_refresh_s * 1000)))
    page = page.replace("__INTAKE_URL__", escape(settings.intake_public_url.rstrip("/"), quote=True))
    return HTMLResponse(page, headers=NO_STORE)


@router.get("/dashboard/app.js", include_in_schema=False)
async def dashboard_script() -> Response:
    return Response(SCRIPT, media_type="text/javascript", headers=NO_STORE)


@router.get("/dashboard/style.css", include_in_schema=False)
async def dashboard_style() -> Response:
    return Response(STYLE, media_type="text/css", headers=NO_STORE)


@router.post("/dashboard/login", include_in_schema=False)
async def login(request: Request, engine: EngineDep, key: Annotated[str, Form(max_length=512)] = "") -> Response:
    """Exchange a key with `ops:read` for a session cookie; a refused key goes back to the form."""
    principal = await request.app.state.key_cache.lookup(engine, key) if key else None
    if principal is None or not principal.holds("ops:read"):
        return RedirectResponse("/dashboard#refused", status_code=303, headers=NO_STORE)
    hours = request.app.state.settings.dashboard_session_hours
    async with engine.begin() as conn:
        token, _ = await start_session(conn, principal, timedelta(hours=hours))
    answer = RedirectResponse("/dashboard", status_code=303, headers=NO_STORE)
    answer.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(hours * 3600),
        path="/",
        httponly=True,
        samesite="strict",
        secure=_is_https(request),
    )
    return answer


@router.post("/dashboard/logout", include_in_schema=False)
async def logout(request: Request, engine: EngineDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        async with engine.begin() as conn:
            await end_session(conn, token)
        request.app.state.key_cache.clear()  # this process forgets the session at once, not after the TTL
    answer = RedirectResponse("/dashboard", status_code=303, headers=NO_STORE)
    answer.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=_is_https(request))
    return answer


def _is_https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


@router.get("/v1/dashboard/summary", tags=["routing"])
async def summary(request: Request, engine: EngineDep, principal: ReadKey) -> dict[str, Any]:
    """The dashboard's figures: queues; documents not yet routed by stage, failed documents and
    dead letters per consumer group; held items; open and acknowledged alerts with the age of the
    oldest of each (alerts whose customer is unknown count for every key); documents received
    and routed per minute over the last hours; the open items most in need of a person (overdue
    first, then the oldest) and recent ids. Takes `X-API-Key` or the dashboard's session cookie."""
    settings = request.app.state.settings
    async with engine.connect() as conn:
        figures = await dashboard_figures.summary(
            conn,
            principal.racs_level,
            chart_hours=settings.dashboard_chart_hours,
            open_items=settings.dashboard_open_items,
        )
    figures["queues"] = await get_queues(engine, principal)
    return figures
