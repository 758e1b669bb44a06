import json

import numpy as np
import pytest
from scipy.special import softmax

import keras_bam
from tests.conftest import make_tiny_backbone


def test_fold_assignment_is_balanced_and_seeded():
    folds = keras_bam.training.fold_assignment(10, 3, seed=4)
    assert sorted(np.bincount(folds)) == [3, 3, 4]
    np.testing.assert_array_equal(
        folds, keras_bam.training.fold_assignment(10, 3, seed=4)
    )
    assert not np.array_equal(folds, keras_bam.training.fold_assignment(10, 3, seed=5))
    with pytest.raises(ValueError, match="between 2 and the number of examples"):
        keras_bam.training.fold_assignment(3, 4)


def test_prediction_statistics():
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    labels = np.array([0, 0, 0])
    stats = keras_bam.training.prediction_statistics("rte", logits, labels)
    assert stats["accuracy"] == pytest.approx(2 / 3)
    assert stats["mean_confidence"] == pytest.approx(
        softmax(logits, axis=-1).max(-1).mean()
    )
    regression = keras_bam.training.prediction_statistics(
        "stsb", np.array([[0.2], [0.9]]), np.array([1.5, 4.0])
    )
    assert regression["mean_absolute_error"] == pytest.approx((0.5 + 0.5) / 2)


def test_train_indices_are_checked(glue_dir, tokenizer):
    with pytest.raises(ValueError, match="positions in the 16 training examples"):
        keras_bam.train_teacher(
            "rte",
            data_dir=glue_dir,
            backbone=make_tiny_backbone(),
            tokenizer=tokenizer,
            recipe=keras_bam.FineTuningRecipe(epochs=1, batch_size=8),
            train_limit=16,
            train_indices=[3, 16],
            verbose=0,
        )


def test_cross_fit_teacher_predicts_every_example_out_of_fold(
    glue_dir, tokenizer, tmp_path, caplog
):
    """MRPC (both text orders), 2 folds over a seeded sample of 20 pairs: each
    fold teacher trains on the other fold's 10 pairs in both orders, and the
    assembled file holds, for every example and its swap, the prediction of the
    teacher that did not train on it; a student trains from the folder."""
    recipe = keras_bam.FineTuningRecipe(epochs=1, batch_size=8, seed=2)
    common = dict(
        data_dir=glue_dir,
        tokenizer=tokenizer,
        recipe=recipe,
        train_limit=20,
        eval_limit=16,
        train_sample_seed=5,
        verbose=0,
    )
    with caplog.at_level("INFO"):
        run = keras_bam.cross_fit_teacher(
            "mrpc",
            tmp_path / "mrpc",
            folds=2,
            fold_seed=1,
            backbone=make_tiny_backbone,
            **common,
        )
    assert caplog.text.count("MRPC teacher: 20 examples") == 2
    folds = keras_bam.training.fold_assignment(20, 2, seed=1)
    loader = keras_bam.data.SplitLoader(tokenizer, 128, data_dir=glue_dir)
    train, _ = loader.load("mrpc", "train", 20, sample_seed=5)
    for examples in (train, train.swapped()):
        split = examples.split
        assembled = keras_bam.data.TeacherPredictions.load(run.predictions_paths[split])
        assembled.check_matches(examples)
        assert assembled.metadata["cross_fitted_folds"] == 2
        for fold in range(2):
            path = tmp_path / "mrpc" / f"fold{fold}" / f"mrpc_{split}_teacher.npz"
            fold_predictions = keras_bam.data.TeacherPredictions.load(path)
            held_out = folds == fold
            np.testing.assert_array_equal(
                assembled.outputs[held_out], fold_predictions.outputs[held_out]
            )
            # The other fold's rows came from the other teacher.
            assert not np.allclose(
                assembled.outputs[~held_out], fold_predictions.outputs[~held_out]
            )
    assert set(run.in_sample) == set(run.out_of_fold) == {"accuracy", "mean_confidence"}
    with open(tmp_path / "mrpc" / "mrpc_cross_fit.json") as f:
        assert json.load(f)["folds"] == 2
    student = keras_bam.train_student(
        ["mrpc"],
        teacher_dir=tmp_path,
        backbone=make_tiny_backbone(),
        **common,
    )
    assert np.isfinite(student.history["loss"]).all()
