"""ImageNet feature stacks defined in-project (no torchvision), loadable from torchvision checkpoints.

Each builder returns an :class:`ImageNetFeatures` whose only child is ``features``, an
``nn.Sequential`` with exactly the layer indices and parameter names of torchvision's model, so the
``features.*`` entries of the standard checkpoints load strictly:

================  ===========================================================  ==========================
name              layout                                                       checkpoint file
================  ===========================================================  ==========================
``vgg16``         VGG config "D", 3x3 convs + ReLU, 2x2 max-pools, no BN (31)   ``vgg16-397923af.pth``
``vgg19``         VGG config "E", same, 37 layers                               ``vgg19-dcbb9e9d.pth``
``alexnet``       "one weird trick" AlexNet, 13 layers                          ``alexnet-owt-7be5be79.pth``
``squeezenet1_1`` SqueezeNet 1.1 with ``Fire`` (squeeze/expand1x1/expand3x3)    ``squeezenet1_1-b8a52dc0.pth``
================  ===========================================================  ==========================

:func:`load_imagenet_features` reads the file from the torch.hub cache (``$TORCH_HOME/hub/checkpoints``),
downloading it there on first use with its SHA-256 checked (:mod:`eiip.hub`); with ``EIIP_OFFLINE=1``
or without network it raises :class:`PretrainedWeightsMissing` naming the file, its URL and the path.

ReLUs are built with ``inplace=False`` so intermediate activations can be tapped safely
(:meth:`ImageNetFeatures.taps`); this does not change any parameter name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import torch
from torch import Tensor, nn

from eiip.hub import PretrainedWeightsMissing, checkpoint_path, fetch_checkpoint

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LPIPS_SLICE_ENDS",
    "PRETRAINED_WEIGHTS",
    "VGG19_LAYER_INDEX",
    "Fire",
    "ImageNetFeatures",
    "PretrainedWeightsMismatch",
    "PretrainedWeightsMissing",
    "alexnet_features",
    "build_features",
    "frozen",
    "imagenet_mean_std",
    "imagenet_normalize",
    "load_checked_state",
    "load_imagenet_features",
    "pretrained_available",
    "read_state_dict",
    "squeezenet1_1_features",
    "vgg16_features",
    "vgg19_features",
    "vgg_layer_names",
    "weights_path",
]

# --------------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------------

ModuleT = TypeVar("ModuleT", bound=nn.Module)

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

_BASE_URL = "https://download.pytorch.org/models/"
#: model name -> (URL, file name) of the standard torchvision ImageNet checkpoints.
PRETRAINED_WEIGHTS: dict[str, tuple[str, str]] = {
    name: (_BASE_URL + filename, filename)
    for name, filename in {
        "vgg16": "vgg16-397923af.pth",
        "vgg19": "vgg19-dcbb9e9d.pth",
        "alexnet": "alexnet-owt-7be5be79.pth",
        "squeezenet1_1": "squeezenet1_1-b8a52dc0.pth",
    }.items()
}

_VGG_CONFIGS: dict[str, list[int | str]] = {
    # torchvision's cfgs "D" (VGG16) and "E" (VGG19); "M" = 2x2 stride-2 max-pool.
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
              512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}

#: LPIPS taps: the feature stack is cut after these (exclusive) indices, as in the LPIPS release
#: (lpips/pretrained_networks.py): alex relu1..relu5, vgg16 relu1_2..relu5_3, squeeze relu1..relu7.
LPIPS_SLICE_ENDS: dict[str, tuple[int, ...]] = {
    "alexnet": (2, 5, 8, 10, 12),
    "vgg16": (4, 9, 16, 23, 30),
    "squeezenet1_1": (2, 5, 8, 10, 11, 12, 13),
}


def vgg_layer_names(name: str) -> list[str]:
    """Caffe-style names of every layer of a VGG feature stack: conv1_1, relu1_1, ..., pool5."""
    names: list[str] = []
    block, index = 1, 1
    for value in _VGG_CONFIGS[name]:
        if value == "M":
            names.append(f"pool{block}")
            block, index = block + 1, 1
        else:
            names += [f"conv{block}_{index}", f"relu{block}_{index}"]
            index += 1
    return names


#: VGG19 layer name -> index in ``features`` (e.g. relu1_1 -> 1, relu3_2 -> 13, relu4_2 -> 22).
VGG19_LAYER_INDEX: dict[str, int] = {n: i for i, n in enumerate(vgg_layer_names("vgg19"))}


# --------------------------------------------------------------------------------------------------
# Modules
# --------------------------------------------------------------------------------------------------


class Fire(nn.Module):
    """SqueezeNet Fire module; parameter names as torchvision (squeeze, expand1x1, expand3x3)."""

    def __init__(self, inplanes: int, squeeze_planes: int, expand1x1_planes: int, expand3x3_planes: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, kernel_size=1)
        self.squeeze_activation = nn.ReLU()
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, kernel_size=1)
        self.expand1x1_activation = nn.ReLU()
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                          self.expand3x3_activation(self.expand3x3(x))], dim=1)


class ImageNetFeatures(nn.Module):
    """Holds ``features`` (an ``nn.Sequential``); its state_dict keys are torchvision's ``features.*``."""

    def __init__(self, name: str, layers: Iterable[nn.Module]) -> None:
        super().__init__()
        self.name = name
        self.features = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.features(x)

    def taps(self, x: Tensor, ends: Sequence[int]) -> list[Tensor]:
        """Outputs of ``features[:end]`` for each `end` (increasing), running the stack only once."""
        if list(ends) != sorted(set(ends)) or not ends or ends[0] < 1 or ends[-1] > len(self.features):
            raise ValueError(f"tap ends must be strictly increasing within 1..{len(self.features)}, got {ends}")
        outputs: list[Tensor] = []
        wanted = iter(ends)
        target = next(wanted)
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index + 1 == target:
                outputs.append(x)
                target = next(wanted, None)
                if target is None:
                    break
        return outputs

    def named_taps(self, x: Tensor, names: Sequence[str]) -> dict[str, Tensor]:
        """VGG only: activations at the named layers (e.g. ``["relu1_1", "relu3_2"]``)."""
        if not self.name.startswith("vgg"):
            raise ValueError(f"named taps are defined for VGG stacks only, not {self.name!r}")
        index = {n: i for i, n in enumerate(vgg_layer_names(self.name))}
        unknown = [n for n in names if n not in index]
        if unknown:
            raise KeyError(f"unknown {self.name} layer(s) {unknown}; known: {list(index)}")
        ends = sorted({index[n] + 1 for n in names})
        by_end = dict(zip(ends, self.taps(x, ends), strict=True))
        return {n: by_end[index[n] + 1] for n in names}


def _init_vgg(module: nn.Module) -> None:
    # torchvision's VGG initialisation: keeps random-weight activations at a sane scale in depth.
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)


def _vgg(name: str) -> ImageNetFeatures:
    layers: list[nn.Module] = []
    in_channels = 3
    for value in _VGG_CONFIGS[name]:
        if value == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_channels, int(value), kernel_size=3, padding=1), nn.ReLU()]
            in_channels = int(value)
    model = ImageNetFeatures(name, layers)
    _init_vgg(model)
    return model


def vgg16_features() -> ImageNetFeatures:
    """VGG16 ("D") feature stack, random weights, torchvision layout (``features.0`` ... ``features.30``)."""
    return _vgg("vgg16")


def vgg19_features() -> ImageNetFeatures:
    """VGG19 ("E") feature stack, random weights, torchvision layout (``features.0`` ... ``features.36``)."""
    return _vgg("vgg19")


def alexnet_features() -> ImageNetFeatures:
    """AlexNet feature stack (torchvision's "one weird trick" variant), random weights."""
    return ImageNetFeatures("alexnet", [
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
    ])


def squeezenet1_1_features() -> ImageNetFeatures:
    """SqueezeNet 1.1 feature stack, random weights (torchvision's kaiming-uniform init, zero bias)."""
    model = ImageNetFeatures("squeezenet1_1", [
        nn.Conv2d(3, 64, kernel_size=3, stride=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        Fire(64, 16, 64, 64), Fire(128, 16, 64, 64),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        Fire(128, 32, 128, 128), Fire(256, 32, 128, 128),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        Fire(256, 48, 192, 192), Fire(384, 48, 192, 192),
        Fire(384, 64, 256, 256), Fire(512, 64, 256, 256),
    ])
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return model


_BUILDERS: dict[str, Callable[[], ImageNetFeatures]] = {
    "vgg16": vgg16_features,
    "vgg19": vgg19_features,
    "alexnet": alexnet_features,
    "squeezenet1_1": squeezenet1_1_features,
}


def build_features(name: str) -> ImageNetFeatures:
    """Random-weight feature stack by model name (one of :data:`PRETRAINED_WEIGHTS`)."""
    try:
        return _BUILDERS[name]()
    except KeyError:
        raise KeyError(f"unknown ImageNet network {name!r}; expected one of {sorted(_BUILDERS)}") from None


# --------------------------------------------------------------------------------------------------
# Loading from the torch.hub cache (downloaded on first use, eiip.hub)
# --------------------------------------------------------------------------------------------------


class PretrainedWeightsMismatch(RuntimeError):
    """A checkpoint's entries do not match the in-project layout."""


def weights_path(name: str) -> Path:
    """Where the checkpoint of `name` is cached: ``Path(torch.hub.get_dir()) / "checkpoints" / filename``."""
    if name not in PRETRAINED_WEIGHTS:
        raise KeyError(f"unknown ImageNet network {name!r}; expected one of {sorted(PRETRAINED_WEIGHTS)}")
    return checkpoint_path(PRETRAINED_WEIGHTS[name][1])


def pretrained_available(name: str) -> bool:
    """Whether the checkpoint of `name` is in the torch.hub cache already."""
    return weights_path(name).is_file()


def load_checked_state(model: nn.Module, path: Path, state: Mapping[str, Tensor], label: str) -> None:
    """Load `state` into `model` strictly, raising :class:`PretrainedWeightsMismatch` that lists the
    missing, unexpected and wrongly shaped entries when `state` does not match the model's layout."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = [f"{k}: file {tuple(state[k].shape)} != model {tuple(v.shape)}"
                   for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong_shape:
        raise PretrainedWeightsMismatch(
            f"{path} does not match the {label} layout: missing {missing}, "
            f"unexpected {unexpected}, shape mismatches {wrong_shape}"
        )
    model.load_state_dict(state, strict=True)


def read_state_dict(path: Path, label: str) -> dict[str, Tensor]:
    """The state dict saved at `path`; :class:`PretrainedWeightsMismatch` if it cannot be read as one."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # corrupt/truncated file, or not a plain state dict
        raise PretrainedWeightsMismatch(f"could not read {path} as a {label} state dict: {error}") from error
    if not isinstance(checkpoint, dict):
        raise PretrainedWeightsMismatch(f"{path} holds a {type(checkpoint).__name__}, not a state dict")
    return checkpoint


def frozen(model: ModuleT) -> ModuleT:
    """`model` in eval mode without gradients."""
    model.eval()
    model.requires_grad_(False)
    return model


def load_imagenet_features(name: str) -> ImageNetFeatures:
    """The `name` feature stack with ImageNet weights from the torch.hub cache, eval mode, frozen.

    The checkpoint is downloaded on first use (:func:`eiip.hub.fetch_checkpoint`); raises
    :class:`PretrainedWeightsMissing` if it is absent and cannot be downloaded (``EIIP_OFFLINE=1``,
    no network, wrong hash) and :class:`PretrainedWeightsMismatch` if its ``features.*`` entries
    differ from the layout.
    """
    if name not in PRETRAINED_WEIGHTS:
        raise KeyError(f"unknown ImageNet network {name!r}; expected one of {sorted(PRETRAINED_WEIGHTS)}")
    url, filename = PRETRAINED_WEIGHTS[name]
    path = fetch_checkpoint(url, filename, f"ImageNet weights for {name!r}")
    checkpoint = read_state_dict(path, name)
    model = build_features(name)
    state = {k: v for k, v in checkpoint.items() if k.startswith("features.")}
    load_checked_state(model, path, state, f"{name} feature")
    return frozen(model)


# --------------------------------------------------------------------------------------------------
# Normalization
# --------------------------------------------------------------------------------------------------


def imagenet_mean_std(device: torch.device | str | None = None,
                      dtype: torch.dtype | None = None) -> tuple[Tensor, Tensor]:
    """ImageNet mean and std as (1, 3, 1, 1) tensors."""
    mean = torch.tensor(IMAGENET_MEAN, device=device, dtype=dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device, dtype=dtype).view(1, 3, 1, 1)
    return mean, std


def imagenet_normalize(x: Tensor) -> Tensor:
    """(x - mean) / std for (B, 3, H, W) images in [0, 1]."""
    mean, std = imagenet_mean_std(x.device, x.dtype)
    return (x - mean) / std
