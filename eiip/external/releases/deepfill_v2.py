"""DeepFill v2 (JiahuiYu/generative_inpainting v2.0.0, TensorFlow): a checkpoint directory such as
`model_logs/release_places2_256`, read with TensorFlow when it is importable, or an `.npz` of its
variables written elsewhere with (TF 1.15 or 2.x; three statements):

    import numpy as np, tensorflow as tf
    reader = tf.train.load_checkpoint("model_logs/release_places2_256")
    np.savez("deepfill_v2.npz", **{n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()
                                   if n.startswith("inpaint_net/")})

Variables `inpaint_net/<layer>/kernel` (k, k, in, out) and `/bias` (out), layer names from
`inpaint_model.py` `build_inpaint_net` (`gen_deconv` nests `<name>/<name>_conv`), in the order of
eiip's `GatedConvGenerator` convolutions; kernels become (out, in, k, k). The release reads images
with OpenCV, so its network sees and predicts BGR: the RGB input channels of the first layers and
the output channels of the two output layers are reversed. Only `inpaint_net/` is imported (the
release's discriminator is not).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from eiip.errors import InputError
from eiip.external.releases.loading import convert

SCOPE = "inpaint_net/"


def _names(prefix: str, last: int) -> list[str]:
    """One branch's layer names, e.g. conv1, conv2_downsample, ..., conv13_upsample/conv13_upsample_conv."""
    special = {2: "downsample", 4: "downsample", 7: "atrous", 8: "atrous", 9: "atrous", 10: "atrous",
               13: "upsample", 15: "upsample"}
    names = []
    for i in range(1, last + 1):
        name = f"{prefix}{i}" + (f"_{special[i]}" if i in special else "")
        names.append(f"{name}/{name}_conv" if special.get(i) == "upsample" else name)
    return names


LAYERS: tuple[str, ...] = (
    *_names("conv", 17),  # coarse network
    *_names("xconv", 10),  # dilated refinement branch
    *_names("pmconv", 6), "pmconv9", "pmconv10",  # attention branch
    *_names("allconv", 17)[10:],  # merge: allconv11 .. allconv17
)
"""The generator's convolutions in eiip's module order (`GatedConvGenerator`)."""

BGR_INPUTS: tuple[str, ...] = ("conv1", "xconv1", "pmconv1")
BGR_OUTPUTS: tuple[str, ...] = ("conv17", "allconv17")


def read_variables(path: Path) -> dict[str, np.ndarray]:
    """The `inpaint_net/` variables of an `.npz` (no pickles) or, with TensorFlow, of a TF checkpoint."""
    if path.suffix == ".npz":
        if not path.is_file():
            raise InputError(f"weights not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name] for name in data.files if name.startswith(SCOPE)}
        except (ValueError, OSError) as error:
            raise InputError(f"cannot read {path} as an .npz of arrays: {str(error).splitlines()[0][:200]}") from error
    try:
        import tensorflow as tf
    except ImportError as error:
        raise InputError(f"{path}: reading a TF checkpoint needs TensorFlow; without it, convert it to .npz "
                         "(README: DeepFill v2)") from error
    reader = tf.train.load_checkpoint(str(path))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map() if name.startswith(SCOPE)}


def to_torch(variables: dict[str, np.ndarray]) -> dict[str, Tensor]:
    """TF layout -> PyTorch: kernels (k, k, in, out) -> (out, in, k, k); BGR layers' channels reversed."""
    state = {}
    for name, value in variables.items():
        tensor = torch.from_numpy(np.ascontiguousarray(value))
        layer, kind = name.removeprefix(SCOPE).rsplit("/", 1)
        if kind == "kernel" and tensor.ndim == 4:
            tensor = tensor.permute(3, 2, 0, 1)
            if layer in BGR_INPUTS and tensor.shape[1] >= 3:
                tensor = torch.cat((tensor[:, :3].flip(1), tensor[:, 3:]), dim=1)
        if layer in BGR_OUTPUTS and tensor.shape[0] == 3:
            tensor = tensor.flip(0)
        state[name] = tensor.contiguous()
    return state


def release_names(generator: nn.Module) -> dict[str, str]:
    """eiip key -> release variable, pairing the generator's convolutions with `LAYERS` in order."""
    convs = [name for name, module in generator.named_modules() if isinstance(module, nn.Conv2d)]
    if len(convs) != len(LAYERS):
        raise InputError(f"this gatedconv generator has {len(convs)} convolutions, the release {len(LAYERS)}")
    names = {}
    for ours, theirs in zip(convs, LAYERS):
        names[f"{ours}.weight"] = f"{SCOPE}{theirs}/kernel"
        names[f"{ours}.bias"] = f"{SCOPE}{theirs}/bias"
    return names


def read(path: Path, generator: nn.Module, discriminators: nn.ModuleDict) -> dict[str, dict[str, Tensor]]:
    """{"generator": the eiip state dict} from the release's variables."""
    names = release_names(generator)
    return {"generator": convert(to_torch(read_variables(path)), generator.state_dict(), names.__getitem__, path)}
