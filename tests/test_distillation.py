"""Distillation modes: registered by name, each one class."""

import pytest
from keras import ops

import keras_bam
from keras_bam.distillation import DISTILLATION_MODES
from keras_bam.distillation import DistillationMode
from keras_bam.distillation import get_distillation_mode
from keras_bam.distillation import register_distillation_mode
from keras_bam.student import student_callbacks
from keras_bam.training import DistillationSettings


def test_the_modes_and_their_gold_weights(tiny_backbone):
    assert tuple(DISTILLATION_MODES) == ("annealed", "fixed", "gold")
    model = keras_bam.MultiTaskModel(
        tiny_backbone, ["rte"], distillation="fixed", teacher_weight=0.3
    )
    assert float(model.step_gold_weight(True)) == pytest.approx(0.7)
    assert float(model.step_gold_weight(False)) == 1.0  # Evaluation: gold.
    assert float(get_distillation_mode("gold").gold_weight(model)) == 1.0
    with pytest.raises(ValueError, match="needs the TeacherAnnealing callback"):
        get_distillation_mode("annealed").gold_weight(model)
    with pytest.raises(ValueError, match="Unknown distillation mode 'soft'"):
        keras_bam.MultiTaskModel(tiny_backbone, ["rte"], distillation="soft")


def test_annealed_modes_get_the_annealing_callback():
    annealed = student_callbacks(None, "annealed", total_steps=12)
    assert [type(c) for c in annealed] == [
        keras_bam.callbacks.StopOnNonFiniteLoss,
        keras_bam.TeacherAnnealing,
    ]
    assert annealed[1].total_steps == 12
    assert len(student_callbacks(None, "fixed", total_steps=12)) == 1


def test_a_new_mode_is_one_class(tiny_backbone):
    @register_distillation_mode
    class Quarter(DistillationMode):
        name = "quarter"

        def gold_weight(self, model):
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
