"""MkDocs hook: the results of experiments/ shown in the docs from their one copy. The plots of
experiments/truncation/ are served as `truncation/<name>.png`, and the page that discusses the
study gets the study's own results table (results.md) where it holds the marker below, so the
page cannot drift from what the study last wrote."""

from __future__ import annotations

from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

MARKER = "<!-- truncation-results -->"
PAGE = "truncation.md"


def _study(config: MkDocsConfig) -> Path:
    return Path(config.config_file_path).resolve().parent / "experiments" / "truncation"


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for plot in sorted(_study(config).glob("*.png")):
        files.append(File.generated(config, f"truncation/{plot.name}", abs_src_path=str(plot)))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise PluginError(f"docs/{PAGE} lacks the marker {MARKER} that the results replace")
    return markdown.replace(MARKER, (_study(config) / "results.md").read_text(encoding="utf-8"))
