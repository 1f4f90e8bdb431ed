"""EdgeConnect (knazeri/edge-connect): a checkpoint folder with `EdgeModel_gen.pth` and
`InpaintingModel_gen.pth` (+ `EdgeModel_dis.pth`, `InpaintingModel_dis.pth` when present).

The release saves `{'iteration': n, 'generator': state_dict}` and `{'discriminator': state_dict}`
(`src/models.py`). Its generators use the module names of `eiip.external.backbones.edgeconnect`;
spectral-norm layers are stored as `weight_orig`/`weight_u`/`weight_v` (PyTorch >= 1.1) or, from
older PyTorch, `weight_orig`/`weight_u` plus the normalized `weight`: then the missing vector `v`
is solved from them so that the stored normalization is reproduced. The discriminator's
`conv{i}.0` layers are eiip's `convs.{i-1}`; its `features.*` entries alias `conv1` and are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from eiip.external.backbones.edgeconnect import RELEASE_SPECTRAL_NAMES
from eiip.external.releases.loading import convert, load_untrusted, tensor_dict

GENERATOR_FILES: dict[str, str] = {"edge_generator": "EdgeModel_gen.pth", "inpaint_generator": "InpaintingModel_gen.pth"}
"""eiip generator part -> release file."""

DISCRIMINATOR_FILES: dict[str, str] = {"edges": "EdgeModel_dis.pth", "output": "InpaintingModel_dis.pth"}
"""eiip discriminator view -> release file (optional)."""

_SPECTRAL = {value: f"weight_{key}" for key, value in RELEASE_SPECTRAL_NAMES.items()}
_DISCRIMINATOR_LAYER = re.compile(r"^convs\.(\d+)\.")
_POWER_ITERATIONS = 50


def release_name(key: str) -> str:
    """The release's name of an eiip generator key (spectral-norm parametrization -> `weight_orig/u/v`)."""
    for ours, theirs in _SPECTRAL.items():
        if key.endswith("." + ours):
            return key[: -len(ours)] + theirs
    return key


def discriminator_release_name(key: str) -> str:
    """The release's name of an eiip `EdgeConnectDiscriminator` key (`convs.0.` -> `conv1.0.`)."""
    key = _DISCRIMINATOR_LAYER.sub(lambda m: f"conv{int(m.group(1)) + 1}.0.", key)
    return release_name(key)


def _solve_v(weight: Tensor, u: Tensor, u_size: int, normalized: Tensor | None) -> tuple[Tensor, Tensor]:
    """(u, v) for an old-style spectral norm: power iterations from the stored u (from ones when its size
    differs: PyTorch 0.4 normalized transposed convs along dim 0) on the weight viewed as (u_size, -1),
    v rescaled so that u^T W v equals the stored sigma (weight_orig / weight) when it is given."""
    matrix = (weight if weight.shape[0] == u_size else weight.transpose(0, 1)).reshape(u_size, -1).double()
    u = u.double() if u.numel() == u_size else torch.ones(u_size, dtype=torch.float64)
    for _ in range(_POWER_ITERATIONS):
        v = nn.functional.normalize(matrix.t() @ u, dim=0)
        u = nn.functional.normalize(matrix @ v, dim=0)
    if normalized is not None:
        sigma = (weight.double() / normalized.double()).mean()
        v = v * sigma / (u @ matrix @ v)
    return u.to(weight.dtype), v.to(weight.dtype)


def modernize_spectral_norm(state: dict[str, Tensor], target: dict[str, Tensor]) -> dict[str, Tensor]:
    """Old-style spectral-norm entries (no `weight_v`) rewritten with `weight_u`/`weight_v`; `weight` dropped."""
    state = dict(state)
    u_sizes = {release_name(key): value.numel() for key, value in target.items() if key.endswith("._u")}
    for key in [k for k in state if k.endswith(".weight_orig")]:
        prefix = key[: -len("orig")]
        if prefix + "v" in state or prefix + "u" not in state or prefix + "u" not in u_sizes:
            continue  # modern, or not a layer of ours: the key check reports it
        normalized = state.pop(prefix[:-1], None)
        state[prefix + "u"], state[prefix + "v"] = _solve_v(state[key], state[prefix + "u"], u_sizes[prefix + "u"],
                                                            normalized)
    return state


def _part(path: Path, entry: str, module: nn.Module, name_of: Callable[[str], str]) -> dict[str, Tensor]:
    """One release file's `entry` as `module`'s state dict."""
    target = module.state_dict()
    state = tensor_dict(load_untrusted(path), path, entry)
    state = {key: value for key, value in state.items() if not key.startswith("features.")}
    return convert(modernize_spectral_norm(state, target), target, name_of, path)


def read(folder: Path, generator: nn.Module, discriminators: nn.ModuleDict) -> dict[str, dict[str, Tensor]]:
    """eiip state dicts by submodule path (`generator.edge_generator`, `discriminators.edges`, ...)."""
    parts = {f"generator.{part}": _part(folder / file, "generator", generator.get_submodule(part), release_name)
             for part, file in GENERATOR_FILES.items()}
    for view, file in DISCRIMINATOR_FILES.items():
        if (folder / file).is_file() and view in discriminators:
            parts[f"discriminators.{view}"] = _part(folder / file, "discriminator", discriminators[view],
                                                    discriminator_release_name)
    return parts
