"""The classical guided colorizers of the internal stage, and the default one.

* ``"mean"``: the mean known chroma everywhere (a floor baseline);
* ``"levin"``: Levin, Lischinski and Weiss, "Colorization using Optimization" (SIGGRAPH 2004);
* ``"dt"``: normalized-convolution propagation with the domain transform of Gastal and Oliveira
  (SIGGRAPH 2011), via ``cv2.ximgproc.dtFilter``;
* ``"local-linear"``: chroma affine in the monochrome over every 3x3 window (the matting Laplacian of
  Levin, Lischinski and Weiss 2006 with the monochrome as guide, :mod:`eiip.colorize.local_linear`);
* ``"knn"``: non-local; a hole pixel takes the chroma of its most alike known pixels anywhere in the
  image (:mod:`eiip.colorize.knn`, in the spirit of KNN matting, Chen, Li and Tang 2012);
* ``"validated-blend"`` (the default of the command line and of ``eval.py``): ``levin`` and
  ``local-linear`` blended with weights fitted per image on held-out known pixels
  (:mod:`eiip.colorize.validated_blend`); beyond the paper, see the README.

``levin``, ``local-linear`` and ``validated-blend`` solve sparse systems: with SciPy on the CPU, or
together on the GPU holding their inputs (``solver`` option, :func:`solve_device`), a batch of images
at once (their ``colorize_batch``).

All of them work in NTSC YIQ (:func:`eiip.color.rgb_to_yiq`), whose Y is exactly the paper's
monochrome, so the output has Y == ``mono`` wherever RGB clipping does not kick in.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np
import torch

from eiip.color import rgb_to_yiq, yiq_to_rgb
from eiip.colorize.internal.chroma import chroma_to_rgb
from eiip.colorize.knn import KnnPropagator
from eiip.colorize.levin import levin_propagator
from eiip.colorize.local_linear import local_linear_propagator
from eiip.colorize.neighbourhood import NEIGHBOURHOOD_ABOVE, Piece, assemble, cut_pieces
from eiip.colorize.registry import (COLORIZERS, BatchColorizer, check_colorize_inputs, colorizer_names,
                                    function_factory, get_colorizer, register_colorizer)
from eiip.colorize.stencil import StencilPropagator
from eiip.regions import Box, Margin, hole_regions
from eiip.colorize.validated_blend import (BlendTask, Problem, Propagate, area_downsample, check_holdouts,
                                           check_shrink_last, holdout_masks, run_fills, validated_blends, whole_image_task)

_log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_BLEND_CANDIDATES",
    "SOLVERS",
    "domain_transform_colorize",
    "knn_colorize",
    "levin_colorize",
    "levin_colorize_batch",
    "local_linear_colorize",
    "local_linear_colorize_batch",
    "mean_chroma_colorize",
    "solve_device",
    "validated_blend_colorize",
    "validated_blend_colorize_batch",
]

def _prepare(
    mono: torch.Tensor, rgb_known: torch.Tensor, known: torch.Tensor
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated inputs as float64/bool numpy arrays: Y (H, W), chroma (2, H, W), known (H, W).

    Chroma (I, Q) is zero in the hole: hole values of ``rgb_known`` are never read.
    """
    check_colorize_inputs(mono, rgb_known, known)
    mask = known[0].detach().cpu()
    rgb = rgb_known.detach().cpu().to(torch.float64)
    rgb = torch.where(mask, rgb, torch.zeros((), dtype=torch.float64))
    chroma = rgb_to_yiq(rgb)[1:].numpy()
    y = mono[0].detach().cpu().to(torch.float64).numpy()
    return y, chroma, mask.numpy()


def _mean_known_chroma(chroma: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Mean (I, Q) over the known pixels, shape (2,)."""
    return chroma[:, known].mean(axis=1)


def _to_rgb_in_gamut(y: np.ndarray, chroma: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """RGB of Y (H, W) and chroma (2, H, W), the chroma scaled towards gray where the color would leave
    [0, 1] (:func:`eiip.colorize.internal.chroma.chroma_to_rgb`: Y stays ``y``), as float32 on ``like``'s device."""
    rgb = chroma_to_rgb(torch.from_numpy(y[None]), torch.from_numpy(np.ascontiguousarray(chroma)))
    # the clamp only removes rounding-level excursions (~1e-17) of the scaling
    return rgb.clamp_(0.0, 1.0).to(device=like.device, dtype=torch.float32)


def _to_rgb(y: np.ndarray, chroma: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """RGB of Y (H, W) and chroma (2, H, W), clipped to [0, 1], as float32 on ``like``'s device."""
    yiq = torch.from_numpy(np.concatenate([y[None], chroma], axis=0))
    rgb = yiq_to_rgb(yiq).clamp_(0.0, 1.0)
    return rgb.to(device=like.device, dtype=torch.float32)


SOLVERS = ("auto", "scipy", "torch")
"""Values of the ``solver`` option of the propagating colorizers (:func:`solve_device`)."""


def solve_device(solver: str, device: torch.device) -> torch.device | None:
    """Where the stencil propagators solve for inputs on ``device``: None for SciPy's direct sparse solve on
    the CPU, else a torch device (iterative, :mod:`eiip.colorize.torch_solve`; measured within 3e-8 of
    the direct solve on photos). ``solver``: ``"auto"`` (torch on a cuda ``device``, else SciPy), ``"scipy"``,
    or ``"torch"`` (on ``device``, the CPU included)."""
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {', '.join(SOLVERS)}, got {solver!r}")
    return device if solver == "torch" or (solver == "auto" and device.type == "cuda") else None


Prepared = tuple[np.ndarray, np.ndarray, np.ndarray]
"""Y (H, W), chroma (2, H, W) and known (H, W) of one image or piece (:func:`_prepare`)."""


def _prepare_box(monos: torch.Tensor, rgb_known: torch.Tensor, known: torch.Tensor, index: int, box: Box | None
                 ) -> Prepared:
    """:func:`_prepare` of image ``index`` of a batch, cropped to ``box`` (None: the whole image)."""
    rows, cols = box.slices if box is not None else (slice(None), slice(None))
    return _prepare(*(batch[index][:, rows, cols] for batch in (monos, rgb_known, known)))


def _prepared_pieces(monos: torch.Tensor, rgb_known: torch.Tensor, known: torch.Tensor, above: int | None,
                     margin: int | Margin, link: int) -> tuple[list[Piece], list[Prepared]]:
    """The pieces of a batch (:func:`eiip.colorize.neighbourhood.cut_pieces`) and their :func:`_prepare`d inputs."""
    pieces = cut_pieces(known, above, margin, link)
    boxes = [None if piece.region is None else piece.region.box for piece in pieces]
    return pieces, [_prepare_box(monos, rgb_known, known, piece.image, box) for piece, box in zip(pieces, boxes)]


def _propagation_batch(
    monos: torch.Tensor, rgb_known: torch.Tensor, known: torch.Tensor, solver: str,
    to_rgb: Callable[[np.ndarray, np.ndarray, torch.Tensor], torch.Tensor],
    make: Callable[[np.ndarray, torch.device | None], StencilPropagator], reach: int, neighbourhood_above: int | None,
) -> torch.Tensor:
    """(K, 3, H, W) RGB of K images whose chroma the propagator ``make(y, device)``, of stencil ``reach``, fills:
    solved together on a torch device, else on ``torch.get_num_threads()`` threads
    (:func:`eiip.colorize.validated_blend.run_fills`). An image of more than ``neighbourhood_above`` pixels is
    solved in its holes' neighbourhoods (a margin of twice the reach: the whole-image solution exactly)."""
    device = solve_device(solver, monos.device)
    pieces, images = _prepared_pieces(monos, rgb_known, known, neighbourhood_above, 2 * reach, reach)
    with ThreadPoolExecutor(torch.get_num_threads()) as pool:
        fills = run_fills([(make(y, device), chroma, mask, piece.wanted)
                           for piece, (y, chroma, mask) in zip(pieces, images)], pool)
    return assemble(pieces, [to_rgb(y, fill, monos) for (y, _, _), fill in zip(images, fills)], rgb_known, known)


# --------------------------------------------------------------------------------------------
# Mean chroma
# --------------------------------------------------------------------------------------------


def mean_chroma_colorize(mono: torch.Tensor, rgb_known: torch.Tensor, known: torch.Tensor, *,
                         neighbourhood_above: int | None = NEIGHBOURHOOD_ABOVE) -> torch.Tensor:
    """Y = ``mono`` and (I, Q) = the mean chroma of the known pixels everywhere (a floor baseline).

    The mean chroma is the chroma of the known pixels' mean RGB (YIQ is linear): one pass over the image.
    An image of more than ``neighbourhood_above`` pixels is colorized in its holes' boxes only (the same
    result; None: never), the known pixels given back as they are."""
    check_colorize_inputs(mono, rgb_known, known)
    mask = known[0].detach()
    total = torch.where(mask, rgb_known.detach(), 0.0).sum(dim=(-2, -1), dtype=torch.float64).cpu()
    mean = rgb_to_yiq((total / int(mask.sum()))[:, None, None])[1:, 0, 0].numpy()
    pieces = cut_pieces(known[None], neighbourhood_above, 0, 0)
    colorized = []
    for piece in pieces:
        y = piece.crop(mono)[0].detach().cpu().to(torch.float64).numpy()
        colorized.append(_to_rgb(y, np.broadcast_to(mean[:, None, None], (2, *y.shape)), mono))
    return assemble(pieces, colorized, rgb_known[None], known[None])[0]


# --------------------------------------------------------------------------------------------
# Levin, Lischinski and Weiss 2004
# --------------------------------------------------------------------------------------------


def levin_colorize_batch(
    monos: torch.Tensor,
    rgb_known: torch.Tensor,
    known: torch.Tensor,
    *,
    window: int = 1,
    sigma_floor: float = 2e-6,
    var_scale: float = 0.6,
    min_nearest_weight: float = 0.01,
    solver: str = "auto",
    neighbourhood_above: int | None = NEIGHBOURHOOD_ABOVE,
) -> torch.Tensor:
    """Levin, Lischinski and Weiss, "Colorization using Optimization" (SIGGRAPH 2004), on K images.

    I and Q are propagated from the known pixels by :func:`eiip.colorize.levin.levin_propagator` (its
    docstring gives the system and the defaults, those of the authors' reference code); the RGB is
    clipped to [0, 1] as in their code. ``solver``: see :func:`solve_device`. ``neighbourhood_above``: images of
    more pixels are solved in their holes' neighbourhoods only, with the same result (None: never).
    """
    return _propagation_batch(monos, rgb_known, known, solver, _to_rgb, lambda y, device: levin_propagator(
        y, window=window, sigma_floor=sigma_floor, var_scale=var_scale, min_nearest_weight=min_nearest_weight,
        device=device), int(window), neighbourhood_above)


# --------------------------------------------------------------------------------------------
# Local linear model, and the validated blend (never worse than Levin)
# --------------------------------------------------------------------------------------------


def local_linear_colorize_batch(
    monos: torch.Tensor, rgb_known: torch.Tensor, known: torch.Tensor, *, eps: float = 1e-5, radius: int = 1,
    solver: str = "auto", neighbourhood_above: int | None = NEIGHBOURHOOD_ABOVE,
) -> torch.Tensor:
    """Chroma affine in the monochrome over every (2 ``radius`` + 1)^2 window (:mod:`eiip.colorize.local_linear`,
    the matting Laplacian of Levin et al. 2006 with the monochrome as guide), known chroma fixed; on K images.

    The RGB keeps Y == ``mono``: chroma that would leave [0, 1] is scaled towards gray, not clipped.
    ``solver``: see :func:`solve_device`. ``neighbourhood_above``: see :func:`levin_colorize_batch`.
    """
    return _propagation_batch(monos, rgb_known, known, solver, _to_rgb_in_gamut,
                              lambda y, device: local_linear_propagator(y, eps=eps, radius=radius, device=device),
                              2 * int(radius), neighbourhood_above)


def knn_colorize(mono: torch.Tensor, rgb_known: torch.Tensor, known: torch.Tensor, *, neighbours: int = 10,
                 spatial: float = 0.3, smoothness: float = 0.5, sample: int = 20_000) -> torch.Tensor:
    """Non-local propagation: each hole pixel's chroma from its ``neighbours`` most alike known pixels anywhere in
    the image, smoothed over the 4-neighbours (:class:`eiip.colorize.knn.KnnPropagator`, whose docstring gives the
    options). Only the known pixels searched are converted to chroma and only the hole's to RGB, so beyond one
    float64 copy of the monochrome the cost follows the hole and ``sample``. The RGB keeps Y == ``mono`` (chroma
    scaled into the gamut); the known pixels are ``rgb_known``'s. On the CPU (a KD-tree), whatever the device."""
    check_colorize_inputs(mono, rgb_known, known)
    y = mono[0].detach().cpu().to(torch.float64).numpy()
    mask = known[0].detach().cpu().numpy()
    out = rgb_known.detach().to(device="cpu", dtype=torch.float32, copy=True)
    if mask.all():
        return out.to(mono.device)
    flat_rgb = out.reshape(3, -1)

    def chroma_at(indices: np.ndarray) -> np.ndarray:
        return rgb_to_yiq(flat_rgb[:, torch.from_numpy(indices)].to(torch.float64)[:, None])[1:, 0].numpy().T

    propagate = KnnPropagator(y, neighbours=neighbours, spatial=spatial, smoothness=smoothness, sample=sample)
    rows, cols, fill = propagate.fill(chroma_at, mask, ~mask)
    rgb = _to_rgb_in_gamut(y[rows, cols][None], fill.T[:, None], out)  # the hole's pixels as a (1, n) image
    out[:, torch.from_numpy(rows), torch.from_numpy(cols)] = rgb[:, 0]
    return out.to(mono.device)


_NATIVE_PROPAGATORS: dict[str, Callable[..., Propagate]] = {
    "levin": levin_propagator,
    "local-linear": local_linear_propagator,
    "knn": lambda y, device=None: KnnPropagator(y),
}
"""Candidates of the validated blend that propagate chroma directly (no RGB round trip, no clipping):
``make(y, device=...)`` (``knn`` runs on the CPU whatever the device)."""

DEFAULT_BLEND_CANDIDATES = ("levin", "local-linear")

_BLEND_LINK = 2
"""The reach of the candidates' default stencils (local-linear's): pieces of a large image are grouped and
grown by it (:func:`validated_blend_colorize_batch`)."""


def _colorizer_propagator(name: str, mono: torch.Tensor, y: np.ndarray) -> Propagate:
    """Any registered colorizer (default options) as a chroma propagator, through its RGB output."""
    colorizer = get_colorizer(name)

    def propagate(chroma: np.ndarray, known: np.ndarray, wanted: np.ndarray | None) -> np.ndarray:
        """Fills every unknown pixel (a colorizer has no notion of ``wanted``)."""
        rgb_known = _to_rgb(y, chroma, mono)
        rgb = colorizer(mono, rgb_known, torch.from_numpy(known)[None].to(mono.device))
        return rgb_to_yiq(rgb.detach().cpu().to(torch.float64))[1:].numpy()

    return propagate


def validated_blend_colorize_batch(
    monos: torch.Tensor,
    rgb_known: torch.Tensor,
    known: torch.Tensor,
    *,
    candidates: tuple[str, ...] | list[str] = DEFAULT_BLEND_CANDIDATES,
    holdouts: int = 4,
    shrink_last: float = 0.0,
    validation_scale: int = 1,
    solver: str = "auto",
    progress: bool = False,
    neighbourhood_above: int | None = NEIGHBOURHOOD_ABOVE,
) -> torch.Tensor:
    """Blend of the ``candidates``' chroma, weighted per image on held-out known pixels (:mod:`eiip.colorize.validated_blend`).

    ``candidates``: registered colorizer names; ``levin``, ``local-linear`` and ``knn`` propagate chroma
    directly (``knn`` in a piece of a large image searches that piece only), any other (``dt``, ``internal`` with its default ``fast`` preset on the CPU, ...) runs
    as a colorizer once per held-out set and once more for the hole if its weight is not zero, so
    a network candidate costs (``holdouts`` + 1) fits. ``holdouts``: how many shifted copies of the
    hole are held out (1..8; 4 by default). ``shrink_last`` in [0, 1]: that fraction of the weights comes from
    the fit without the last candidate (0: the plain fit; :func:`eiip.colorize.validated_blend.validated_blend`).
    ``validation_scale``: the weights are fitted on the image
    averaged over blocks of this size (1: full resolution), the blend of the hole at full resolution.
    ``solver``: see :func:`solve_device`; on a torch device the held-out and hole fills of the K images
    are solved together. Other fills run on ``torch.get_num_threads()`` threads, the largest first. The RGB
    keeps Y == ``mono`` (chroma scaled into the gamut). The weights go to this module's logger at DEBUG level.
    ``progress``: a bar of the fills done (on stderr). ``neighbourhood_above``: an image of more pixels is
    solved in pieces (None: never): each group of hole pixels, and each coupled part of each held-out set, in a
    box of its own with a margin of the stencils' reach, which gives the whole-image result exactly for the
    stencil propagators (a network candidate then sees the box). ``validation_scale`` > 1 is for whole images.
    """
    check_holdouts(holdouts)
    check_shrink_last(shrink_last)
    if isinstance(validation_scale, bool) or int(validation_scale) != validation_scale or validation_scale < 1:
        raise ValueError(f"validation_scale must be a positive integer, got {validation_scale!r}")
    names = [candidates] if isinstance(candidates, str) else list(candidates)
    unknown = sorted(set(names) - set(COLORIZERS))
    if not names or unknown or len(set(names)) != len(names):
        raise ValueError(f"candidates must be distinct registered colorizer names, got {names!r}; "
                         f"valid names: {', '.join(colorizer_names())}")
    if "validated-blend" in names:
        raise ValueError("validated-blend cannot be its own candidate")
    device = solve_device(solver, monos.device)
    pieces = cut_pieces(known, neighbourhood_above, 2 * _BLEND_LINK, _BLEND_LINK)
    if validation_scale != 1 and any(piece.region is not None for piece in pieces):
        raise ValueError("validation_scale > 1 fits the weights on a downsampled whole image: use it with "
                         "neighbourhood_above=None (a large image is solved in pieces at full resolution)")

    def propagators(gray: np.ndarray) -> list[Propagate]:
        return [_NATIVE_PROPAGATORS[name](gray, device=device) if name in _NATIVE_PROPAGATORS
                else _colorizer_propagator(name, torch.from_numpy(gray)[None].to(monos), gray) for name in names]

    def held_out_problems(index: int) -> list[list[Problem]]:
        """Each held-out set of a cut image in pieces: its coupled parts, each in a box with the stencils' margin."""
        full_known = known[index, 0].cpu().numpy()
        sets = holdout_masks(full_known, holdouts) if len(names) > 1 else []
        problems = []
        for held in sets:
            pieces_of_set = []
            for region in hole_regions(~full_known | held, 2 * _BLEND_LINK, _BLEND_LINK):
                inside = held[region.box.slices]
                wanted = region.members & inside
                if wanted.any():
                    y, chroma, mask = _prepare_box(monos, rgb_known, known, index, region.box)
                    pieces_of_set.append(Problem(propagators(y), chroma, mask & ~inside, wanted))
            problems.append(pieces_of_set)
        return problems

    grays, tasks = [], []
    for index in range(monos.shape[0]):
        mine = [piece for piece in pieces if piece.image == index]
        if mine[0].region is None:
            y, chroma, mask = _prepare_box(monos, rgb_known, known, index, None)
            validation = None
            if validation_scale != 1:
                small_y, small_chroma, small_mask = area_downsample(y, chroma, mask, int(validation_scale))
                validation = (propagators(small_y), small_chroma, small_mask)
            grays.append(y)
            tasks.append(whole_image_task(propagators(y), chroma, mask, holdouts, validation))
            continue
        holes = []
        for piece in mine:
            y, chroma, mask = _prepare_box(monos, rgb_known, known, index, piece.region.box)
            grays.append(y)
            holes.append(Problem(propagators(y), chroma, mask, piece.wanted))
        tasks.append(BlendTask(holes, held_out_problems(index)))
    blends = validated_blends(tasks, threads=torch.get_num_threads(), progress=progress, shrink_last=shrink_last)
    for _, weights in blends:
        _log.debug("validated-blend weights: %s", dict(zip(names, weights.round(3).tolist())))
    filled = [blended for blended_holes, _ in blends for blended in blended_holes]
    return assemble(pieces, [_to_rgb_in_gamut(y, chroma, monos) for y, chroma in zip(grays, filled)], rgb_known, known)


# --------------------------------------------------------------------------------------------
# Domain transform (Gastal and Oliveira 2011)
# --------------------------------------------------------------------------------------------

_DT_GUIDE_SCALE = 255.0
"""The guide is passed to dtFilter as float32 in [0, 255]: for a float guide OpenCV measures
sigmaColor in the guide's own units, so ``sigma_color`` is on the familiar 8-bit scale."""

_DT_MIN_WEIGHT = 1e-3
"""Normalized-convolution denominators below this count as 'no known pixel within reach'.

dtFilter works in float32; the ratio's error grows like (float32 rounding) / denominator, which
stays around 1e-5 or below for denominators above 1e-3 (measured)."""


def domain_transform_colorize(
    mono: torch.Tensor,
    rgb_known: torch.Tensor,
    known: torch.Tensor,
    *,
    sigma_spatial: float | None = None,
    sigma_color: float = 20.0,
    iterations: int = 3,
    fallback_steps: int = 4,
) -> torch.Tensor:
    """Edge-aware propagation of the known chroma by domain-transform normalized convolution.

    ``chroma_hole = DT(chroma * known) / DT(known)`` where DT is ``cv2.ximgproc.dtFilter`` in
    normalized-convolution mode (``DTF_NC``) guided by the monochrome; known chroma is kept as is.

    Defaults:

    * ``sigma_spatial`` (pixels): ``None`` means 0.1 * max(H, W), at least 4. The hole can cover a
      large part of the image (tens of percent), so the filter must reach well into it; tying the
      scale to the image size makes the behaviour resolution-independent.
    * ``sigma_color``: 20 on the 0..255 scale of the guide (the guide is ``mono`` * 255 as float32;
      OpenCV measures sigmaColor in the guide's units). With the domain transform's
      ``1 + sigma_spatial / sigma_color * |dY|`` metric, a step of a few tens of gray levels
      already counts as many ``sigma_spatial`` away, so chroma does not bleed across clear
      luminance edges while smooth shading does not block propagation.
    * ``iterations``: 3, the value recommended by Gastal and Oliveira.

    Where the denominator is below 1e-3 (no known pixel within reach, e.g. deep inside a large
    hole or behind strong edges), the filter is rerun with ``sigma_spatial`` and ``sigma_color``
    doubled, up to ``fallback_steps`` times, and the mean known chroma fills what is still
    unreached, so the output never has NaN or inf.
    """
    import cv2  # local import: OpenCV is only needed here

    if int(iterations) != iterations or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
    if not sigma_color > 0 or (sigma_spatial is not None and not sigma_spatial > 0):
        raise ValueError("sigma_spatial and sigma_color must be > 0")
    if int(fallback_steps) != fallback_steps or fallback_steps < 0:
        raise ValueError(f"fallback_steps must be a non-negative integer, got {fallback_steps!r}")
    y, chroma, mask = _prepare(mono, rgb_known, known)
    hole = ~mask
    if not hole.any():
        return _to_rgb(y, chroma, mono)
    h, w = y.shape
    if sigma_spatial is None:
        sigma_spatial = max(4.0, 0.1 * max(h, w))

    guide = np.ascontiguousarray(np.clip(y, 0.0, 1.0) * _DT_GUIDE_SCALE, dtype=np.float32)
    weight = mask.astype(np.float32)
    # Filter the chroma relative to its known mean: smaller magnitudes, smaller float32 errors.
    mean = _mean_known_chroma(chroma, mask)
    centred = (chroma - mean[:, None, None]) * mask
    src = np.ascontiguousarray(np.stack([centred[0], centred[1], weight], axis=-1), dtype=np.float32)

    out = chroma.copy()
    todo = hole.copy()
    s_spatial, s_color = float(sigma_spatial), float(sigma_color)
    for _ in range(int(fallback_steps) + 1):
        filtered = cv2.ximgproc.dtFilter(
            guide, src, s_spatial, s_color, mode=cv2.ximgproc.DTF_NC, numIters=int(iterations)
        ).astype(np.float64)
        den = filtered[..., 2]
        reached = todo & np.isfinite(filtered).all(axis=-1) & (den > _DT_MIN_WEIGHT)
        out[:, reached] = filtered[reached][:, :2].T / den[reached] + mean[:, None]
        todo &= ~reached
        if not todo.any():
            break
        s_spatial *= 2.0
        s_color *= 2.0
    if todo.any():
        out[:, todo] = mean[:, None]
    return _to_rgb(y, out, mono)


# --------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------

levin_colorize = BatchColorizer(levin_colorize_batch)
"""``levin`` with its default options: one image, or a batch (``colorize_batch``)."""
local_linear_colorize = BatchColorizer(local_linear_colorize_batch)
"""``local-linear`` with its default options: one image, or a batch (``colorize_batch``)."""
validated_blend_colorize = BatchColorizer(validated_blend_colorize_batch)
"""``validated-blend`` with its default options: one image, or a batch (``colorize_batch``)."""

register_colorizer("mean")(function_factory(mean_chroma_colorize))
register_colorizer("levin")(function_factory(levin_colorize_batch, batched=True))
register_colorizer("dt")(function_factory(domain_transform_colorize))
register_colorizer("knn")(function_factory(knn_colorize))
register_colorizer("local-linear")(function_factory(local_linear_colorize_batch, batched=True))
register_colorizer("validated-blend")(function_factory(validated_blend_colorize_batch, batched=True))
