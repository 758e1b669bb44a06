"""Distillation modes: how a student weighs the gold labels against its teachers.

Each step a `MultiTaskModel` trains on `λ·gold + (1 − λ)·teacher`; a mode says
what λ is. A mode is a small registered class, so a new one is one class:
`train_student(distillation="<name>")`, `MultiTaskModel(distillation=...)`
and `DistillationSettings` find it by name.
"""

from __future__ import annotations

from keras import ops

DISTILLATION_MODES = {}


def register_distillation_mode(mode_class):
    """Registers a `DistillationMode` subclass under its `name` (a decorator).

    Example:
    ```python
    @keras_bam.distillation.register_distillation_mode
    class HalfWay(keras_bam.distillation.DistillationMode):
        name = "half"

        def gold_weight(self, model):
            return keras.ops.convert_to_tensor(0.5, "float32")
    ```
    """
    if not mode_class.name:
        raise ValueError(f"{mode_class.__name__} needs a `name`.")
    DISTILLATION_MODES[mode_class.name] = mode_class()
    return mode_class


def get_distillation_mode(name: str) -> DistillationMode:
    """The registered mode called `name`.

    Example:
    ```python
    keras_bam.distillation.get_distillation_mode("annealed").annealed  # True
    ```
    """
    if name not in DISTILLATION_MODES:
        raise ValueError(
            f"Unknown distillation mode {name!r}; use one of "
            f"{tuple(DISTILLATION_MODES)}."
        )
    return DISTILLATION_MODES[name]


class DistillationMode:
    """Base of the distillation modes.

    A subclass sets `name` (how runs and the command line call it), sets
    `annealed = True` if it reads λ from a `TeacherAnnealing` callback (which
    `train_student` then adds), and implements `gold_weight`.
    """

    name: str = ""
    annealed: bool = False

    def gold_weight(self, model):
        """λ for one training step of `model` (a float32 scalar tensor)."""
        raise NotImplementedError


@register_distillation_mode
class AnnealedDistillation(DistillationMode):
    """BAM's teacher annealing: λ from `TeacherAnnealing`, 0 to 1 over training."""

    name = "annealed"
    annealed = True

    def gold_weight(self, model):
        if not model.annealing.configured:
            raise ValueError(
                "Teacher annealing needs the TeacherAnnealing callback: "
                "model.fit(..., callbacks=[keras_bam.TeacherAnnealing()])."
            )
        return model.annealing.gold_weight(advance=True)


@register_distillation_mode
class FixedDistillation(DistillationMode):
    """Distillation with a fixed teacher weight: λ = 1 − `model.teacher_weight`."""

    name = "fixed"

    def gold_weight(self, model):
        return ops.convert_to_tensor(1.0 - model.teacher_weight, "float32")


@register_distillation_mode
class GoldOnly(DistillationMode):
    """Plain multi-task training: λ = 1, the gold labels only."""

    name = "gold"

    def gold_weight(self, model):
        return ops.convert_to_tensor(1.0, "float32")
