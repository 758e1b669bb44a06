import keras
import numpy as np
import pytest

import keras_bam


def batch(rng, n=4, length=12):
    return {
        "token_ids": rng.integers(1, 30522, (n, length)).astype("int32"),
        "segment_ids": np.zeros((n, length), "int32"),
        "padding_mask": np.ones((n, length), "int32"),
    }


@pytest.mark.parametrize("task, width", [("rte", 2), ("mnli", 3), ("stsb", 1)])
def test_output_width(tiny_backbone, rng, task, width):
    model = keras_bam.SingleTaskModel(tiny_backbone, task)
    assert model.predict(batch(rng), verbose=0).shape == (4, width)


def test_keras_round_trip(tiny_backbone, rng, tmp_path):
    model = keras_bam.SingleTaskModel(
        tiny_backbone, "mrpc", dropout=0.2, exact_gelu=True
    )
    x = batch(rng)
    path = str(tmp_path / "teacher.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, keras_bam.SingleTaskModel)
    assert loaded.task.name == "mrpc" and loaded.dropout == 0.2 and loaded.exact_gelu
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6
    )


def test_exact_gelu_is_kept_on_reload(tiny_backbone, rng, tmp_path):
    """A reloaded model keeps the GELU it was saved with, so outputs are identical."""
    x = batch(rng)
    for exact in (True, False):
        model = keras_bam.SingleTaskModel(tiny_backbone, "rte", exact_gelu=exact)
        path = str(tmp_path / f"m{exact}.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
        np.testing.assert_allclose(
            loaded.predict(x, verbose=0),
            model.predict(x, verbose=0),
            rtol=1e-6,
            atol=1e-6,
        )


def test_task_head_config():
    head = keras_bam.TaskHead(3, dropout=0.3, name="h")
    clone = keras_bam.TaskHead.from_config(head.get_config())
    assert clone.num_outputs == 3 and clone.dropout == 0.3
    assert clone(np.zeros((2, 8), "float32")).dtype == "float32"
