"""The dashboard's files as they ship: no inline script, handler or style anywhere (the
Content-Security-Policy would block them), nothing that parses API data as HTML, every module
import resolves, the vendored uPlot is the version its README names, and the sunspot numbers
are data/sunspots.csv's."""

from __future__ import annotations

import importlib.util
import json
import re
from html.parser import HTMLParser
from pathlib import Path

from app.dashboard import STATIC_DIR

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted((STATIC_DIR / "js").rglob("*.js"))
# Ways to turn a string into markup or code; the pages build nodes and set textContent instead.
FORBIDDEN = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
             "new Function", "setAttribute(\"style\"", ".style.")  # fmt: skip


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_page_has_no_inline_script_handler_or_style() -> None:
    parser = Tags()
    parser.feed((STATIC_DIR / "index.html").read_text())
    scripts = [attrs for tag, attrs in parser.tags if tag == "script"]
    assert scripts and all(attrs.get("src") for attrs in scripts)
    assert not [tag for tag, _ in parser.tags if tag == "style"]
    for tag, attrs in parser.tags:
        assert not [name for name in attrs if name.startswith("on") or name == "style"], tag
    html = next(attrs for tag, attrs in parser.tags if tag == "html")
    assert html["lang"] == "en"


def test_no_module_turns_strings_into_markup_or_code() -> None:
    for module in MODULES:
        text = module.read_text()
        assert not [word for word in FORBIDDEN if word in text], module.name


def test_every_module_import_resolves() -> None:
    for module in MODULES:
        for target in re.findall(r'^import .* from "(\.[^"]+)";$', module.read_text(), re.M):
            assert (module.parent / target).resolve().is_file(), f"{module.name}: {target}"


def test_the_vendored_uplot_is_the_version_its_readme_names() -> None:
    vendor = STATIC_DIR / "vendor" / "uplot"
    version = re.search(r"^# uPlot (\S+)$", (vendor / "README.md").read_text(), re.M)
    assert version
    banner = (vendor / "uPlot.iife.min.js").read_text()[:200]
    assert f"(v{version[1]})" in banner
    assert "MIT License" in (vendor / "LICENSE").read_text()


def test_the_sunspot_numbers_are_the_csv_files() -> None:
    spec = importlib.util.spec_from_file_location("script", ROOT / "scripts/dashboard_sunspots.py")
    assert spec and spec.loader
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    shipped = json.loads((STATIC_DIR / "data" / "sunspots.json").read_text())
    assert shipped == script.sunspots()
    assert len(shipped["years"]) == len(shipped["values"]) == 309
