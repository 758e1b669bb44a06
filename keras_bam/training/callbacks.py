"""Stopping a run whose loss is no longer a number, naming the task and the step."""

from __future__ import annotations

import math

import keras


class NonFiniteLossError(RuntimeError):
    """Training stopped because a loss became NaN or infinite.

    Args:
        message: what happened.
        tasks: the names of the tasks whose loss is not finite (all of the model's
            tasks when it cannot tell which).
        step: the global training step (1-based, counted from the optimizer's
            iterations, so a resumed run keeps counting).
        epoch: the 1-based epoch.
        batch: the 1-based batch of that epoch.
    """

    def __init__(self, message, tasks=(), step=None, epoch=None, batch=None):
        super().__init__(message)
        self.tasks = list(tasks)
        self.step = step
        self.epoch = epoch
        self.batch = batch


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return True  # Not a number at all (a string log entry, say): not ours.


def _model_task_names(model) -> list:
    """The task names a keras-bam model trains, in head order."""
    if hasattr(model, "tasks"):
        return [task.name for task in model.tasks]
    if hasattr(model, "task"):
        return [model.task.name]
    return []


@keras.saving.register_keras_serializable(package="keras_bam")
class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops `fit` with a `NonFiniteLossError` at the first step whose loss is NaN or
    infinite, naming the task and the global step.

    A `MultiTaskModel` logs each task's loss as `<task>_loss`; the error names the
    tasks whose loss is not finite. A `SingleTaskModel` has one task. Keras's
    `TerminateOnNaN` only prints a line and ends training as if it had succeeded;
    this raises, so a diverged run cannot write a model or predictions.
    `train_teacher` and `train_student` add it first among their callbacks.

    Example:
    ```python
    model.fit(keras_bam.backend.as_fit_input(batches), epochs=3, shuffle=False,
              callbacks=[keras_bam.training.StopOnNonFiniteLoss()])
    ```
    """

    def __init__(self):
        super().__init__()
        self._step = 0
        self._epoch = 0

    def on_train_begin(self, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        iterations = getattr(optimizer, "iterations", None)
        self._step = (
            0 if iterations is None else int(keras.ops.convert_to_numpy(iterations))
        )

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        logs = logs or {}
        if "loss" not in logs or _finite(logs["loss"]):
            return
        names = _model_task_names(self.model)
        bad = [name for name in names if not _finite(logs.get(f"{name}_loss", 0.0))]
        tasks = bad or names
        which = ", ".join(f"'{name}'" for name in tasks) or "(unknown)"
        noun = "task" if len(tasks) == 1 else "tasks"
        raise NonFiniteLossError(
            f"Training stopped: the loss of {noun} {which} became "
            f"{float(logs['loss'])} at global step {self._step} (epoch "
            f"{self._epoch + 1}, batch {batch + 1}). Check the learning rate, and "
            "the data and teacher predictions of "
            f"{'this task' if len(tasks) == 1 else 'these tasks'}.",
            tasks=tasks,
            step=self._step,
            epoch=self._epoch + 1,
            batch=batch + 1,
        )

    def get_config(self):
        return {}
