"""What the app does, without the page: read a photo and a hole, run both stages, colorize again with hints.

Everything goes through :mod:`eiip.api`, as ``eiip inpaint`` does (same stages, full-resolution strategy,
colorizers, hints), so the page shows what the command line writes. Every file the app writes lies in its
own folder (:attr:`Workspace.folder`); bad input raises :class:`~eiip.errors.InputError` with one line.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from eiip.api import (ColorHint, build_external_stage, colorizer_for, read_image, read_mask, recolorized, two_stage,
                      validate_colorize_inputs, write_image)
from eiip.app.stages import StageOption, stage_options
from eiip.choices import APP_MAX_PIXELS, INTERNAL_COLORIZERS
from eiip.color import composite
from eiip.colorize import Colorizer
from eiip.data.samples import SAMPLE_PHOTOS, load_photo_array
from eiip.errors import InputError
from eiip.io import write_mask
from eiip.pipeline import ExternalStage

KEPT_RUNS = 16
"""Completions whose folders are kept in the workspace; older ones are removed as new ones are written."""


@dataclass(frozen=True)
class RunFiles:
    """The PNGs of one result, full resolution: the input with its hole, the hole mask, the completed
    monochrome and the final image; ``number`` counts the workspace's results from 1."""

    number: int
    masked: Path
    mask: Path
    mono: Path
    final: Path


@dataclass(eq=False)
class Completion:
    """A completed photo, kept to colorize again: the photo (3, H, W), its known pixels (1, H, W) bool, the
    completed monochrome (1, H, W), the stage's output kind, the hints given so far, and the files of its
    first result (the input, mask and monochrome PNGs serve every later result too)."""

    image: torch.Tensor
    known: torch.Tensor
    mono: torch.Tensor
    output: str
    files: RunFiles
    hints: list[ColorHint] = field(default_factory=list)


def hole_from_layers(layers: Sequence[str], height: int, width: int) -> torch.Tensor:
    """The hole (1, H, W) bool painted on the editor's layers (files): every pixel with paint (alpha > 0)."""
    hole = np.zeros((height, width), dtype=bool)
    for path in layers:
        with Image.open(path) as layer:
            if layer.size != (width, height):
                raise InputError(f"the painted layer is {layer.width}x{layer.height} but the photo is {width}x{height}")
            hole |= np.asarray(layer.convert("RGBA"))[..., 3] > 0
    return torch.from_numpy(hole)[None]


class Workspace:
    """The app's state on the server: its folder, the stages offered, one job at a time and its Stop event.

    ``internal_settings``: options of the internal colorizers (``preset``, ``levels``, ``steps``, ...; default
    the ``fast`` preset's, as the command line)."""

    def __init__(self, folder: str | Path, *, ckpt_dir: str | Path | None = None, max_pixels: int = APP_MAX_PIXELS,
                 device: str = "cpu", internal_settings: dict[str, object] | None = None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_pixels = max_pixels
        self.device = device
        self.internal_settings = dict(internal_settings or {})
        self.stages: dict[str, StageOption] = {option.label: option for option in stage_options(ckpt_dir)}
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._built: dict[str, ExternalStage] = {}  # the last stage used
        self._results = 0

    # -- inputs ---------------------------------------------------------------------------------

    def sample_photo(self, name: str) -> Path:
        """A bundled photo (:data:`eiip.data.samples.SAMPLE_PHOTOS`) written as a PNG in the workspace."""
        if name not in SAMPLE_PHOTOS:
            raise InputError(f"unknown sample photo {name!r}; available: {', '.join(SAMPLE_PHOTOS)}")
        path = self.folder / "samples" / f"{name}.png"
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            Image.fromarray(load_photo_array(name)).save(path)
        return path

    def read_photo(self, path: str | Path) -> torch.Tensor:
        """The photo (3, H, W); InputError for a file that is not an image or is over the size limit."""
        return read_image(path, self.max_pixels)

    def hole(self, photo: torch.Tensor, mask_file: str | Path | None, layers: Sequence[str]) -> torch.Tensor:
        """The hole (1, H, W) bool: the uploaded mask when there is one, else the painted layers; checked to
        have a hole and known pixels."""
        height, width = photo.shape[-2:]
        if not mask_file:
            hole = hole_from_layers(layers, height, width)
            if not bool(hole.any()):
                raise InputError("nothing is painted: paint the hole with the brush, or upload a mask")
        else:
            hole = read_mask(mask_file, self.max_pixels)
        validate_colorize_inputs(photo, hole, image_name="(the photo)",
                                 mask_name=Path(mask_file).name if mask_file else "painted on the photo")
        return hole

    # -- stages ---------------------------------------------------------------------------------

    def stage_option(self, label: str) -> StageOption:
        if label not in self.stages:
            raise InputError(f"unknown external stage {label!r}")
        option = self.stages[label]
        if option.problem:
            raise InputError(option.problem)
        return option

    def external_stage(self, label: str) -> ExternalStage:
        """The stage of a menu label, built once (a checkpoint is read once), with the CLI's default
        full-resolution strategy."""
        if label not in self._built:
            option = self.stage_option(label)
            self._built = {label: build_external_stage(backbone=option.backbone, ckpt=option.ckpt, device=self.device)}
        return self._built[label]

    def colorizer(self, name: str, hints: Sequence[ColorHint]) -> Colorizer:
        """The colorizer ``name`` with the hints, its options as the CLI's defaults; the internal colorizers
        stop at the Stop event."""
        options: dict[str, object] = {}
        if name in INTERNAL_COLORIZERS:
            options = {"device": self.device, "progress": True, "stop": self.stop, **self.internal_settings}
        return colorizer_for(name, hints=hints, **options)

    # -- runs -----------------------------------------------------------------------------------

    def complete(self, photo: torch.Tensor, hole: torch.Tensor, stage_label: str, colorizer: str
                 ) -> tuple[Completion, RunFiles]:
        """Both stages on the photo; the completion (kept for hints) and its files."""
        with self._lock:
            self.stop.clear()
            stage = self.external_stage(stage_label)
            result = two_stage(photo, hole, stage, self.colorizer(colorizer, []) if stage.output == "mono" else None)
            known = ~hole
            files = self._write_completion(photo, known, result.mono, result.final)
            return Completion(photo, known, result.mono, stage.output, files), files

    def recolor(self, completion: Completion, colorizer: str) -> RunFiles:
        """The completed monochrome colorized again with the completion's hints (the external stage is not
        rerun); InputError for an rgb stage, whose result has no colorizer. Only the new result is written."""
        if completion.output != "mono":
            raise InputError("an rgb checkpoint completes the colors itself: hints need a mono stage")
        with self._lock:
            self.stop.clear()
            final = recolorized(completion.image, completion.known, completion.mono,
                                self.colorizer(colorizer, completion.hints))
            folder = completion.files.final.parent / uuid.uuid4().hex[:12]
            folder.mkdir()
            return replace(completion.files, number=self._next_number(), final=write_image(folder / "result.png", final))

    def _next_number(self) -> int:
        self._results += 1
        return self._results

    def _write_completion(self, image: torch.Tensor, known: torch.Tensor, mono: torch.Tensor, final: torch.Tensor
                          ) -> RunFiles:
        """Write a completion's PNGs into a new folder (the oldest beyond :data:`KEPT_RUNS` removed)."""
        runs = self.folder / "runs"
        runs.mkdir(exist_ok=True)
        for old in sorted(runs.iterdir(), key=lambda p: p.stat().st_mtime)[:-KEPT_RUNS + 1]:
            shutil.rmtree(old, ignore_errors=True)
        run = runs / uuid.uuid4().hex[:12]
        run.mkdir()
        masked = write_image(run / "input.png", composite(torch.ones_like(image), image, known))
        return RunFiles(self._next_number(), masked, write_mask(run / "mask.png", ~known),
                        write_image(run / "monochrome.png", mono), write_image(run / "result.png", final))
