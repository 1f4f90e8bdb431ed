"""EdgeConnect (Nazeri et al., ICCV-W 2019): an edge generator, then an inpainting generator.

Architecture (paper and official release knazeri/edge-connect, `src/networks.py`), both generators:
reflection pad 3 + 7x7 conv to 64, 4x4 stride-2 convs to 128 and 256, 8 residual blocks
[reflection pad 2, 3x3 conv dilation 2, IN, ReLU, reflection pad 1, 3x3 conv, IN] + skip (no ReLU
after the sum), two 4x4 stride-2 transposed convs back to 128 and 64, reflection pad 3 + 7x7 conv.
Instance norm without affine parameters or running statistics, ReLU, weights N(0, 0.02), biases 0.

* `EdgeGenerator`: in [gray (masked, hole = 1), edges (masked), hole], out 1 channel + sigmoid;
  spectral norm on every conv except the last (release `use_spectral_norm=True`); the residual
  convs have no bias under spectral norm (as in the release). ~10.76 M parameters.
* `InpaintGenerator`: no spectral norm; in [image (masked, hole = 1), edge map], out
  `(tanh(x) + 1) / 2`. ~10.77 M parameters.

`EdgeConnect` (registered as "edgeconnect") chains them on the registry interface. For
bottleneck "rgb" (the paper's baseline) the inpainting generator's input is exactly the release's
[RGB, edge] and its output RGB; for "mono" it is [RGB, mono, hole, edge] (DESIGN.md: the mono
bottleneck input is RGB ⊕ mono ⊕ mask) and its output the monochrome. The edge model is the same
for both bottlenecks (it already works on a gray image).

Deviations from the release, all deliberate:

* Gray image: the paper's monochrome (0.30/0.59/0.11, `eiip.color`) everywhere, not skimage's
  `rgb2gray`; for the mono bottleneck it is the input's 4th channel.
* Sizes not divisible by 4: the input is reflection-padded to a multiple of 4 and the output
  cropped, instead of replication-padding the (shrunken) output (`output_align` in the release).
* Spectral norm uses `torch.nn.utils.parametrizations.spectral_norm` (state-dict keys
  `...parametrizations.weight.original/0._u/0._v`); `convert_release_state_dict` maps the
  release's `weight_orig/weight_u/weight_v` keys so its checkpoints load (rgb bottleneck).
* The predicted edges are composed with the known edges (`pred * hole + known_edges * (1 - hole)`)
  before the inpainting generator at train and test time (the release's sampling/training path;
  its `test()` feeds the raw prediction).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from eiip.external.backbones.registry import BottleneckSpec, check_generator_inputs, register_backbone
from eiip.external.edges import DEFAULT_SIGMA, canny_edges, gray_for_edges, image_edges

INIT_GAIN: float = 0.02
"""Std of the normal weight init (release `init_weights('normal', 0.02)`)."""


def _conv(module: nn.Module, spectral: bool) -> nn.Module:
    """Release init (weights N(0, 0.02), bias 0), then optional spectral norm."""
    nn.init.normal_(module.weight, 0.0, INIT_GAIN)  # type: ignore[arg-type]
    if module.bias is not None:  # type: ignore[union-attr]
        nn.init.zeros_(module.bias)  # type: ignore[arg-type]
    return _spectral_norm(module) if spectral else module


def _norm(channels: int) -> nn.InstanceNorm2d:
    return nn.InstanceNorm2d(channels, track_running_stats=False)


class ResnetBlock(nn.Module):
    """[pad d, 3x3 conv dilation d, IN, ReLU, pad 1, 3x3 conv, IN] + identity."""

    def __init__(self, dim: int, dilation: int = 2, spectral: bool = False) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(dilation),
            _conv(nn.Conv2d(dim, dim, 3, dilation=dilation, bias=not spectral), spectral),
            _norm(dim),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            _conv(nn.Conv2d(dim, dim, 3, bias=not spectral), spectral),
            _norm(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class _EncoderDecoder(nn.Module):
    """The generator body shared by both EdgeConnect generators (module names as in the release)."""

    def __init__(self, in_channels: int, out_channels: int, residual_blocks: int, spectral: bool) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.encoder = nn.Sequential(
            nn.ReflectionPad2d(3),
            _conv(nn.Conv2d(in_channels, 64, 7), spectral),
            _norm(64),
            nn.ReLU(inplace=True),
            _conv(nn.Conv2d(64, 128, 4, stride=2, padding=1), spectral),
            _norm(128),
            nn.ReLU(inplace=True),
            _conv(nn.Conv2d(128, 256, 4, stride=2, padding=1), spectral),
            _norm(256),
            nn.ReLU(inplace=True),
        )
        self.middle = nn.Sequential(*[ResnetBlock(256, 2, spectral) for _ in range(residual_blocks)])
        self.decoder = nn.Sequential(
            _conv(nn.ConvTranspose2d(256, 128, 4, stride=2, padding=1), spectral),
            _norm(128),
            nn.ReLU(inplace=True),
            _conv(nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1), spectral),
            _norm(64),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(3),
            _conv(nn.Conv2d(64, out_channels, 7), False),
        )

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected (B, {self.in_channels}, H, W) input, got {tuple(x.shape)}")
        height, width = x.shape[-2:]
        pad_h, pad_w = -height % 4, -width % 4
        if pad_h or pad_w:
            x = nn.functional.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
        y = self.decoder(self.middle(self.encoder(x)))
        return y[..., :height, :width]


class EdgeGenerator(_EncoderDecoder):
    """[gray, edges, hole] (3 ch) -> edge probability (1 ch, sigmoid); spectral norm by default."""

    def __init__(self, residual_blocks: int = 8, use_spectral_norm: bool = True, in_channels: int = 3) -> None:
        super().__init__(in_channels, 1, residual_blocks, use_spectral_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))


class InpaintGenerator(_EncoderDecoder):
    """[image, edge map] -> image in [0, 1] via (tanh + 1) / 2; release: 4 in (RGB + edge), 3 out."""

    def __init__(self, in_channels: int = 4, out_channels: int = 3, residual_blocks: int = 8) -> None:
        super().__init__(in_channels, out_channels, residual_blocks, False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (torch.tanh(self.logits(x)) + 1.0) / 2.0


EDGE_SOURCES: tuple[str, ...] = ("predicted", "predicted_detached", "canny")
"""The inpainting generator's edge map, `EdgeConnect.forward(edge_source=...)`: the release's models 4 / 3 / 2."""
EDGE_TERMS: frozenset[str] = frozenset({"adv_edges", "fm_edges"})
"""The edge model's own loss terms (its discriminator's adversarial and feature-matching terms)."""


class EdgeConnect(nn.Module):
    """Edge generator -> edge composition -> inpainting generator, on the registry interface.

    forward(image, hole, edges=None, edge_source="predicted", inpaint=True) -> {
        "output": (B, C_out, H, W) in [0, 1]; absent with inpaint=False,
        "edges": the edge generator's prediction (B, 1, H, W) in [0, 1] (its losses use this);
            absent for edge_source "canny", where the edge generator does not run,
        "edges_canny": the Canny edges given (or computed at inference),
        "edges_known": edges_canny, zero in the hole,
        "edges_full": the inpainting generator's edge input; absent with inpaint=False,
    }

    `edges` (optional, (B, 1, H, W)): Canny edges of the *full* gray image (the data loader's or
    `training_inputs`), as the release trains; the edge generator sees them masked. Without it
    (inference) the edges are computed with canny on the masked gray image restricted to the known
    region (release test mode), on the CPU.

    `edge_source` (one of `EDGE_SOURCES`, a per-stage option in training) picks `edges_full`:

    * "predicted": edges_known + prediction * hole; gradients reach the edge generator (release
      model 4, joint training; inference);
    * "predicted_detached": the same, the edge generator run without gradient: it is fixed, its
      predictions detached (release model 3, the release's final stage);
    * "canny": the given full-image edges, hole included; the edge generator does not run (release
      model 2, the inpainting model trained alone).

    `inpaint=False` runs the edge generator only (release model 1, the edge model trained alone).
    """

    def __init__(
        self,
        spec: BottleneckSpec,
        residual_blocks: int = 8,
        sigma: float = DEFAULT_SIGMA,
        hole_fill: float = 1.0,
        edge_spectral_norm: bool = True,
    ) -> None:
        super().__init__()
        self.spec = spec
        self.sigma = float(sigma)
        self.hole_fill = float(hole_fill)
        # mono bottleneck: RGB ⊕ mono ⊕ mask (DESIGN.md); rgb baseline: the release's RGB only.
        self.append_hole = spec.image_channels == 4
        inpaint_in = spec.image_channels + int(self.append_hole) + 1
        self.edge_generator = EdgeGenerator(residual_blocks, use_spectral_norm=edge_spectral_norm)
        self.inpaint_generator = InpaintGenerator(inpaint_in, spec.output_channels, residual_blocks)

    def forward(
        self, image: torch.Tensor, hole: torch.Tensor, edges: torch.Tensor | None = None,
        edge_source: str = "predicted", inpaint: bool = True,
    ) -> dict[str, torch.Tensor]:
        hole = check_generator_inputs(self.spec, image, hole)
        _check_edge_source(edge_source)
        known = 1.0 - hole
        gray = gray_for_edges(image) * known
        edges = self._given_edges(gray, known, edges, edge_source)
        edges_known = edges * known
        fill = hole * self.hole_fill
        result = {"edges_canny": edges, "edges_known": edges_known}
        edges_in = edges
        if edge_source != "canny":
            with torch.set_grad_enabled(torch.is_grad_enabled() and edge_source == "predicted"):
                result["edges"] = self.edge_generator(torch.cat((gray + fill, edges_known, hole), dim=1))
            edges_in = edges_known + result["edges"] * hole
        if not inpaint:
            return result
        parts = [image * known + fill, hole] if self.append_hole else [image * known + fill]
        output = self.inpaint_generator(torch.cat((*parts, edges_in), dim=1))
        return {**result, "edges_full": edges_in, "output": output}

    def _given_edges(self, gray: torch.Tensor, known: torch.Tensor, edges: torch.Tensor | None,
                     edge_source: str) -> torch.Tensor:
        """The full-image edges passed in (checked), or test-mode Canny edges of the known region."""
        if edges is None:
            if edge_source == "canny":
                raise ValueError("edge_source='canny' needs the full image's Canny edges (`edges`)")
            return canny_edges(gray, self.sigma, known=known)
        if edges.shape != known.shape:
            raise ValueError(f"expected {tuple(known.shape)} edges, got {tuple(edges.shape)}")
        return edges.to(gray.dtype)

    def training_inputs(self, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """The forward's extra inputs in training: Canny edges of the full target (release training)."""
        return {"edges": image_edges(target, self.sigma)}

    def validate_stage(self, forward: Mapping[str, object], terms: set[str]) -> None:
        """Raise ValueError for a training stage's forward options this model cannot honour with its
        loss `terms` (the names of those with a nonzero weight)."""
        unknown = set(forward) - {"edge_source", "inpaint"}
        if unknown:
            raise ValueError(f"unknown EdgeConnect stage option(s) {sorted(unknown)}; expected edge_source, inpaint")
        edge_source = str(forward.get("edge_source", "predicted"))
        _check_edge_source(edge_source)
        edge_terms = sorted(terms & EDGE_TERMS)
        if edge_terms and edge_source != "predicted":
            raise ValueError(f"the edge terms {edge_terms} train the edge generator, which does not run "
                             f"(canny) or is fixed (predicted_detached) with edge_source {edge_source!r}")
        if not forward.get("inpaint", True) and terms - EDGE_TERMS:
            raise ValueError(f"terms {sorted(terms - EDGE_TERMS)} need the inpainting generator, "
                             "which does not run with inpaint: false")

    def adversarial_views(
        self, outputs: dict[str, torch.Tensor], target: torch.Tensor, hole: torch.Tensor, views: set[str]
    ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """The discriminators' (fake, real) inputs, as the release: the raw output (not the composite)
        vs the target; [gray, predicted edges] vs [gray, the full image's Canny edges]."""
        pairs = {}
        if "output" in views:
            pairs["output"] = (outputs["output"], target)
        if "edges" in views:
            gray = gray_for_edges(target)
            pairs["edges"] = (torch.cat((gray, outputs["edges"]), dim=1),
                              torch.cat((gray, outputs["edges_canny"]), dim=1))
        return pairs


def _check_edge_source(edge_source: str) -> None:
    if edge_source not in EDGE_SOURCES:
        raise ValueError(f"unknown edge_source {edge_source!r}; expected one of {', '.join(EDGE_SOURCES)}")


@register_backbone("edgeconnect")
def build_edgeconnect(spec: BottleneckSpec, **options: object) -> EdgeConnect:
    """EdgeConnect's two generators for the bottleneck (options: see `EdgeConnect`)."""
    return EdgeConnect(spec, **options)  # type: ignore[arg-type]


_RELEASE_SN = re.compile(r"\.weight_(orig|u|v)$")

RELEASE_SPECTRAL_NAMES: dict[str, str] = {"orig": "parametrizations.weight.original",
                                          "u": "parametrizations.weight.0._u", "v": "parametrizations.weight.0._v"}
"""Release spectral-norm suffix `weight_<x>` -> this module's parametrization key."""


def convert_release_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map a release generator state dict (`{'generator': ...}` contents) to this module's keys.

    Strips DataParallel's `module.` prefix and renames old-style spectral-norm entries
    (`weight_orig`, `weight_u`, `weight_v`) to the parametrization's keys. Load the result into
    `EdgeGenerator()` / `InpaintGenerator()` (the release's rgb configuration).
    """
    converted: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        match = _RELEASE_SN.search(key)
        if match:
            key = key[: match.start()] + "." + RELEASE_SPECTRAL_NAMES[match.group(1)]
        converted[key] = value
    return converted
