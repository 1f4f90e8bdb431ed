"""Lightning callbacks of the training side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L


class SeenSamples(L.Callback):
    """Appends the key of every training sample to `folder/rank{R}.txt` (to audit data splitting)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / f"rank{trainer.global_rank}.txt").open("a") as handle:
            handle.writelines(f"{key}\n" for key in batch["key"])
