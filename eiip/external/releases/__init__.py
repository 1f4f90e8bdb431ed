"""Import the official releases' pretrained weights as eiip rgb-baseline checkpoints.

`eiip import-weights --release NAME --from PATH --out CKPT` (`import_release`): each release module
reads its files (untrusted: tensors only, `torch.load(weights_only=True)`), checks every expected
key and shape against the eiip layers, and returns eiip state dicts; `checkpoint.write_checkpoint`
stores them in a complete ExternalInpainter checkpoint with its training config.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from eiip.external.releases import deepfill_v2, edgeconnect, gmcnn
from eiip.external.releases.checkpoint import Reader, write_checkpoint

RELEASES: dict[str, tuple[str, Reader]] = {
    "edgeconnect": ("edgeconnect", edgeconnect.read),
    "gmcnn": ("gmcnn", gmcnn.read),
    "deepfill-v2": ("gatedconv", deepfill_v2.read),
}
"""Release name -> (eiip backbone, reader of its files)."""


def import_release(release: str, source: str | Path, out: str | Path, overrides: Sequence[str] = ()) -> list[str]:
    """Convert a release's weights at `source` into the eiip checkpoint `out`; returns the imported parts."""
    if release not in RELEASES:
        raise ValueError(f"unknown release {release!r}; expected one of {', '.join(RELEASES)}")
    backbone, read = RELEASES[release]
    return write_checkpoint(backbone, read, Path(source).expanduser(), Path(out).expanduser(), overrides, release)
