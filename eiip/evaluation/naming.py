"""The default name (and run directory) of an evaluation: the same command always gets the same
directory, so rerunning an interrupted evaluation resumes it (e.g. a requeued SLURM job)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf


def _checkpoint_label(ckpt: str) -> str:
    """'<training run folder>-<checkpoint stem>-<hash of the absolute path>'."""
    path = Path(ckpt).expanduser().resolve()
    run = path.parent.parent.name if path.parent.name == "checkpoints" else path.parent.name
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:6]
    return f"{run}-{path.stem}-{digest}" if run else f"{path.stem}-{digest}"


def eval_run_name(
    ckpt: str | None,
    backbone: str | None,
    data: str | None,
    fallback_data: str,
    colorizer: str,
    mask_kind: str,
    mask_ratio: Sequence[float] | None,
    seed: int,
) -> str:
    """E.g. 'telea-sample-internal-freeform-s0' or '10-00-00_gatedconv-mono-sample-last-1a2b3c-paris-levin-rect20-40-s0'.

    `colorizer` is the colorizer config's `label` where it has one (e.g. 'internal-reference', the
    `internal` colorizer with the `reference` preset), else its registered name."""
    source = _checkpoint_label(ckpt) if ckpt else (backbone or "no-stage")
    ratio = "" if mask_ratio is None else f"{round(100 * mask_ratio[0]):d}-{round(100 * mask_ratio[1]):d}"
    data = data or ("traindata" if ckpt else fallback_data)  # a checkpoint is evaluated on its training data
    parts = [source, data, colorizer, f"{mask_kind}{ratio}", f"s{seed}"]
    return "-".join(parts)


def register_resolver() -> None:
    """Make `${eiip_eval_name:...}` available to the eval config (idempotent)."""
    if not OmegaConf.has_resolver("eiip_eval_name"):
        OmegaConf.register_new_resolver("eiip_eval_name", eval_run_name)
