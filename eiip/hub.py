"""Checkpoints in the torch.hub cache, downloaded on first use and checked against their SHA-256.

A file lives at ``Path(torch.hub.get_dir()) / "checkpoints" / filename`` (``$TORCH_HOME/hub/checkpoints``,
by default ``~/.cache/torch/hub/checkpoints``). When it is absent, :func:`fetch_checkpoint` downloads
it with ``torch.hub.download_url_to_file``: into a ``.partial`` file beside it, checked against the
hash in its name (torch.hub's convention: ``vgg19-dcbb9e9d.pth`` -> the SHA-256 starts ``dcbb9e9d``),
then renamed into place, so a partial or wrong download is never left in the cache. A file already
in the cache is used as it is.

``EIIP_OFFLINE=1`` (or a failed download) raises :class:`PretrainedWeightsMissing`, one line naming
the file, its URL and the path to copy it to.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import torch

__all__ = ["OFFLINE_VARIABLE", "PretrainedWeightsMissing", "checkpoint_path", "fetch_checkpoint",
           "hash_prefix", "offline"]

OFFLINE_VARIABLE = "EIIP_OFFLINE"
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,})\.")


class PretrainedWeightsMissing(FileNotFoundError):
    """A checkpoint is not in the torch.hub cache and could not be downloaded (offline, network, hash)."""


def offline() -> bool:
    """Whether ``EIIP_OFFLINE`` forbids downloads (any value but empty, 0, false, no)."""
    return os.environ.get(OFFLINE_VARIABLE, "").strip().lower() not in ("", "0", "false", "no")


def checkpoint_path(filename: str) -> Path:
    """``Path(torch.hub.get_dir()) / "checkpoints" / filename``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def hash_prefix(filename: str) -> str:
    """The SHA-256 prefix in a torch.hub file name (``vgg19-dcbb9e9d.pth`` -> ``dcbb9e9d``)."""
    matches = _HASH_IN_NAME.findall(filename)
    if not matches:
        raise ValueError(f"{filename!r} carries no SHA-256 prefix (torch.hub names end '-<hex>.<ext>')")
    return matches[-1]


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def fetch_checkpoint(url: str, filename: str, what: str) -> Path:
    """The cached `filename`, downloaded from `url` first when absent; `what` names it in errors."""
    path = checkpoint_path(filename)
    if path.is_file():
        return path
    missing = f"{what}: the file {filename} is not at {path} (torch.hub cache, $TORCH_HOME/hub/checkpoints)"
    by_hand = f"fetch {url} on a machine with network access and copy it to {path}"
    if offline():
        raise PretrainedWeightsMissing(f"{missing} and {OFFLINE_VARIABLE} is set, so nothing is downloaded: "
                                       f"{by_hand}, or unset {OFFLINE_VARIABLE}.")
    expected = hash_prefix(filename)
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"downloading {url} to {path}", file=sys.stderr)
    try:
        torch.hub.download_url_to_file(url, str(path), hash_prefix=expected, progress=sys.stderr.isatty())
    except (OSError, RuntimeError, ValueError) as error:  # no network, HTTP error, wrong SHA-256
        raise PretrainedWeightsMissing(f"{missing} and downloading it failed ({_one_line(error)}): "
                                       f"{by_hand}.") from error
    return path
