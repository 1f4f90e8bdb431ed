"""Start a model from a checkpoint's weights (`train.py init_from=CKPT`), typically an rgb one for a mono model.

Every tensor is copied; where the bottlenecks' shapes differ (`adapt`), the rgb weights are mapped
so that the mono model starts from the rgb model's behaviour:

* extra input channels (the monochrome, and a mask where the rgb model has none), which eiip
  places right after RGB (index 3), get zero weights (dim 1, or dim 0 of a depthwise conv such
  as HiFill's gates, zero bias too): the mono model first ignores them;
* an RGB output (3 -> 1 along dim 0: the last conv's weight and bias) is combined with the
  monochrome weights 0.30/0.59/0.11 (`eiip.color.MONO_WEIGHTS`), so its output is the
  monochrome of the rgb model's (exactly before the final nonlinearity);
* an RGB input that becomes one monochrome channel (3 -> 1 along dim 1: DeepFill v2's refinement
  input, the discriminators' image) gets the sum of the RGB weights (a gray image seen as RGB);
* spectral-norm power-iteration vectors (`._u`, `._v`) of reshaped layers keep their fresh
  values (re-estimated at every training step).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from eiip.color import MONO_WEIGHTS
from eiip.errors import InputError
from eiip.external.module import ExternalInpainter
from eiip.external.releases.loading import load_untrusted

_RGB = 3


def adapt(name: str, source: Tensor, target: Tensor) -> Tensor:
    """`source` reshaped to `target`'s shape by the rules above; ValueError when no rule applies."""
    if source.shape == target.shape:
        return source.to(target.dtype)
    if name.endswith(("._u", "._v")):
        return target
    same_rank = source.ndim == target.ndim
    differing = [d for d in range(source.ndim) if source.shape[d] != target.shape[d]] if same_rank else []
    weights = torch.tensor(MONO_WEIGHTS, dtype=source.dtype)
    if differing == [0] and (source.shape[0], target.shape[0]) == (_RGB, 1):
        return torch.tensordot(weights, source, dims=1).unsqueeze(0).to(target.dtype)
    dim = differing[0] if len(differing) == 1 else None
    if dim in (0, 1) and target.shape[dim] > source.shape[dim] >= _RGB:
        head, tail = source.split((_RGB, source.shape[dim] - _RGB), dim=dim)
        shape = list(source.shape)
        shape[dim] = target.shape[dim] - source.shape[dim]
        return torch.cat((head, source.new_zeros(shape), tail), dim=dim).to(target.dtype)
    if differing == [1] and source.shape[1] - target.shape[1] == _RGB - 1:
        return torch.cat((source[:, :_RGB].sum(1, keepdim=True), source[:, _RGB:]), dim=1).to(target.dtype)
    raise ValueError(f"{name}: cannot map shape {tuple(source.shape)} to {tuple(target.shape)}")


def adapted_state(source: Mapping[str, Tensor], target: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """`target`'s state dict with every tensor taken from `source` (same keys) through `adapt`."""
    missing, unexpected = sorted(set(target) - set(source)), sorted(set(source) - set(target))
    if missing or unexpected:
        raise ValueError(f"the checkpoint's layers differ: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return {name: adapt(name, source[name], value) for name, value in target.items()}


def initialize_from(model: ExternalInpainter, path: str | Path) -> None:
    """Load `path`'s ExternalInpainter weights into `model` (same backbone and options; any bottleneck)."""
    path = Path(path).expanduser()
    checkpoint = load_untrusted(path)
    hparams, state = checkpoint.get("hyper_parameters"), checkpoint.get("state_dict")
    if not isinstance(hparams, dict) or not isinstance(state, dict) or "backbone" not in hparams:
        raise InputError(f"init_from={path} is not an eiip external-stage checkpoint")
    if hparams["backbone"] != model.hparams["backbone"]:
        raise InputError(f"init_from={path} is a {hparams['backbone']} checkpoint, "
                         f"this model a {model.hparams['backbone']}")
    try:
        model.load_state_dict(adapted_state(state, model.state_dict()), strict=True)
    except (ValueError, RuntimeError) as error:
        raise InputError(f"init_from={path} does not fit this model: {str(error).splitlines()[0][:300]}") from error
