"""The dashboard (app/dashboard/static) under /ui, and `/` sending the browser there. Outside
the OpenAPI schema: pages for people, not part of the API."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from app.dashboard import STATIC_DIR

PREFIX = "/ui"
# Scripts and styles from this origin only: no inline script, no inline style attribute, no
# eval. uPlot sets its styles through the CSSOM (element.style), which style-src does not
# govern, so it needs no 'unsafe-inline'. The pages call the API on the same origin.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidated on every load (a 304 when unchanged): a new release's modules never mix
    # with an old cached one.
    "Cache-Control": "no-cache",
}


class DashboardFiles(StaticFiles):
    """Static files with the dashboard's security headers on every answer."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(HEADERS)
        return response


router = APIRouter(tags=["dashboard"], include_in_schema=False)
router.mount(PREFIX, DashboardFiles(directory=STATIC_DIR, html=True), name="dashboard")


@router.get("/")
async def dashboard() -> RedirectResponse:
    """The dashboard lives under /ui/."""
    return RedirectResponse(f"{PREFIX}/", status_code=307)
