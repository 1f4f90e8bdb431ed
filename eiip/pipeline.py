"""Both stages of the method on whole images: an external stage completes the monochrome, a guided
colorizer (`eiip.colorize`) restores the hole's colors from the known pixels.

External stages (:class:`ExternalStage`) take a batch ``image`` (B, 3, H, W) in [0, 1] and ``hole``
(B, 1, H, W) float (1 = hole) and return the completed monochrome (B, 1, H, W), or the completed RGB
(B, 3, H, W) for ``output == "rgb"``, with the known pixels kept exactly:

* :class:`CheckpointStage`: a trained :class:`eiip.external.module.ExternalInpainter` checkpoint
  (``bottleneck=mono``: the paper's method; ``bottleneck=rgb``: the RGB baseline);
* :class:`ClassicalStage`: OpenCV's Telea or Navier-Stokes inpainting of the monochrome, a
  learning-free stage and sanity baseline;
* :class:`TruthStage`: the monochrome of the full image (the paper's Table 3 protocol); the only
  stage that reads hole pixels.

:func:`two_stage` runs a stage and a colorizer on one image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from eiip.external.backbones.hifill import HiFill
from eiip.choices import CLASSICAL_METHODS, NEIGHBOURHOOD_ABOVE, WORKING_PIXELS
from eiip.color import composite, composite_, rgb_to_mono
from eiip.colorize import Colorizer
from eiip.errors import InputError
from eiip.hd_strategy import SizedStage

if TYPE_CHECKING:
    from eiip.external.module import ExternalInpainter  # imports lightning: only checkpoint stages need it

__all__ = [
    "CLASSICAL_METHODS",
    "STAGE_BACKBONES",
    "CheckpointStage",
    "ClassicalStage",
    "ExternalStage",
    "TruthStage",
    "TwoStageResult",
    "build_external_stage",
    "read_checkpoint_kind",
    "recolorized",
    "two_stage",
]

STAGE_BACKBONES: tuple[str, ...] = (*CLASSICAL_METHODS, "truth")
"""Names :func:`build_external_stage` accepts as ``backbone``."""


class ExternalStage(Protocol):
    """Completes the hole: (B, 3, H, W) image, (B, 1, H, W) hole -> (B, 1 or 3, H, W).

    ``output`` is "mono" (the completed monochrome) or "rgb" (the completed RGB image). Known
    pixels are kept exactly; hole pixels of the image do not influence the result.
    """

    output: str

    def __call__(self, image: Tensor, hole: Tensor) -> Tensor: ...


def _check_batch(image: Tensor, hole: Tensor) -> Tensor:
    """Validate a (B, 3, H, W) image and (B, 1, H, W) hole; returns the hole as a 0/1 float of the image's dtype."""
    if image.ndim != 4 or image.shape[1] != 3 or not image.is_floating_point():
        raise ValueError(f"image must be a float (B, 3, H, W) tensor, got {image.dtype} {tuple(image.shape)}")
    expected = (image.shape[0], 1, *image.shape[-2:])
    if tuple(hole.shape) != expected:
        raise ValueError(f"hole must have shape {expected}, got {tuple(hole.shape)}")
    return (hole > 0.5).to(image.dtype)


# --------------------------------------------------------------------------------------------
# Trained checkpoints
# --------------------------------------------------------------------------------------------


def _load_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint's dict; InputError for a missing, unreadable or non-eiip file."""
    from eiip.external.releases.loading import load_untrusted

    checkpoint = load_untrusted(path, "checkpoint")
    hparams = checkpoint.get("hyper_parameters")
    if not isinstance(hparams, dict) or not {"backbone", "bottleneck"} <= set(hparams) \
            or not isinstance(checkpoint.get("state_dict"), dict):
        raise InputError(f"{path} is not an eiip external-stage (ExternalInpainter) checkpoint")
    return checkpoint


def read_checkpoint_kind(path: str | Path) -> str:
    """The bottleneck ("mono" or "rgb") of an external-stage checkpoint; InputError as :class:`CheckpointStage`."""
    return str(_load_checkpoint(Path(path).expanduser())["hyper_parameters"]["bottleneck"])


def _generator_module(checkpoint: dict[str, Any], path: Path) -> ExternalInpainter:
    """An ExternalInpainter with the checkpoint's generator only (no discriminators), in eval mode."""
    from eiip.external.module import ExternalInpainter

    hparams = checkpoint["hyper_parameters"]
    prefix = "generator."
    state = {key[len(prefix):]: value for key, value in checkpoint["state_dict"].items() if key.startswith(prefix)}
    try:
        module = ExternalInpainter(backbone=hparams["backbone"], bottleneck=hparams["bottleneck"],
                                   generator=hparams.get("generator"), config=hparams.get("config"))
        module.generator.load_state_dict(state)
    except (ValueError, TypeError, RuntimeError) as error:
        reason = str(error).strip().splitlines()[0]
        raise InputError(f"checkpoint {path} does not fit its backbone: {reason[:200]}") from error
    return module.eval().requires_grad_(False)


def _hifill_size(generator: HiFill, height: int, width: int) -> tuple[int, int]:
    """The smallest padded size HiFill accepts (see `HiFill.working_size`).

    With the downsampling factor f (= min side // low_res, at least 1) of the *padded* size, both
    sides must be multiples of f times the working grid's step; factors from the input's own upward
    are tried, each padding the sides to at least f * low_res so that the factor holds.
    """
    step = math.lcm(generator.refine.stride, 4 * generator.coarse_scale)
    first = max(1, min(height, width) // generator.low_res)
    for factor in range(first, first + 3):
        multiple = factor * step
        floor = factor * generator.low_res if factor > 1 else 1
        size = tuple(-(-max(side, floor) // multiple) * multiple for side in (height, width))
        try:
            generator.working_size(*size)
        except ValueError:
            continue
        return size  # type: ignore[return-value]
    raise ValueError(f"no padded size of a {height}x{width} image fits this HiFill generator")


def _padded_size(generator: torch.nn.Module, height: int, width: int) -> tuple[int, int]:
    """The size to pad an input to before the generator.

    GatedConv (multiples of 8), EdgeConnect and GMCNN (multiples of 4) reflection-pad and crop
    inside their forward, so they take any size as it is; HiFill's working grid is padded here.
    """
    if isinstance(generator, HiFill):
        return _hifill_size(generator, height, width)
    return height, width


def _pad(x: Tensor, pad_h: int, pad_w: int) -> Tensor:
    """Pad at the bottom and right: reflect, or replicate where the pad is not smaller than the side."""
    mode = "reflect" if pad_h < x.shape[-2] and pad_w < x.shape[-1] else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


class CheckpointStage:
    """A trained ExternalInpainter checkpoint as an external stage (generator only, eval mode, no grad).

    ``output`` is the checkpoint's bottleneck ("mono" or "rgb") and ``config`` the training config
    stored in it (a dict, empty when the checkpoint has none). Any image size works: where the
    backbone needs sizes it does not pad to itself (HiFill), the masked image *and* the hole are
    reflection-padded at the bottom and right (replicated where a pad exceeds the side), so the
    margin mirrors the image, holes included, and nothing unknown is presented as known; the
    prediction is cropped back. Raises InputError for a missing or non-eiip checkpoint.
    """

    def __init__(self, path: str | Path, device: str | torch.device = "cpu") -> None:
        path = Path(path).expanduser()
        checkpoint = _load_checkpoint(path)
        self.path = path
        self.device = torch.device(device)
        self.output: str = checkpoint["hyper_parameters"]["bottleneck"]
        self.config: dict[str, Any] = dict(checkpoint["hyper_parameters"].get("config") or {})
        self.module = _generator_module(checkpoint, path).to(self.device)

    @torch.no_grad()
    def __call__(self, image: Tensor, hole: Tensor) -> Tensor:
        """(B, 1 or 3, H, W) completion on this stage's device, known pixels exact."""
        hole = _check_batch(image, hole).to(self.device)
        image = torch.where(hole > 0.5, 0.0, image.to(self.device))  # not `* (1 - hole)`: NaN * 0 is NaN
        height, width = image.shape[-2:]
        padded_h, padded_w = _padded_size(self.module.generator, height, width)
        pad_h, pad_w = padded_h - height, padded_w - width
        if pad_h or pad_w:
            image, hole = _pad(image, pad_h, pad_w), _pad(hole, pad_h, pad_w)
        return self.module(image, hole)[..., :height, :width]


# --------------------------------------------------------------------------------------------
# Learning-free stages
# --------------------------------------------------------------------------------------------


class ClassicalStage:
    """OpenCV inpainting (``cv2.inpaint``, Telea 2004 or Navier-Stokes) of the monochrome.

    Runs on the CPU per image, in float32 on the 0..255 scale (no 8-bit rounding; OpenCV's Telea
    produces garbage for float images in [0, 1]); the result is on the input's device, known pixels
    exact.
    """

    output = "mono"

    def __init__(self, method: str = "telea", radius: int = 5) -> None:
        import cv2  # local import: OpenCV is only needed here

        flags = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}
        if method not in flags:
            raise ValueError(f"unknown classical method {method!r}; expected one of {', '.join(flags)}")
        if int(radius) != radius or radius < 1:
            raise ValueError(f"radius must be a positive integer, got {radius!r}")
        self.method = method
        self.radius = int(radius)
        self._flag = flags[method]

    def _inpaint(self, mono: np.ndarray, hole: np.ndarray) -> np.ndarray:
        """Inpaint one (H, W) monochrome in [0, 1] on the 0..255 scale (Telea's float path assumes it)."""
        import cv2

        scaled = np.ascontiguousarray(mono * 255.0, dtype=np.float32)
        return cv2.inpaint(scaled, hole.astype(np.uint8), self.radius, self._flag) / 255.0

    @torch.no_grad()
    def __call__(self, image: Tensor, hole: Tensor) -> Tensor:
        hole = _check_batch(image, hole)
        known = hole < 0.5
        mono = torch.where(known, rgb_to_mono(image), 0.0)  # hole values are never read
        monos = mono[:, 0].cpu().float().numpy()
        holes = (~known)[:, 0].cpu().numpy()
        filled = np.stack([self._inpaint(m, h) for m, h in zip(monos, holes)])[:, None]
        return composite(torch.from_numpy(filled).to(device=image.device, dtype=image.dtype), mono, known)


class TruthStage:
    """The monochrome of the *full* image: the decolorized ground truth, not a completion.

    It reads the hole pixels on purpose: the paper's Table 3 protocol compares colorizers on
    natural monochromes, and `eiip recolor` takes another method's inpainted result as structure.
    """

    output = "mono"

    @torch.no_grad()
    def __call__(self, image: Tensor, hole: Tensor) -> Tensor:
        _check_batch(image, hole)
        return rgb_to_mono(image)


def build_external_stage(
    backbone: str | None = None, ckpt: str | Path | None = None, device: str | torch.device = "cpu",
    hd_strategy: str | None = "crop", working_pixels: int | None = None,
) -> ExternalStage:
    """The stage of a learning-free ``backbone`` ("telea", "ns", "truth") or of a checkpoint ``ckpt``.

    Exactly one of them must be given and a checkpoint must be readable (InputError otherwise).
    ``hd_strategy`` ("crop", "resize", "original"; :mod:`eiip.hd_strategy`): how images of more than
    ``working_pixels`` pixels are completed (default: 512x640 for a checkpoint; 1 MP for the OpenCV stages,
    whose crops are never brought down; images up to it are completed whole by every strategy); None: the
    bare stage, every image whole. The "truth" stage reads the image itself and is never wrapped.
    """
    if (backbone is None) == (ckpt is None):
        raise InputError("give exactly one external stage: a checkpoint (ckpt=PATH) or a learning-free backbone "
                         f"({', '.join(STAGE_BACKBONES)})")
    if backbone == "truth":
        return TruthStage()
    if ckpt is not None:
        stage: ExternalStage = CheckpointStage(ckpt, device=device)
    elif backbone in CLASSICAL_METHODS:
        stage = ClassicalStage(backbone)
    else:
        raise InputError(f"unknown learning-free backbone {backbone!r}; expected one of {', '.join(STAGE_BACKBONES)} "
                         "(trained backbones are loaded from a checkpoint)")
    if hd_strategy is None:
        return stage
    learned = ckpt is not None
    pixels = working_pixels or (WORKING_PIXELS if learned else NEIGHBOURHOOD_ABOVE)
    return SizedStage(stage, hd_strategy, pixels, downscale=learned, device=device)


# --------------------------------------------------------------------------------------------
# Both stages on one image
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TwoStageResult:
    """mono: (1, H, W) completed monochrome; final: (3, H, W) RGB result, known pixels exact."""

    mono: Tensor
    final: Tensor


def two_stage(image: Tensor, hole: Tensor, stage: ExternalStage, colorizer: Colorizer | None) -> TwoStageResult:
    """Complete one (3, H, W) image in its (1, H, W) hole (bool, or float with 1 = hole).

    Mono stages: the colorizer colorizes the completed monochrome from the known pixels' colors and
    the known pixels are composited back. RGB stages: the completion is final (the colorizer, which
    may be None, is not used) and ``mono`` is its monochrome.
    """
    if image.ndim != 3 or hole.ndim != 3:
        raise ValueError(f"expected a (3, H, W) image and a (1, H, W) hole, got {tuple(image.shape)}, "
                         f"{tuple(hole.shape)}")
    known = ~hole if hole.dtype == torch.bool else hole <= 0.5
    completed = stage(image[None], (~known).to(image.dtype)[None])[0].to(image.device, image.dtype)
    if stage.output == "rgb":
        final = composite_(completed, image, known)
        return TwoStageResult(mono=rgb_to_mono(final), final=final)
    if colorizer is None:
        raise ValueError("a monochrome external stage needs a colorizer")
    return TwoStageResult(mono=completed, final=recolorized(image, known, completed, colorizer))


def recolorized(image: Tensor, known: Tensor, mono: Tensor, colorizer: Colorizer) -> Tensor:
    """The final (3, H, W) image of ``colorizer`` on a completed monochrome ``mono`` (1, H, W): the hole
    colorized from the known pixels of ``image``, the known pixels kept exactly. The app calls it again with
    new hints or another colorizer, without rerunning the external stage."""
    rgb_known = image * known
    colorized = colorizer(mono, rgb_known, known).to(image.device, image.dtype)
    del rgb_known
    return composite_(colorized, image, known)
