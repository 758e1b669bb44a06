import json
import shutil

import keras
import numpy as np
import pytest

import keras_bam
from tests.conftest import make_tiny_backbone


class Interrupt(Exception):
    pass


class Recorder(keras.callbacks.Callback):
    """Records λ and the loss of each step; raises `Interrupt` after `stop_after`."""

    def __init__(self, stop_after=None):
        super().__init__()
        self.stop_after = stop_after
        self.gold_weights, self.losses = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.running_mean = 0.0

    def on_train_batch_end(self, batch, logs=None):
        self.gold_weights.append(float(logs["gold_weight"]))
        # Keras logs the epoch's running mean of the loss: recover this step's.
        mean = float(logs["loss"])
        self.losses.append((batch + 1) * mean - batch * self.running_mean)
        self.running_mean = mean
        if self.stop_after and len(self.gold_weights) == self.stop_after:
            raise Interrupt()


def run_student(glue_dir, tokenizer, checkpoint_dir, recorder, epochs=2, **kwargs):
    return keras_bam.train_student(
        ["rte", "stsb"],
        data_dir=glue_dir,
        teachers="uninformative",
        weighting="proportional",  # Each example once: 10 steps per epoch.
        backbone=make_tiny_backbone(),
        tokenizer=tokenizer,
        recipe=keras_bam.FineTuningRecipe.bam_multi_task(epochs=epochs, batch_size=6),
        train_limit=20,
        eval_limit=8,
        checkpoint_dir=checkpoint_dir,
        save_every=3,
        callbacks=[recorder],
        verbose=0,
        **kwargs,
    )


def weights_of(model):
    return [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]


@pytest.fixture(scope="module")
def uninterrupted(glue_dir, tokenizer, tmp_path_factory):
    """The reference: the same run, never interrupted."""
    recorder = Recorder()
    run = run_student(glue_dir, tokenizer, tmp_path_factory.mktemp("whole"), recorder)
    return recorder, weights_of(run.model)


# Interrupted at step 7 (last checkpoint: step 6, mid-epoch) or 11 (step 10: the
# end of the first epoch). The interruption comes before the checkpoint callback.
@pytest.mark.parametrize("stop_after", [7, 11])
def test_interrupted_run_resumes_exactly(
    glue_dir, tokenizer, tmp_path, stop_after, uninterrupted
):
    whole, reference_weights = uninterrupted
    steps = len(whole.gold_weights)
    steps_per_epoch = steps // 2
    # 20 RTE + 40 STS-B (both orders) in full batches of 6: the per-step losses
    # recovered from Keras's running mean are exact.
    assert steps_per_epoch == 10

    checkpoint_dir = tmp_path / "interrupted"
    with pytest.raises(Interrupt):
        run_student(glue_dir, tokenizer, checkpoint_dir, Recorder(stop_after))
    state = json.loads((checkpoint_dir / "checkpoint.json").read_text())
    saved = max(s for s in range(stop_after) if s % 3 == 0 or s % steps_per_epoch == 0)
    assert state["step"] == state["optimizer_iterations"] == saved
    assert (state["epoch"], state["batch"]) == divmod(saved, steps_per_epoch)

    resumed_recorder = Recorder()
    resumed = run_student(glue_dir, tokenizer, checkpoint_dir, resumed_recorder)
    # The resumed run trains exactly the remaining steps, with the same λ, the
    # same batches (same losses) and ends with the same weights.
    assert len(resumed_recorder.gold_weights) == steps - saved
    np.testing.assert_allclose(
        resumed_recorder.gold_weights, whole.gold_weights[saved:], atol=1e-7
    )
    np.testing.assert_allclose(
        resumed_recorder.losses, whole.losses[saved:], rtol=1e-3, atol=1e-4
    )
    for a, b in zip(weights_of(resumed.model), reference_weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert int(keras.ops.convert_to_numpy(resumed.model.optimizer.iterations)) == steps
    assert resumed.history["gold_weight"][-1] == pytest.approx(
        (steps - 1) / steps, abs=1e-6
    )


@pytest.fixture(scope="module")
def one_epoch_checkpoint(glue_dir, tokenizer, tmp_path_factory):
    """The checkpoint folder of a finished one-epoch run (tests copy it)."""
    directory = tmp_path_factory.mktemp("one_epoch") / "checkpoint"
    run_student(glue_dir, tokenizer, directory, Recorder(), epochs=1)
    return directory


def test_refuses_a_checkpoint_of_another_run(
    glue_dir, tokenizer, tmp_path, one_epoch_checkpoint
):
    shutil.copytree(one_epoch_checkpoint, tmp_path, dirs_exist_ok=True)
    with pytest.raises(ValueError, match="different configuration .*recipe"):
        run_student(glue_dir, tokenizer, tmp_path, Recorder(), epochs=2)


def test_refuses_corrupt_weights(glue_dir, tokenizer, tmp_path, one_epoch_checkpoint):
    shutil.copytree(one_epoch_checkpoint, tmp_path, dirs_exist_ok=True)
    weights = tmp_path / "checkpoint.weights.h5"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checkpoint.weights.h5 are corrupt"):
        run_student(glue_dir, tokenizer, tmp_path, Recorder(), epochs=1)


def test_config_round_trip(tmp_path):
    checkpoint = keras_bam.training.TrainingCheckpoint(
        tmp_path, 10, 5, {"tasks": ["rte"]}
    )
    clone = keras_bam.training.TrainingCheckpoint(**checkpoint.get_config())
    assert clone.get_config() == checkpoint.get_config()
    with pytest.raises(ValueError, match="steps_per_epoch must be positive"):
        keras_bam.training.TrainingCheckpoint(tmp_path, 0)
