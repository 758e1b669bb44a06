"""Distillation modes and teacher combinations: how a student weighs the gold
labels against its teachers, and how several teachers of a task become one.

Each step a `MultiTaskModel` trains on `λ·gold + (1 − λ)·teacher`; a mode says
what λ is. A task with several teachers (an ensemble) has their outputs
combined into one teacher's; a combination says how. Each is a small
registered class, so a new one is one class: `train_student(distillation=...,
teacher_combination=...)`, `MultiTaskModel(distillation=...)` and
`DistillationSettings` find it by name.
"""

from __future__ import annotations

import numpy as np
from keras import ops

DISTILLATION_MODES = {}
TEACHER_COMBINATIONS = {}


def register_distillation_mode(mode_class):
    """Registers a `DistillationMode` subclass under its `name` (a decorator).

    Example:
    ```python
    @keras_bam.distillation.register_distillation_mode
    class HalfWay(keras_bam.distillation.DistillationMode):
        name = "half"

        def training_gold_weight(self, model):
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


def distillation_mode_names() -> tuple:
    """The names of the registered distillation modes, in registration order.

    Read when called, so that modes registered since import are included (the
    command line checks `--distillation` against it).

    Returns:
        A tuple of names, the built-in `"annealed"`, `"fixed"` and `"gold"`
        first.

    Example:
    ```python
    keras_bam.distillation.distillation_mode_names()  # ("annealed", ...)
    ```
    """
    return tuple(DISTILLATION_MODES)


class DistillationMode:
    """Base of the distillation modes.

    A subclass sets `name` (how runs and the command line call it), sets
    `annealed = True` if it reads λ from a `TeacherAnnealing` callback (which
    `train_student` then adds), and implements `training_gold_weight`.

    λ has one name along its way, `gold_weight`: the annealing state's
    (`TeacherAnnealingState.gold_weight`, λ at its current step), the mode's
    for a training step (`training_gold_weight`, which may advance the state),
    the model's for a step (`MultiTaskModel.step_gold_weight`, 1 outside
    training), the losses' argument and the logged metric.
    """

    name: str = ""
    annealed: bool = False

    def training_gold_weight(self, model):
        """λ for one training step of `model` (a float32 scalar tensor); called
        once per step."""
        raise NotImplementedError


@register_distillation_mode
class AnnealedDistillation(DistillationMode):
    """BAM's teacher annealing: λ from `TeacherAnnealing`, 0 to 1 over training."""

    name = "annealed"
    annealed = True

    def training_gold_weight(self, model):
        if not model.annealing.configured:
            raise ValueError(
                "Teacher annealing needs the TeacherAnnealing callback: "
                "model.fit(..., callbacks=[keras_bam.TeacherAnnealing()])."
            )
        gold_weight = model.annealing.gold_weight()
        model.annealing.advance()
        return gold_weight


@register_distillation_mode
class FixedDistillation(DistillationMode):
    """Distillation with a fixed teacher weight: λ = 1 − `model.teacher_weight`."""

    name = "fixed"

    def training_gold_weight(self, model):
        return ops.convert_to_tensor(1.0 - model.teacher_weight, "float32")


@register_distillation_mode
class GoldOnly(DistillationMode):
    """Plain multi-task training: λ = 1, the gold labels only."""

    name = "gold"

    def training_gold_weight(self, model):
        return ops.convert_to_tensor(1.0, "float32")


def register_teacher_combination(combination_class):
    """Registers a `TeacherCombination` subclass under its `name` (a decorator).

    Example:
    ```python
    @keras_bam.distillation.register_teacher_combination
    class Median(keras_bam.distillation.TeacherCombination):
        name = "median"

        def combine(self, logits, temperature):
            return np.median(logits, axis=0)
    ```
    """
    if not combination_class.name:
        raise ValueError(f"{combination_class.__name__} needs a `name`.")
    TEACHER_COMBINATIONS[combination_class.name] = combination_class()
    return combination_class


def get_teacher_combination(name: str) -> TeacherCombination:
    """The registered teacher combination called `name`.

    Example:
    ```python
    keras_bam.distillation.get_teacher_combination("logits").name  # "logits"
    ```
    """
    if name not in TEACHER_COMBINATIONS:
        raise ValueError(
            f"Unknown teacher combination {name!r}; use one of "
            f"{tuple(TEACHER_COMBINATIONS)}."
        )
    return TEACHER_COMBINATIONS[name]


def teacher_combination_names() -> tuple:
    """The names of the registered teacher combinations, in registration order.

    Read when called, so that combinations registered since import are
    included (the command line checks `--teacher-combination` against it).

    Returns:
        A tuple of names, the built-in `"probabilities"` and `"logits"` first.

    Example:
    ```python
    keras_bam.distillation.teacher_combination_names()  # ("probabilities", ...)
    ```
    """
    return tuple(TEACHER_COMBINATIONS)


class TeacherCombination:
    """Base of the teacher combinations: several classification teachers'
    logits for the same examples, as one teacher's logits. (Regression
    teachers' scores are averaged, and a single teacher is used as it is,
    whatever the combination: `keras_bam.data.combine_teachers`.)

    A subclass sets `name` and implements `combine`.
    """

    name: str = ""

    def combine(self, logits: np.ndarray, temperature: float) -> np.ndarray:
        """`(teachers, examples, classes)` float64 logits as
        `(examples, classes)` logits, for the student's softmax at
        `temperature`."""
        raise NotImplementedError


@register_teacher_combination
class MeanProbabilities(TeacherCombination):
    """MT-DNN's multi-teacher distillation: the teachers' distributions
    `softmax(logits / T)` averaged, as logits whose softmax at `T` is that
    average."""

    name = "probabilities"

    def combine(self, logits, temperature):
        scaled = logits / temperature
        scaled -= scaled.max(axis=-1, keepdims=True)
        probabilities = np.exp(scaled)
        probabilities /= probabilities.sum(axis=-1, keepdims=True)
        mean = np.maximum(probabilities.mean(axis=0), np.finfo(np.float32).tiny)
        return temperature * np.log(mean)


@register_teacher_combination
class MeanLogits(TeacherCombination):
    """The teachers' logits averaged."""

    name = "logits"

    def combine(self, logits, temperature):
        return logits.mean(axis=0)
