"""The documentation's commands run as written.

Every fenced block of README.md and docs/*.md preceded by the line ``<!-- runnable -->`` (a ```bash or a
```python block) is run, in the order of its page, in a copy of the repository's files with nothing beside it
(no ../shared, no datasets, no checkpoints), with the virtual environment's ``eiip`` and ``python`` first on
PATH. Pages whose blocks do not run ``eiip demo`` themselves find its outputs (demo-out/) in place, as their
text tells the reader to make them first. Also: no page points outside the repository, and every relative
link resolves.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- runnable -->"
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^" + re.escape(MARKER) + r"[ \t]*\n```(bash|python)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def runnable_blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of every block marked runnable, in order."""
    return [(language, code) for language, code in _BLOCK.findall(text)]


def _documents_with_blocks() -> list[Path]:
    return [document for document in DOCUMENTS if runnable_blocks(document.read_text())]


def _tracked_files() -> list[str]:
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "outputs", "__pycache__", ".pytest_cache"}
        return [str(path.relative_to(ROOT)) for path in ROOT.rglob("*")
                if path.is_file() and not skip.intersection(path.relative_to(ROOT).parts)]
    return [name for name in listed.decode().split("\0") if name and (ROOT / name).is_file()]


def _copy_repository(destination: Path) -> Path:
    for name in _tracked_files():
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    return destination


def _environment(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["EIIP_CACHE"] = str(cache)           # sample shards and mask sets, shared by the pages
    env.setdefault("EIIP_OFFLINE", "1")      # nothing marked runnable needs a download
    env["WANDB_MODE"] = "offline"
    env["WANDB_DIR"] = env["WANDB_CACHE_DIR"] = env["WANDB_CONFIG_DIR"] = env["WANDB_DATA_DIR"] = str(cache / "wandb")
    env.pop("PYTHONPATH", None)
    return env


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("eiip-cache")


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> Path:
    """What `eiip demo` writes, made once for the pages that start from it (input, mask and gray do not depend
    on the colorizer; levin is the quickest)."""
    folder = tmp_path_factory.mktemp("demo")
    subprocess.run(["eiip", "demo", "--colorizer", "levin", "--quiet"], cwd=folder, env=_environment(cache), check=True,
                   capture_output=True, timeout=300)
    return folder / "demo-out"


def _run(language: str, code: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    if language == "bash":
        command = ["bash", "-euo", "pipefail", "-c", code]
    else:
        script = cwd / "_docs_example.py"
        script.write_text(code)
        command = ["python", script.name]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("document", _documents_with_blocks(), ids=lambda path: path.name)
def test_runnable_blocks_run_as_written(document: Path, tmp_path: Path, cache: Path, demo_out: Path) -> None:
    blocks = runnable_blocks(document.read_text())
    checkout = _copy_repository(tmp_path / "eiip")
    if not any("eiip demo" in code for _, code in blocks):
        shutil.copytree(demo_out, checkout / "demo-out")
    env = _environment(cache)
    for number, (language, code) in enumerate(blocks, 1):
        done = _run(language, code, checkout, env)
        assert done.returncode == 0, (
            f"{document.name}, runnable block {number} ({language}) failed with status {done.returncode}:\n"
            f"{code}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}")


def test_the_marker_is_used_and_always_precedes_a_block() -> None:
    assert _documents_with_blocks(), "no block is marked runnable"
    for document in DOCUMENTS:
        text = document.read_text()
        assert text.count(MARKER) == len(runnable_blocks(text)), (
            f"{document.name}: a {MARKER} line not directly followed by a ```bash or ```python block")


def test_the_python_api_example_is_run() -> None:
    blocks = runnable_blocks((ROOT / "docs" / "python-api.md").read_text())
    assert [language for language, _ in blocks] == ["python"]
    assert "from eiip.api import" in blocks[0][1]


def test_docs_point_nowhere_outside_the_repository() -> None:
    for document in DOCUMENTS:
        text = document.read_text()
        assert "../shared" not in text, f"{document.name} uses ../shared, which a fresh clone lacks"
        for target in _LINK.findall(text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (document.parent / target.split("#")[0]).resolve()
            assert path.exists(), f"{document.name} links to a missing file: {target}"
            assert ROOT in path.parents or path == ROOT, f"{document.name} links outside the repository: {target}"
