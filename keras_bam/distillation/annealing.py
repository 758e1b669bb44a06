"""Teacher annealing: the weight λ of the gold label, from 0 to 1 over training."""

from __future__ import annotations

import keras
from keras import ops

SCHEDULES = ("linear", "constant")


@keras.saving.register_keras_serializable(package="keras_bam")
class TeacherAnnealingState(keras.layers.Layer):
    """Holds the training step and total steps that λ is computed from.

    λ is computed inside each training step from these non-trainable variables,
    never assigned from outside it: on JAX the trainer keeps its own copy of the
    variables between steps, so a value written by a callback mid-epoch would be
    ignored. The step is advanced in the step itself, so λ is exact at every step
    on every backend, and since the step is a model weight a checkpoint restores
    it: a resumed run continues the same λ trajectory.

    BAM's λ at a step is `step / total_steps`, counting steps from 0 (its
    `percent_done`). `TeacherAnnealing` sets the schedule and the total.

    Args:
        **kwargs: standard layer arguments.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.schedule = None
        self.constant = 1.0
        # Under tf.distribute every replica runs the step; the first one's
        # update is the step's (the others would count it again).
        self.step = self.add_weight(
            shape=(),
            initializer="zeros",
            trainable=False,
            name="step",
            aggregation="only_first_replica",
        )
        self.total_steps = self.add_weight(
            shape=(),
            initializer="zeros",
            trainable=False,
            name="total_steps",
            aggregation="only_first_replica",
        )

    @property
    def configured(self) -> bool:
        return self.schedule is not None

    def gold_weight(self):
        """λ at the current step (a float32 scalar tensor)."""
        progress = self.step / ops.maximum(self.total_steps, 1.0)
        if self.schedule == "linear":
            value = progress
        elif self.schedule == "constant":
            value = ops.convert_to_tensor(self.constant, "float32") + 0.0 * progress
        else:
            value = ops.cast(self.schedule(progress), "float32")
        return ops.clip(value, 0.0, 1.0)

    def advance(self):
        """Moves on to the next step (once per training step, after reading
        its λ)."""
        self.step.assign(self.step + 1.0)


@keras.saving.register_keras_serializable(package="keras_bam")
class LastValue(keras.metrics.Metric):
    """A metric whose result is the last value it was given (λ, for logging).

    Resetting keeps the value: λ is a property of the model's training state, not
    an average over batches, and Keras resets every metric before an evaluation
    (a `fit` with `validation_data` would otherwise log λ as 0).
    """

    def __init__(self, name: str = "last_value", dtype="float32"):
        super().__init__(name=name, dtype=dtype)
        self.value = self.add_variable(
            shape=(),
            initializer="zeros",
            name="value",
            aggregation="only_first_replica",
        )

    def update_state(self, value):
        self.value.assign(ops.cast(value, self.dtype))

    def result(self):
        # A copy: on JAX the variable's own buffer is donated to the next
        # training step, and logs holding it would then hold a deleted array.
        return ops.copy(ops.convert_to_tensor(self.value))

    def reset_state(self):
        pass


@keras.saving.register_keras_serializable(package="keras_bam")
class TeacherAnnealing(keras.callbacks.Callback):
    """Drives BAM's teacher annealing during `fit`.

    The student's target is `λ * gold + (1 - λ) * teacher`. By default λ rises
    linearly from 0 at the first step to `(T - 1) / T` at the last of `T` steps, as
    in BAM. The model must have a `TeacherAnnealingState` as `model.annealing`
    (`keras_bam` student models do); λ is logged as `gold_weight`.

    Each `fit` call anneals over its own steps unless `total_steps` is given:
    with the default, a `fit` that starts at epoch 0 starts λ at 0 (a second
    `fit` anneals again from the teacher to the gold labels), and one started at
    `initial_epoch=k` continues from step `k × steps per epoch`, as when resuming
    a run. With `total_steps` given, the model's step counter (a weight, so a
    checkpoint restores it) simply continues.

    Args:
        schedule: `"linear"` (BAM), `"constant"` (λ = `value` throughout), or a
            function of progress in [0, 1) written with `keras.ops`, returning λ.
        value: λ for the `"constant"` schedule.
        total_steps: the steps over which progress runs from 0 to 1; by default
            all steps of the `fit` call (epochs × steps per epoch), counted
            from its first epoch.

    Example:
    ```python
    model.fit(keras_bam.backend.as_fit_input(batches), epochs=6, shuffle=False,
              callbacks=[keras_bam.TeacherAnnealing()])
    ```
    """

    def __init__(
        self, schedule="linear", value: float = 1.0, total_steps: int | None = None
    ):
        super().__init__()
        if not callable(schedule) and schedule not in SCHEDULES:
            raise ValueError(
                f"Unknown schedule {schedule!r}; use one of {SCHEDULES} or a function "
                "of progress."
            )
        self.schedule = schedule
        self.value = float(value)
        self.total_steps = total_steps
        self._first_epoch_of_fit = False

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def on_epoch_begin(self, epoch, logs=None):
        if self._first_epoch_of_fit and self.total_steps is None:
            # This fit's schedule starts at its first epoch (0, or initial_epoch).
            steps = self.params.get("steps") or 0
            self.model.annealing.step.assign(float(epoch * steps))
        self._first_epoch_of_fit = False

    def on_train_begin(self, logs=None):
        state = getattr(self.model, "annealing", None)
        if not isinstance(state, TeacherAnnealingState):
            raise ValueError(
                "TeacherAnnealing needs a model with a TeacherAnnealingState as "
                f"`model.annealing`; {type(self.model).__name__} has none."
            )
        total = self.total_steps
        if total is None:
            steps, epochs = self.params.get("steps"), self.params.get("epochs")
            if not steps:
                raise ValueError(
                    "TeacherAnnealing cannot tell how many steps training has (the "
                    "data has no known length); pass `total_steps`."
                )
            total = steps * epochs
        state.total_steps.assign(float(total))
        self._first_epoch_of_fit = True
        traced = (state.schedule, state.constant)
        state.schedule = self.schedule
        state.constant = self.value
        # The step function reads the schedule when it is traced: trace it anew
        # when the schedule changed (a later `fit` with the same one reuses the
        # compiled step; the total is a variable).
        if traced != (self.schedule, self.value):
            self.model.make_train_function(force=True)

    def get_config(self):
        if callable(self.schedule):
            raise ValueError(
                "A TeacherAnnealing with a function schedule cannot be "
                "serialized; pass the function again when rebuilding."
            )
        return {
            "schedule": self.schedule,
            "value": self.value,
            "total_steps": self.total_steps,
        }
