"""The layout's rules that import-linter cannot see (it runs in `make lint`)."""

import ast
from pathlib import Path

import pytest

from tests.helpers import ROOT

APPS = [
    "config",
    "audit",
    "accounts",
    "targets",
    "registry",
    "evaluation",
    "feedback",
    "governance",
    "demo",
    "portal",
]
MAX_MODULE_LINES = 450


def app_modules() -> list[Path]:
    return sorted(
        path
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts
    )


def test_the_app_list_covers_every_package_at_the_root() -> None:
    packages = {
        path.parent.name
        for path in ROOT.glob("*/__init__.py")
        if path.parent.name not in {"tests", "bench", "client"}
    }
    assert packages == set(APPS)


@pytest.mark.parametrize("path", app_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_model_is_looked_up_by_name_to_get_around_the_layers(path: Path) -> None:
    # `apps.get_model` hides a dependency from import-linter; data migrations are
    # the one place it belongs.
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr == "get_model":
            pytest.fail(f"{path.relative_to(ROOT)}:{node.lineno} uses get_model")


def test_modules_stay_readable_in_one_sitting() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in app_modules()
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}
