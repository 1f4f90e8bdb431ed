"""The external stages the app offers: OpenCV's ``telea`` and ``ns``, and every checkpoint in a folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eiip.choices import CLASSICAL_METHODS
from eiip.errors import InputError

CHECKPOINT_SUFFIXES: tuple[str, ...] = (".ckpt", ".pt", ".pth")
"""Files taken for checkpoints in ``--ckpt-dir``: train.py's ``.ckpt`` and ``eiip import-weights`` outputs."""


@dataclass(frozen=True)
class StageOption:
    """One external stage of the page's menu: a learning-free ``backbone`` or a checkpoint ``ckpt``.

    ``output``: "mono" (the paper's method: a colorizer follows) or "rgb" (the baseline); None for a file
    that does not load as an eiip checkpoint (``problem`` says why; choosing it gives that message)."""

    label: str
    backbone: str | None = None
    ckpt: Path | None = None
    output: str | None = "mono"
    problem: str | None = None


def _checkpoint_option(path: Path, folder: Path) -> StageOption:
    """The option of one checkpoint file, its bottleneck read from the file."""
    from eiip.pipeline import read_checkpoint_kind

    name = str(path.relative_to(folder))
    try:
        output = read_checkpoint_kind(path)
    except InputError as error:
        return StageOption(f"{name} (does not load)", ckpt=path, output=None, problem=str(error))
    return StageOption(f"{name} ({output} checkpoint)", ckpt=path, output=output)


def stage_options(ckpt_dir: str | Path | None) -> list[StageOption]:
    """``telea`` and ``ns``, then the checkpoints under ``ckpt_dir`` (recursively, sorted by path).

    InputError when ``ckpt_dir`` is given but is not a folder."""
    options = [StageOption(f"{method} (OpenCV, mono)", backbone=method) for method in CLASSICAL_METHODS]
    if ckpt_dir is None:
        return options
    folder = Path(ckpt_dir).expanduser()
    if not folder.is_dir():
        raise InputError(f"--ckpt-dir {folder} is not a folder")
    files = sorted(p for p in folder.rglob("*") if p.suffix in CHECKPOINT_SUFFIXES and p.is_file())
    return options + [_checkpoint_option(path, folder) for path in files]
