"""The training core's steps: callbacks, resumable fit, optimizer, dev scores."""

import keras
import numpy as np
import pytest

import keras_bam
from keras_bam.training import DataSettings
from keras_bam.training import evaluate_on_dev
from keras_bam.training import fit_resumably
from keras_bam.training import guarded_callbacks
from keras_bam.training import make_optimizer
from tests.conftest import encoded_train_sample
from tests.conftest import make_tiny_backbone


def test_guarded_callbacks_put_the_loss_guard_first_once():
    annealing = keras_bam.TeacherAnnealing()
    callbacks = guarded_callbacks([annealing])
    assert isinstance(callbacks[0], keras_bam.training.StopOnNonFiniteLoss)
    assert callbacks[1] is annealing
    given = keras_bam.training.StopOnNonFiniteLoss()
    assert guarded_callbacks([annealing, given]) == [annealing, given]


class RecordingBatches(keras_bam.data.RandomBatches):
    """Random batches that record the (epoch, index) of each batch read."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read = []

    def __getitem__(self, index):
        self.read.append((self.epoch, int(index)))
        return super().__getitem__(index)


def _batches(glue_dir, tokenizer):
    encoded = encoded_train_sample(glue_dir, tokenizer, ["rte"], 40)
    labels = (np.arange(40) % 2).astype("int32")
    return RecordingBatches(encoded, labels, batch_size=8, shuffle=True, seed=1)


def _model():
    model = keras_bam.SingleTaskModel(make_tiny_backbone(), "rte")
    recipe = keras_bam.FineTuningRecipe.bam_single_task()
    model.compile(
        optimizer=make_optimizer(recipe, 15, 2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def _reads_per_epoch(read):
    """Each epoch's batch indices in first-read order (a pipeline may read a
    batch twice when it builds)."""
    epochs = {}
    for epoch, index in read:
        seen = epochs.setdefault(epoch, [])
        if index not in seen:
            seen.append(index)
    return epochs


def test_fit_resumably_continues_where_the_run_stopped(glue_dir, tokenizer):
    """From (epoch 1, batch 2) the stream reads the uninterrupted run's
    batches of epoch 1 from the third on, then epoch 2; the history has one
    entry per epoch fitted."""
    model, batches = _model(), _batches(glue_dir, tokenizer)
    history = fit_resumably(model, batches, epochs=3, verbose=0)
    whole = _reads_per_epoch(batches.read)
    assert sorted(whole) == [0, 1, 2] and whole[1] == list(range(5))
    assert len(history["loss"]) == 3
    assert all(isinstance(v, float) for v in history["loss"])

    # A fresh stream; the model fits on (what it learned is no matter here: the
    # reads and the history are, and its compiled step serves again).
    batches = _batches(glue_dir, tokenizer)
    history = fit_resumably(model, batches, epochs=3, position=(1, 2), verbose=0)
    resumed = _reads_per_epoch(batches.read)
    assert resumed == {1: [2, 3, 4], 2: list(range(5))}
    assert len(history["loss"]) == 2
    # The same epoch's order: a resumed run sees the same examples.
    assert batches.epoch == 2


def test_evaluate_on_dev_scores_each_split_of_a_head(glue_dir, tokenizer):
    data = DataSettings(glue_dir, eval_limit=12)
    loader = data.loader(tokenizer, 128)
    model = keras_bam.MultiTaskModel(make_tiny_backbone(), ["rte", "stsb"])
    for name in ("rte", "stsb"):
        task = keras_bam.get_task(name)
        metrics, outputs = evaluate_on_dev(model, task, data, loader)
        assert list(metrics) == list(task.eval_split) == list(outputs)
        dev, dev_encoded = data.load_eval(loader, task, "dev")
        expected = keras_bam.evaluation.predict_outputs(model, dev_encoded)[name]
        np.testing.assert_allclose(outputs["dev"], expected, rtol=1e-5, atol=1e-6)
        assert metrics["dev"] == pytest.approx(
            keras_bam.evaluation.glue_metrics(
                task,
                dev.labels,
                keras_bam.evaluation.predictions_from_outputs(task, expected),
            )
        )
