"""GMCNN, PyTorch release (shepnerd/inpainting_gmcnn `pytorch/`): `<epoch>_net_GM.pth`, the generator's
plain state dict (`BaseModel.save_networks`).

Release `GMCNN` keys: `EB{1,2,3}.{i}.weight/bias` (the 7x7, 5x5, 3x3 columns; upsampling layers
hold no weights, so the indices are eiip's `columns.{0,1,2}.{i}.conv`) and
`decoding_layers.{0,1}.weight/bias` (eiip's `decoder.{0,1}.conv`). Input [RGB, mask], RGB output,
in [-1, 1] as eiip's GMCNN. The release ships no discriminator weights.
"""

from __future__ import annotations

import re
from pathlib import Path

from torch import Tensor, nn

from eiip.external.releases.loading import convert, load_untrusted, tensor_dict

_COLUMN = re.compile(r"^columns\.(\d+)\.(\d+)\.conv\.")
_DECODER = re.compile(r"^decoder\.(\d+)\.conv\.")


def release_name(key: str) -> str:
    """The release's name of an eiip GMCNN key."""
    key = _COLUMN.sub(lambda m: f"EB{int(m.group(1)) + 1}.{m.group(2)}.", key)
    return _DECODER.sub(lambda m: f"decoding_layers.{m.group(1)}.", key)


def read(path: Path, generator: nn.Module, discriminators: nn.ModuleDict) -> dict[str, dict[str, Tensor]]:
    """{"generator": the eiip state dict} from the release's `*_net_GM.pth`."""
    state = tensor_dict(load_untrusted(path), path)
    return {"generator": convert(state, generator.state_dict(), release_name, path)}
