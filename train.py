"""Train the external stage: `python train.py backbone=gatedconv bottleneck=mono data=places2 ...`."""

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> None:
    from eiip.io import InputError
    from eiip.external.training import train

    try:
        train(cfg, Path(HydraConfig.get().runtime.output_dir))
    except (FileNotFoundError, InputError) as error:  # missing shards or ImageNet weights, bad settings: one line
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
