"""This tree against another git revision, for the benchmarks that compare the two in one run.

`benchmarks/` is not a package: its scripts run as `python benchmarks/NAME.py`, which puts this folder
first on `sys.path`, so they import this module as `revisions` (also in the worker processes they
start, which run this tree's script inside the exported tree).
"""

from __future__ import annotations

import subprocess
import tarfile
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
THIS_TREE = "this tree"
Result = TypeVar("Result")


def export_revision(rev: str, into: Path) -> Path:
    """The tree of `rev` written under `into` (git archive)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def trees(baseline_rev: str, scratch: Path) -> dict[str, Path]:
    """{"this tree": this checkout, baseline_rev: its exported tree under `scratch`}; no baseline for 'none'."""
    found = {THIS_TREE: ROOT}
    if baseline_rev != "none":
        found[baseline_rev] = export_revision(baseline_rev, scratch / "baseline")
    return found


def alternating(labels: list[str], runs: int, measure: Callable[[str, int], Result]) -> dict[str, list[Result]]:
    """`measure(label, run)` for every label, `runs` rounds of all labels in turn, so that every label
    sees the machine as it is over the whole benchmark; the results per label, in run order."""
    results: dict[str, list[Result]] = {label: [] for label in labels}
    for run in range(runs):
        for label in labels:
            results[label].append(measure(label, run))
    return results
