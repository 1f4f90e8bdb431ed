"""Evaluate both stages: `python eval.py ckpt=PATH [data=paris] [colorizer=levin]` (see conf/eval.yaml)."""

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from eiip.evaluation.naming import register_resolver

register_resolver()


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    from eiip.evaluation.runner import evaluate
    from eiip.io import InputError

    try:
        evaluate(cfg, Path(HydraConfig.get().runtime.output_dir))
    except (FileNotFoundError, InputError) as error:  # missing shards or checkpoint, bad settings: one line
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
