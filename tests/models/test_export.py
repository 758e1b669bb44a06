import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_bam
from tests.conftest import make_tiny_backbone


def batch(rng, size, length):
    mask = np.ones((size, length), "int32")
    mask[0, length // 2 :] = 0  # One padded example.
    return {
        "token_ids": (rng.integers(1, 30522, (size, length)) * mask).astype("int32"),
        "segment_ids": np.zeros((size, length), "int32"),
        "padding_mask": mask,
    }


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A three-task student, exported once and reloaded with plain TensorFlow:
    `(model, path, reloaded)`."""
    model = keras_bam.MultiTaskModel(make_tiny_backbone(), ["rte", "stsb", "mnli"])
    path = keras_bam.export_saved_model(
        model, tmp_path_factory.mktemp("export") / "student"
    )
    return model, path, tf.saved_model.load(path)


def test_multitask_export_round_trip(rng, exported):
    """Reloaded with plain TensorFlow, every endpoint matches the model at several
    batch sizes and sequence lengths (the length stays dynamic on JAX too)."""
    model, _, reloaded = exported
    assert {"serve", "serve_rte", "serve_stsb", "serve_mnli"} <= set(
        reloaded.signatures
    )
    for size, length in [(2, 16), (3, 37), (1, 128)]:
        inputs = batch(rng, size, length)
        expected = model.predict(inputs, verbose=0)
        served = reloaded.serve(inputs)
        for task, width in [("rte", 2), ("stsb", 1), ("mnli", 3)]:
            assert served[task].shape == (size, width)
            np.testing.assert_allclose(served[task], expected[task], atol=1e-5)
            np.testing.assert_allclose(
                getattr(reloaded, f"serve_{task}")(inputs), expected[task], atol=1e-5
            )
    # The TF Serving signature takes named inputs.
    signature = reloaded.signatures["serve_rte"]
    inputs = batch(rng, 2, 20)
    outputs = signature(**{k: tf.constant(v) for k, v in inputs.items()})
    (logits,) = outputs.values()
    np.testing.assert_allclose(
        logits, model.predict(inputs, verbose=0)["rte"], atol=1e-5
    )


def test_single_task_export_through_keras_export(rng, tmp_path):
    """Keras's own `model.export` (which failed on a task model: its length
    could not be bounded under JAX) exports as `export_saved_model` does."""
    model = keras_bam.SingleTaskModel(make_tiny_backbone(), "cola")
    model.export(tmp_path / "teacher", verbose=False)
    reloaded = tf.saved_model.load(str(tmp_path / "teacher"))
    inputs = batch(rng, 4, 24)
    np.testing.assert_allclose(
        reloaded.serve(inputs), model.predict(inputs, verbose=0), atol=1e-5
    )


def test_keras_round_trip_after_training(rng, tmp_path):
    """A trained student's `.keras` file gives identical predictions (safe mode)."""
    model = keras_bam.MultiTaskModel(
        make_tiny_backbone(), ["rte", "stsb"], distillation="gold"
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    inputs = batch(rng, 8, 12)
    targets = {
        "task_id": np.arange(8) % 2,
        "label": np.where(np.arange(8) % 2, 0.4, 1.0).astype("float32"),
        "teacher": np.zeros((8, 2), "float32"),
    }
    model.fit(inputs, targets, epochs=2, batch_size=4, verbose=0)
    path = str(tmp_path / "student.keras")
    model.save(path)
    clone = keras.saving.load_model(path, safe_mode=True)
    assert clone.get_config() == model.get_config()
    expected = model.predict(inputs, verbose=0)
    for task, values in clone.predict(inputs, verbose=0).items():
        np.testing.assert_array_equal(values, expected[task])


def test_refuses_other_backends(monkeypatch, tmp_path):
    model = keras_bam.SingleTaskModel(make_tiny_backbone(), "rte")
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    with pytest.raises(ValueError, match="needs the TensorFlow or JAX backend"):
        keras_bam.export_saved_model(model, tmp_path / "x")


def test_weights_are_stored_once_as_variables(exported):
    """Whatever the number of endpoints, the SavedModel holds the weights once, as
    variables (not as constants in each endpoint's graph), on both backends; the
    revived archive still lists its variables."""
    import os

    model, path, reloaded = exported
    weights = sum(np.asarray(w).nbytes for w in model.get_weights())
    data = os.path.getsize(
        os.path.join(path, "variables", "variables.data-00000-of-00001")
    )
    graph = os.path.getsize(os.path.join(path, "saved_model.pb"))
    assert weights <= data <= 1.02 * weights + 16384, (data, weights)
    # Four endpoints with the weights as constants would make the graph 4x them.
    assert graph < 0.5 * weights, (graph, weights)
    stored = sum(int(np.prod(v.shape)) * v.dtype.size for v in reloaded.variables)
    assert stored == pytest.approx(weights, rel=1e-3)
