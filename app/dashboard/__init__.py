"""The web dashboard: static files only, no build step. `static/` holds index.html, the CSS,
the ES modules (one per page, `api.js` for requests, errors and the token, `charts.js` for
uPlot), the vendored uPlot (`static/vendor/uplot/`, its version in the README there) and the
sunspot numbers the forecast page prefills. `app.api.routes.dashboard` serves them under /ui.

May import: nothing."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

STATIC_DIR = Path(str(files(__name__).joinpath("static")))
