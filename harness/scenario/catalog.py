"""The scenario catalog: the documented scenarios shipped with mwaa-drill (scenarios/*.yaml)."""

from __future__ import annotations

from pathlib import Path

from harness.scenario.load import FieldError, ScenarioError, load_scenario
from harness.scenario.model import Scenario


def catalog_dir() -> Path:
    """`scenarios/` of the repository checkout, else the copy installed inside the package."""
    package = Path(__file__).resolve().parents[1]  # harness/
    checkout = package.parent / "scenarios"
    if checkout.is_dir():
        return checkout
    # The wheel force-includes scenarios/ as harness/_catalog (pyproject.toml).
    return package / "_catalog"


def list_catalog() -> list[tuple[Path, Scenario]]:
    """Every catalog scenario with its file, sorted by file name.

    Raises ScenarioError listing the problems of every invalid file, or if there is no catalog.
    """
    directory = catalog_dir()
    if not directory.is_dir():
        raise ScenarioError([FieldError(str(directory), "", "scenario catalog not found")])
    loaded: list[tuple[Path, Scenario]] = []
    errors: list[FieldError] = []
    for path in sorted(directory.glob("*.yaml"), key=lambda p: p.name):
        try:
            loaded.append((path, load_scenario(path)))
        except ScenarioError as exc:
            errors.extend(exc.errors)
    if errors:
        raise ScenarioError(errors)
    return loaded
