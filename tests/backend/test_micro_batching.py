"""A student step computed in slices of its batch is the same step."""

import keras
import keras_hub
import numpy as np
import pytest

import keras_bam
from keras_bam.backend.micro_batching import batch_slice
from tests.conftest import encoded_train_sample
from tests.conftest import make_tiny_backbone


@pytest.fixture(scope="module")
def encoded(glue_dir, tokenizer):
    # A classification and a regression task, pairs of different lengths.
    return encoded_train_sample(glue_dir, tokenizer, ["mrpc", "stsb"], 30)


def _targets(n):
    rng = np.random.default_rng(0)
    task_id = np.repeat(np.arange(2, dtype=np.int32), n // 2)
    label = np.where(task_id == 0, rng.integers(0, 2, size=n), rng.random(n))
    return {
        "task_id": task_id,
        "label": label.astype(np.float32),
        "teacher": rng.normal(size=(n, 2)).astype(np.float32),
    }


def _train(encoded, micro_batches, packing, loss_reduction):
    """Three annealed Adam steps of batch 22 (the last batch smaller, so its
    slices are uneven); returns each step's logs and the final weights."""
    backbone = make_tiny_backbone()
    # Dropout off: slices draw their own masks, so only then are steps equal.
    backbone = keras_hub.models.BertBackbone.from_config(
        {**backbone.get_config(), "dropout": 0.0}
    )
    backbone.set_weights(make_tiny_backbone().get_weights())
    keras.utils.set_random_seed(5)
    model = keras_bam.MultiTaskModel(
        backbone, ["mrpc", "stsb"], dropout=0.0, loss_reduction=loss_reduction
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        metrics={"mrpc": ["accuracy"]},
        micro_batches=micro_batches,
    )
    batches = keras_bam.data.RandomBatches(
        encoded, _targets(len(encoded)), batch_size=22, seed=2, packing=packing
    )
    steps = []
    model.fit(
        keras_bam.backend.as_fit_input(batches),
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[
            keras_bam.TeacherAnnealing(),
            keras.callbacks.LambdaCallback(
                on_train_batch_end=lambda batch, logs: steps.append(dict(logs))
            ),
        ],
    )
    return steps, [np.array(w) for w in model.get_weights()]


@pytest.fixture(scope="module")
def whole_batch_run(encoded):
    """`whole_batch_run(packing, loss_reduction)`: `_train`'s whole-batch steps
    on one device, each once per module (the data-parallel test reads one)."""
    runs = {}

    def run(packing, loss_reduction):
        if (packing, loss_reduction) not in runs:
            runs[packing, loss_reduction] = _train(encoded, 1, packing, loss_reduction)
        return runs[packing, loss_reduction]

    return run


@pytest.mark.parametrize(
    "packing, loss_reduction",
    [(False, "sum"), (True, "sum"), (False, "mean")],
    ids=["padded", "packed", "mean"],
)
def test_micro_batched_steps_equal_whole_batch_steps(
    encoded, whole_batch_run, packing, loss_reduction
):
    whole_steps, whole_weights = whole_batch_run(packing, loss_reduction)
    sliced_steps, sliced_weights = _train(encoded, 3, packing, loss_reduction)
    assert len(sliced_steps) == len(whole_steps) == 3
    for whole, sliced in zip(whole_steps, sliced_steps):
        assert sliced.keys() == whole.keys()
        assert {"loss", "mrpc_loss", "stsb_loss", "gold_weight"} <= whole.keys()
        for key in whole:
            assert sliced[key] == pytest.approx(whole[key], rel=1e-5, abs=1e-6), key
    # λ advanced once per step, not once per slice.
    assert [s["gold_weight"] for s in sliced_steps] == pytest.approx([0, 1 / 3, 2 / 3])
    for a, b in zip(sliced_weights, whole_weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_batch_slices_cover_the_batch_once():
    x = {"token_ids": np.arange(7 * 2).reshape(7, 2)}
    y = {"task_id": np.arange(7 * 3)}  # A packed batch: 3 slots per row.
    slices = [batch_slice((x, y), i, 3, 7) for i in range(3)]
    rows = [np.asarray(s[0]["token_ids"]) for s in slices]
    assert [len(r) for r in rows] == [2, 2, 3]
    np.testing.assert_array_equal(np.concatenate(rows), x["token_ids"])
    slots = [np.asarray(s[1]["task_id"]) for s in slices]
    assert [len(s) for s in slots] == [6, 6, 9]
    np.testing.assert_array_equal(np.concatenate(slots), y["task_id"])


def test_micro_batches_are_saved_with_the_compiled_student(tmp_path):
    model = keras_bam.MultiTaskModel(make_tiny_backbone(), ["rte"])
    model.compile(optimizer="adam", micro_batches=4)
    path = str(tmp_path / "student.keras")
    model.save(path)
    assert keras.saving.load_model(path).micro_batches == 4
    with pytest.raises(ValueError, match="micro_batches"):
        model.compile(optimizer="adam", micro_batches=0)


def test_micro_batches_under_data_parallelism_match_one_device(
    two_device_run, whole_batch_run
):
    """Two devices, each batch split over them and each device's share in 3
    slices (computed in the two-device process of `distributed_runs`): the
    steps of one device with whole batches (this process's)."""
    result = two_device_run["result"]["micro_batching"]
    assert two_device_run["result"]["devices"] == 2
    whole_steps, whole = whole_batch_run(True, "sum")
    assert result["sliced"] == pytest.approx([s["loss"] for s in whole_steps], rel=1e-5)
    with np.load(two_device_run["dir"] / "micro_batched_weights.npz") as saved:
        sliced = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    assert len(sliced) == len(whole)
    assert max(float(np.abs(a - b).max()) for a, b in zip(whole, sliced)) < 1e-5
