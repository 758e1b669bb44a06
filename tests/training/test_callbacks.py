import re

import keras
import numpy as np
import pytest

import keras_bam
from tests.conftest import make_tiny_backbone

TASKS = ["rte", "stsb"]


def batch(rng, n, length=12):
    return {
        "token_ids": rng.integers(1, 30522, (n, length)).astype("int32"),
        "segment_ids": np.zeros((n, length), "int32"),
        "padding_mask": np.ones((n, length), "int32"),
    }


def student_data(rng, n=16):
    """Alternating RTE and STS-B examples; teachers give finite outputs."""
    task_id = np.arange(n) % 2
    targets = {
        "task_id": task_id,
        "label": np.where(task_id == 1, 0.6, 1.0).astype("float32"),
        "teacher": rng.normal(size=(n, 2)).astype("float32"),
    }
    return batch(rng, n), targets


def student():
    model = keras_bam.MultiTaskModel(
        make_tiny_backbone(), TASKS, distillation="fixed", teacher_weight=0.5
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


def test_per_task_losses_are_logged_and_add_up(rng):
    x, y = student_data(rng)
    history = (
        student().fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    )
    assert {"loss", "rte_loss", "stsb_loss"} <= set(history)
    np.testing.assert_allclose(
        np.add(history["rte_loss"], history["stsb_loss"]), history["loss"], rtol=1e-5
    )


def test_nan_teacher_stops_with_task_and_step(rng):
    """NaN teacher outputs for STS-B in the third batch: the error names STS-B (not
    RTE, whose loss stays finite) and global step 3."""
    x, y = student_data(rng)
    y["teacher"][9, 0] = np.nan  # Batch 3 holds examples 8-11; 9 is STS-B.
    model = student()
    with pytest.raises(keras_bam.training.NonFiniteLossError) as info:
        model.fit(
            x,
            y,
            batch_size=4,
            epochs=2,
            shuffle=False,
            verbose=0,
            callbacks=[keras_bam.training.StopOnNonFiniteLoss()],
        )
    error = info.value
    assert error.tasks == ["stsb"] and error.step == 3
    assert (error.epoch, error.batch) == (1, 3)
    assert "the loss of task 'stsb' became nan at global step 3 (epoch 1, batch 3)" in (
        str(error)
    )


def test_step_counts_on_across_epochs(rng):
    x, y = student_data(rng)
    model = student()
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    y["teacher"][5, 0] = np.nan  # Second batch of the next fit: global step 6.
    with pytest.raises(
        keras_bam.training.NonFiniteLossError, match="global step 6 \\(epoch 1"
    ):
        model.fit(
            x,
            y,
            batch_size=4,
            epochs=1,
            shuffle=False,
            verbose=0,
            callbacks=[keras_bam.training.StopOnNonFiniteLoss()],
        )


def test_train_teacher_stops_on_a_diverging_learning_rate(glue_dir, tokenizer):
    """A learning rate of 1e30 makes the loss non-finite within a few steps;
    `train_teacher` stops by default, naming the task and step."""
    recipe = keras_bam.FineTuningRecipe(
        learning_rate=1e30, epochs=2, batch_size=8, warmup_fraction=0.0
    )
    with pytest.raises(keras_bam.training.NonFiniteLossError) as info:
        keras_bam.train_teacher(
            "rte",
            data_dir=glue_dir,
            backbone=make_tiny_backbone(),
            tokenizer=tokenizer,
            recipe=recipe,
            train_limit=32,
            eval_limit=8,
            save_model=False,
            verbose=0,
        )
    error = info.value
    assert error.tasks == ["rte"] and error.step >= 2
    assert re.search(
        rf"the loss of task 'rte' became (nan|inf|-inf) at global step {error.step} "
        r"\(epoch \d, batch \d\)",
        str(error),
    )
