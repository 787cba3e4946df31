"""The architecture as the package docstrings state it: each package of `app` imports only the
packages its docstring's "May import:" line names, only `app.api` and `app.main` import the web
framework, and `model` never imports `app` or the web framework."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app"
WEB = ("fastapi", "starlette")
PACKAGES = sorted(path.name for path in APP.iterdir() if (path / "__init__.py").exists())


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at its top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def allowed_imports(package: str) -> set[str]:
    """The packages of `app` (and `model`) named on the docstring's "May import:" line."""
    doc = importlib.import_module(f"app.{package}").__doc__ or ""
    match = re.search(r"May import: (.*?)\.\s*$", doc, re.S)
    assert match, f"app/{package}/__init__.py has no 'May import:' line"
    if match[1] == "nothing":
        return set()
    return {name.split(" ")[0] for name in re.split(r",\s*", " ".join(match[1].split()))}


def owner(module: str) -> str | None:
    """The layer a module of ours belongs to: app.<package>, app.main, or model."""
    parts = module.split(".")
    if parts[0] == "model":
        return "model"
    if parts[0] == "app" and len(parts) > 1:
        return ".".join(parts[:2])
    return None


def test_every_package_names_what_it_may_import() -> None:
    assert set(PACKAGES) == {
        "api", "cli", "core", "dashboard", "grpc", "observability", "protocol", "registry",
        "serving", "training",
    }  # fmt: skip
    for package in PACKAGES:
        assert allowed_imports(package) <= {f"app.{name}" for name in PACKAGES} | {
            "app.main",
            "model",
        }


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_what_its_docstring_allows(package: str) -> None:
    allowed = allowed_imports(package) | {f"app.{package}"}
    for path in sorted((APP / package).rglob("*.py")):
        for module in imported_modules(path):
            layer = owner(module)
            where = path.relative_to(ROOT)
            assert layer is None or layer in allowed, f"{where} imports {module}"
            if package != "api":
                assert module.split(".")[0] not in WEB, f"{where} imports {module}"


def test_only_the_api_and_main_import_the_web_framework() -> None:
    for path in sorted(APP.rglob("*.py")):
        if path.parent == APP / "api" or APP / "api" in path.parents or path == APP / "main.py":
            continue
        web = {module for module in imported_modules(path) if module.split(".")[0] in WEB}
        assert not web, f"{path.relative_to(ROOT)} imports {web}"


def test_the_top_level_of_app_holds_only_main_and_packages() -> None:
    modules = {path.name for path in APP.glob("*.py")}
    assert modules == {"__init__.py", "main.py"}


def test_the_model_package_never_imports_the_service_or_the_web() -> None:
    for path in sorted((ROOT / "model").rglob("*.py")):
        for module in imported_modules(path):
            assert module.split(".")[0] not in ("app", *WEB), f"{path} imports {module}"
