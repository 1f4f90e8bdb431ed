"""Wall time of Lightning training steps after a warm-up, for the training-speed benchmarks.

Imported as `step_timer` by the scripts in this folder (see `revisions.py` for why).
"""

from __future__ import annotations

import time

import lightning as L


class StepTimer(L.Callback):
    """Wall time of the training steps after the first `warmup` (>= 1): from the end of step `warmup`
    to the end of the last step, so start-up, the warm-up steps and what follows the last step
    (checkpoints, teardown) are not counted; `steps` is the number of timed steps."""

    def __init__(self, warmup: int) -> None:
        if warmup < 1:
            raise ValueError(f"warmup must be at least 1 step (the clock starts at the end of a step), got {warmup}")
        self.warmup, self.start, self.end, self.steps = warmup, 0.0, 0.0, 0

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if trainer.global_step == self.warmup:
            self.start = time.perf_counter()
        elif trainer.global_step > self.warmup:
            self.end, self.steps = time.perf_counter(), trainer.global_step - self.warmup

    @property
    def steps_per_second(self) -> float:
        if not self.steps:
            raise RuntimeError(f"no step after the {self.warmup} warm-up steps was timed")
        return self.steps / (self.end - self.start)
