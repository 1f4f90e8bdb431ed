"""Write imported release weights as a complete ExternalInpainter checkpoint (rgb bottleneck).

The checkpoint holds the whole module (released parts imported, parts the release lacks, e.g.
discriminators, freshly initialized), its hyperparameters with the resolved `conf/train.yaml`
config (`backbone=<name> bottleneck=rgb` plus any overrides), and empty optimizer states, so
`eiip inpaint --ckpt`, `eval.py ckpt=`, `train.py ckpt=` (fine-tuning from step 0 with fresh
optimizers) and `train.py init_from=` all accept it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import lightning as L
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import OmegaConf
from torch import Tensor, nn

import eiip
from eiip.errors import InputError
from eiip.external.training import build_model

Reader = Callable[[Path, nn.Module, nn.ModuleDict], dict[str, dict[str, Tensor]]]
"""`read(source, generator, discriminators) -> {submodule path: its state dict}`."""

CONF_DIR = Path(eiip.__file__).resolve().parents[1] / "conf"


def train_config(backbone: str, overrides: Sequence[str] = ()) -> dict:
    """The resolved `conf/train.yaml` for `backbone=<backbone> bottleneck=rgb` and the overrides."""
    if not (CONF_DIR / "train.yaml").is_file():
        raise InputError(f"import-weights needs the source tree's conf/ (not found at {CONF_DIR})")
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="train", overrides=[f"backbone={backbone}", "bottleneck=rgb", *overrides])
    except HydraException as error:
        raise InputError(f"bad override(s) {' '.join(overrides)}: {str(error).splitlines()[0][:200]}") from error
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def write_checkpoint(backbone: str, read: Reader, source: Path, out: Path, overrides: Sequence[str] = (),
                     release: str | None = None) -> list[str]:
    """Import `source` with `read` into the rgb `backbone` module and save it to `out`; returns the imported parts."""
    cfg = train_config(backbone, overrides)
    if cfg["bottleneck"]["name"] != "rgb" or cfg.get("init_from"):
        raise InputError("the releases are rgb models: import them as is, then start a mono model with "
                         "train.py bottleneck=mono init_from=CKPT")
    model = build_model(OmegaConf.create(cfg))
    parts = read(source, model.generator, model.discriminators)
    for name, state in parts.items():
        model.get_submodule(name).load_state_dict(state, strict=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({
        "state_dict": model.state_dict(),
        "hyper_parameters": dict(model.hparams),
        "pytorch-lightning_version": L.__version__,
        "epoch": 0,
        "global_step": 0,
        "optimizer_states": [],
        "lr_schedulers": [],
        "eiip_import": {"release": release or backbone, "source": str(source), "imported": sorted(parts)},
    }, out)
    return sorted(parts)
