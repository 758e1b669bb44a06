"""Learning-rate schedules."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_bam")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up, then linear decay to zero: BERT's and BAM's schedule.

    During the first `warmup_steps` steps the rate rises linearly from 0 to
    `peak_learning_rate`. After that it follows BAM's (and BERT's)
    `polynomial_decay` over the whole run, `peak * (1 - step / total_steps)`, so it
    continues from `peak * (1 - warmup / total)` at the end of warm-up. With
    `decay_from_warmup=True` it decays from the peak at the end of warm-up instead
    (Hugging Face's `get_linear_schedule_with_warmup`).

    Args:
        peak_learning_rate: the rate at the end of warm-up.
        total_steps: the number of training steps; the rate is 0 from there on.
        warmup_steps: warm-up length in steps.
        decay_from_warmup: decay from the warm-up end instead of from step 0.

    Example:
    ```python
    schedule = keras_bam.training.WarmupLinearDecay(
        5e-5, total_steps=1000, warmup_steps=100
    )
    float(schedule(100))  # 4.5e-05, as in BAM
    ```
    """

    def __init__(
        self,
        peak_learning_rate: float,
        total_steps: int,
        warmup_steps: int = 0,
        decay_from_warmup: bool = False,
    ):
        if total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {total_steps}.")
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(
                f"warmup_steps must be in [0, total_steps], got {warmup_steps}."
            )
        self.peak_learning_rate = float(peak_learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.decay_from_warmup = bool(decay_from_warmup)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak = self.peak_learning_rate
        total = float(self.total_steps)
        warmup = float(self.warmup_steps)
        if self.decay_from_warmup:
            decayed = peak * (total - step) / max(total - warmup, 1.0)
        else:
            decayed = peak * (1.0 - step / total)
        decayed = ops.maximum(decayed, 0.0)
        if self.warmup_steps == 0:
            return decayed
        warming = peak * step / warmup
        return ops.where(step < warmup, warming, decayed)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "decay_from_warmup": self.decay_from_warmup,
        }
