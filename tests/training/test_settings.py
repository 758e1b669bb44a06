"""DataSettings, DistillationSettings and the keyword shortcuts."""

import dataclasses

import pytest

import keras_bam
from keras_bam.training import DataSettings
from keras_bam.training import DistillationSettings
from keras_bam.training.settings import check_all_used
from keras_bam.training.settings import with_keywords


def test_data_settings_load_limited_and_sampled_splits(glue_dir, tokenizer):
    data = DataSettings(glue_dir, train_limit=20, train_sample_seed=3, eval_limit=7)
    loader = data.loader(tokenizer, max_length=64)
    train, train_encoded = data.load_train(loader, "rte")
    first = DataSettings(glue_dir, train_limit=20)
    first_train, _ = first.load_train(first.loader(tokenizer, 64), "rte")
    dev, dev_encoded = data.load_eval(loader, "rte", "dev")
    assert len(train) == len(train_encoded) == 20
    assert train.ids != first_train.ids  # A seeded sample, not the first 20.
    assert len(dev) == len(dev_encoded) == 7
    assert int(train_encoded.row_lengths.max()) <= 64
    assert data.training_sample() == {"train_limit": 20, "train_sample_seed": 3}


def test_data_settings_round_trip():
    data = DataSettings("glue", cache_dir="cache", train_limit=5)
    assert DataSettings.from_dict(data.to_dict()) == data
    assert data.to_dict()["source"] == "tsv"


def test_distillation_settings_default_to_bam_and_round_trip():
    settings = DistillationSettings()
    assert (settings.distillation, settings.teachers) == ("annealed", "given")
    assert (settings.mixing, settings.weighting) == ("mixed", "bam")
    assert settings.distillation_temperature == 1.0
    assert DistillationSettings.from_dict(settings.to_dict()) == settings


@pytest.mark.parametrize(
    "field, value",
    [
        ("distillation", "soft"),
        ("teachers", "oracle"),
        ("teacher_combination", "median"),
        ("mixing", "round_robin"),
        ("weighting", "sqrt"),
    ],
)
def test_distillation_settings_reject_unknown_values(field, value):
    with pytest.raises(ValueError, match=f"Unknown {field} '{value}'; use one of"):
        DistillationSettings(**{field: value})


def test_keywords_replace_fields_and_leftovers_raise():
    keywords = {"train_limit": 9, "mixing": "per_task", "verbose": 0}
    data = with_keywords(DataSettings(train_limit=1, eval_limit=4), keywords)
    settings = with_keywords(DistillationSettings(), keywords)
    assert dataclasses.astuple(data)[4:6] == (9, 4)
    assert settings.mixing == "per_task"
    assert keywords == {"verbose": 0}
    with pytest.raises(TypeError, match=r"f\(\) got unexpected keyword.*'verbose'"):
        check_all_used(keywords, "f")


@pytest.mark.parametrize(
    "call",
    [
        lambda: keras_bam.train_teacher("rte", data_dri="x"),
        lambda: keras_bam.train_student(["rte"], teachers="none", mixng="mixed"),
        lambda: keras_bam.cross_fit_teacher("rte", "out", train_limt=3),
        lambda: keras_bam.run_glue(["rte"], "out", eval_limt=3),
    ],
)
def test_misspelled_keywords_fail_before_training(call):
    with pytest.raises(TypeError, match="unexpected keyword arguments"):
        call()


def test_a_mode_string_is_checked_as_settings(glue_dir):
    """`distillation="soft"` stands for `DistillationSettings(distillation="soft")`,
    which refuses it before anything is loaded."""
    with pytest.raises(ValueError, match="Unknown distillation 'soft'"):
        keras_bam.train_student(["rte"], data_dir=glue_dir, distillation="soft")
