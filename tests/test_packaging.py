"""Packaging guards: README and CI run the same test command; no torchvision in the dependency tree."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    return re.findall(r"^(python3 -m venv \.venv && .+)$", readme, flags=re.MULTILINE)


def test_ci_runs_the_readme_test_command() -> None:
    commands = _readme_commands()
    test_commands = [c for c in commands if "pytest" in c]
    assert len(commands) == 2 and len(test_commands) == 1
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_commands[0] in ci_lines


def test_every_install_step_uses_the_torch_constraint() -> None:
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text()
    for command in _readme_commands():
        assert "pip install" in command and "-c constraints.txt" in command


def _dependency_tree(name: str, seen: set[str]) -> set[str]:
    key = name.lower().replace("_", "-")
    if key in seen:
        return seen
    seen.add(key)
    try:
        requirements = metadata.requires(name) or []
    except metadata.PackageNotFoundError:
        return seen
    for text in requirements:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            _dependency_tree(requirement.name, seen)
    return seen


def test_no_torchvision_in_the_dependency_tree() -> None:
    tree = _dependency_tree("eiip", set())
    assert "torch" in tree and "torchmetrics" in tree
    assert "torchvision" not in tree
