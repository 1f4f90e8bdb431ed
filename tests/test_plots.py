"""The benchmark plots: drawn by one script from the results files, up to date, and every embedded image exists."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").glob("*.md"))]


def _plots_module():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("plots", ROOT / "benchmarks" / "plots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_plots_are_drawn_from_todays_results() -> None:
    plots = _plots_module()
    recorded = json.loads((plots.OUT / plots.RECORD).read_text())
    assert recorded == plots.expected_record(), "a results file or plots.py changed: run python benchmarks/plots.py"
    for name in plots.PLOTS:
        assert (plots.OUT / name).is_file()


def test_the_script_draws_every_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    plots = _plots_module()
    written = plots.draw(tmp_path)
    assert [path.name for path in written] == list(plots.PLOTS)
    for path in written:
        with Image.open(path) as drawn, Image.open(plots.OUT / path.name) as committed:
            assert drawn.size == committed.size
    assert json.loads((tmp_path / plots.RECORD).read_text()) == plots.expected_record()


def test_every_embedded_image_exists() -> None:
    for document in DOCUMENTS:
        for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", document.read_text()):
            assert (document.parent / target).is_file(), f"{document.name} embeds a missing image: {target}"
