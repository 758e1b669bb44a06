import importlib
import warnings

import pytest

import keras_bam

TOP_LEVEL = {
    "CrossFitRun",
    "FineTuningRecipe",
    "GLUE_TASKS",
    "GlueRun",
    "MultiTaskModel",
    "SingleTaskModel",
    "StudentRun",
    "TeacherAnnealing",
    "TeacherRun",
    "cross_fit_teacher",
    "export_saved_model",
    "get_task",
    "load_backbone",
    "load_glue",
    "load_tokenizer",
    "run_glue",
    "train_student",
    "train_teacher",
}


def test_the_top_level_keeps_what_a_run_starts_from():
    public = {
        name
        for name, value in vars(keras_bam).items()
        if not name.startswith("_") and not isinstance(value, type(keras_bam))
    }
    assert public - {"importlib", "warnings"} == TOP_LEVEL
    for name in TOP_LEVEL:
        assert getattr(keras_bam, name).__doc__, name


@pytest.mark.parametrize("space", sorted(keras_bam._MOVED))
def test_every_moved_name_lives_in_its_namespace(space):
    module = importlib.import_module(f"keras_bam.{space}")
    for name in keras_bam._MOVED[space].split():
        assert getattr(module, name) is not None, f"keras_bam.{space}.{name}"


def test_a_moved_name_still_resolves_at_the_top_level_with_a_warning():
    with pytest.warns(DeprecationWarning, match=r"keras_bam\.data\.read_glue_tsv"):
        old = keras_bam.read_glue_tsv
    assert old is keras_bam.data.read_glue_tsv
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert keras_bam.training.TrainingCheckpoint is not None


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        keras_bam.not_a_name  # noqa: B018
