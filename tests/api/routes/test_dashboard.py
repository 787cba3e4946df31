"""The dashboard's files: `/` sends the browser to /ui/, every file comes with the strict
Content-Security-Policy and nosniff, a missing file is the usual JSON 404, and none of it is
in the OpenAPI schema."""

from __future__ import annotations

import httpx
import pytest

from app.api.routes.dashboard import CONTENT_SECURITY_POLICY

pytestmark = pytest.mark.anyio


async def test_the_root_redirects_to_the_dashboard(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 307
    assert response.headers["location"] == "/ui/"


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/ui/", "text/html"),
        ("/ui/js/main.js", "text/javascript"),
        ("/ui/css/dashboard.css", "text/css"),
        ("/ui/vendor/uplot/uPlot.iife.min.js", "text/javascript"),
        ("/ui/data/sunspots.json", "application/json"),
    ],
)
async def test_every_file_is_served_with_the_security_headers(
    client: httpx.AsyncClient, path: str, media_type: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_policy_allows_no_inline_script_and_no_eval() -> None:
    directives = dict(part.split(" ", 1) for part in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["default-src"] == directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


async def test_a_missing_file_is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/ui/js/missing.js")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_the_dashboard_is_not_in_the_api_schema(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [path for path in paths if path == "/" or path.startswith("/ui")]
