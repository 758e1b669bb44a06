"""Distillation modes and teacher combinations: registered by name, each one
class."""

import numpy as np
import pytest
from keras import ops

import keras_bam
from keras_bam.distillation.modes import DISTILLATION_MODES
from keras_bam.distillation.modes import TEACHER_COMBINATIONS
from keras_bam.distillation.modes import DistillationMode
from keras_bam.distillation.modes import TeacherCombination
from keras_bam.distillation.modes import get_distillation_mode
from keras_bam.distillation.modes import get_teacher_combination
from keras_bam.distillation.modes import register_distillation_mode
from keras_bam.distillation.modes import register_teacher_combination
from keras_bam.training import DistillationSettings
from keras_bam.training.student import student_callbacks


def test_the_modes_and_their_gold_weights(tiny_backbone):
    assert tuple(DISTILLATION_MODES) == ("annealed", "fixed", "gold")
    model = keras_bam.MultiTaskModel(
        tiny_backbone, ["rte"], distillation="fixed", teacher_weight=0.3
    )
    assert float(model.step_gold_weight(True)) == pytest.approx(0.7)
    assert float(model.step_gold_weight(False)) == 1.0  # Evaluation: gold.
    assert float(get_distillation_mode("gold").training_gold_weight(model)) == 1.0
    with pytest.raises(ValueError, match="needs the TeacherAnnealing callback"):
        get_distillation_mode("annealed").training_gold_weight(model)
    with pytest.raises(ValueError, match="Unknown distillation mode 'soft'"):
        keras_bam.MultiTaskModel(tiny_backbone, ["rte"], distillation="soft")


def test_annealed_modes_get_the_annealing_callback():
    annealed = student_callbacks(None, "annealed", total_steps=12)
    assert [type(c) for c in annealed] == [
        keras_bam.training.StopOnNonFiniteLoss,
        keras_bam.TeacherAnnealing,
    ]
    assert annealed[1].total_steps == 12
    assert len(student_callbacks(None, "fixed", total_steps=12)) == 1


def test_a_new_mode_is_one_class(tiny_backbone):
    @register_distillation_mode
    class Quarter(DistillationMode):
        name = "quarter"

        def training_gold_weight(self, model):
            return ops.convert_to_tensor(0.25, "float32")

    try:
        assert DistillationSettings(distillation="quarter").distillation == "quarter"
        model = keras_bam.MultiTaskModel(tiny_backbone, ["rte"], distillation="quarter")
        assert float(model.step_gold_weight(True)) == 0.25
        restored = keras_bam.MultiTaskModel.from_config(model.get_config())
        assert restored.distillation == "quarter"
    finally:
        del DISTILLATION_MODES["quarter"]
    with pytest.raises(ValueError, match="needs a `name`"):
        register_distillation_mode(type("Nameless", (DistillationMode,), {}))


def test_the_teacher_combinations():
    assert tuple(TEACHER_COMBINATIONS) == ("probabilities", "logits")
    logits = np.array([[[2.0, 0.0]], [[0.0, 0.0]]])
    mean_logits = get_teacher_combination("logits").combine(logits, 1.0)
    np.testing.assert_allclose(mean_logits, [[1.0, 0.0]])
    # The mean of the two distributions, as logits at temperature 2.
    combined = get_teacher_combination("probabilities").combine(logits, 2.0)
    softmax = lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True)  # noqa: E731
    want = (softmax(logits[0] / 2) + softmax(logits[1] / 2)) / 2
    np.testing.assert_allclose(softmax(combined / 2), want)
    with pytest.raises(ValueError, match="Unknown teacher combination 'vote'"):
        get_teacher_combination("vote")
    with pytest.raises(ValueError, match="Unknown teacher_combination 'vote'"):
        DistillationSettings(teacher_combination="vote")


def test_a_new_teacher_combination_is_one_class():
    @register_teacher_combination
    class First(TeacherCombination):
        name = "first"

        def combine(self, logits, temperature):
            return logits[0]

    teachers = [np.array([[1.0, 2.0]]), np.array([[5.0, 0.0]])]
    try:
        settings = DistillationSettings(teacher_combination="first")
        assert settings.teacher_combination == "first"
        combined = keras_bam.data.combine_teachers("rte", teachers, "first")
        np.testing.assert_array_equal(combined, [[1.0, 2.0]])
        # Regression teachers are averaged whatever the combination.
        stsb = keras_bam.data.combine_teachers("stsb", [[[1.0]], [[3.0]]], "first")
        np.testing.assert_array_equal(stsb, [[2.0]])
    finally:
        del TEACHER_COMBINATIONS["first"]
    with pytest.raises(ValueError, match="needs a `name`"):
        register_teacher_combination(type("Nameless", (TeacherCombination,), {}))
