"""packaging/constraints.txt, the one lock the image, the tests and the demo install from, still
satisfies pyproject.toml (a dependency changed without `make lock` fails here)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "preview-screenshot-service"


def locked() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "packaging" / "constraints.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"not an exact pin: {line}"
        pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


def declared() -> list[Requirement]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"].values()
    requirements = [Requirement(item) for extra in extras for item in extra]
    return [item for item in requirements if canonicalize_name(item.name) != PROJECT]


@pytest.mark.parametrize("requirement", declared(), ids=str)
def test_every_declared_dependency_is_pinned_within_its_range(requirement: Requirement) -> None:
    version = locked().get(canonicalize_name(requirement.name))
    assert version is not None, f"{requirement.name} is not in the lock: run `make lock`"
    assert requirement.specifier.contains(version, prereleases=True), (
        f"the lock pins {requirement.name}=={version}, outside {requirement.specifier}"
    )


def test_the_project_itself_is_not_a_constraint() -> None:
    assert PROJECT not in locked()
