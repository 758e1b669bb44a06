"""Packed batches give the per-example outputs, losses and gradients of padded ones."""

import keras
import keras_hub
import numpy as np
import pytest

import keras_bam
from keras_bam.models.packed_encoder import packed_attention_mask
from tests.conftest import encoded_train_sample
from tests.conftest import make_tiny_backbone


@pytest.fixture(scope="module")
def encoded(glue_dir, tokenizer):
    # Pairs (two segments) and single sentences, of very different lengths.
    return encoded_train_sample(glue_dir, tokenizer, ["mrpc", "cola"], 40)


def _targets(n, seed=0):
    rng = np.random.default_rng(seed)
    task_id = rng.integers(0, 2, size=n).astype(np.int32)
    label = np.where(task_id == 0, rng.integers(0, 2, size=n), rng.random(n))
    return {
        "task_id": task_id,
        "label": label.astype(np.float32),
        "teacher": rng.normal(size=(n, 2)).astype(np.float32),
    }


def test_packed_attention_mask_is_block_diagonal():
    position_ids = np.array([[0, 1, 2, 0, 1, 0, 0, 0]])
    padding_mask = np.array([[1, 1, 1, 1, 1, 0, 0, 0]])
    mask, example = packed_attention_mask(position_ids, padding_mask)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(example), [[1, 1, 1, 2, 2, 0, 0, 0]]
    )
    mask = keras.ops.convert_to_numpy(mask)[0]
    expected = np.zeros((8, 8), bool)
    expected[:3, :3] = True
    expected[3:5, 3:5] = True
    np.testing.assert_array_equal(mask, expected)


@pytest.mark.parametrize("real", [False, True], ids=["tiny", "minilm"])
def test_packed_outputs_equal_padded_outputs(encoded, real):
    backbone = keras_bam.load_backbone() if real else make_tiny_backbone()
    model = keras_bam.MultiTaskModel(backbone, ["mrpc", "stsb"])
    padded = keras_bam.evaluation.predict_outputs(
        model, encoded, batch_size=16, packing=False
    )
    packed = keras_bam.evaluation.predict_outputs(
        model, encoded, batch_size=16, packing=True
    )
    for task in ("mrpc", "stsb"):
        assert packed[task].shape == (len(encoded), 2 if task == "mrpc" else 1)
        np.testing.assert_allclose(packed[task], padded[task], atol=2e-5, rtol=1e-5)
    # By default prediction packs where batch shapes are compiled (JAX, XLA).
    default = keras_bam.evaluation.predict_outputs(model, encoded, batch_size=16)
    compiled = keras.backend.backend() == "jax"
    np.testing.assert_array_equal(
        default["mrpc"], (packed if compiled else padded)["mrpc"]
    )
    model.compile(jit_compile=True)
    assert keras_bam.evaluation.prediction_batches(model, encoded).packing is not None
    model.compile(jit_compile=False)
    assert keras_bam.evaluation.prediction_batches(model, encoded).packing is None
    assert (
        keras_bam.evaluation.prediction_batches(model, encoded, packing=False).packing
        is None
    )


def _step(model_fn, batch):
    """Weights after one SGD step of learning rate 1 (so the change is
    minus the gradient), and the step's logs."""
    model = model_fn()
    before = [np.array(w) for w in model.get_weights()]
    logs = model.train_on_batch(*batch, return_dict=True)
    grads = [b - np.array(a) for a, b in zip(model.get_weights(), before)]
    return grads, logs


@pytest.mark.parametrize("kind", ["multi_task", "single_task"])
def test_packed_losses_and_gradients_equal_padded_ones(encoded, kind):
    def model_fn():
        backbone = make_tiny_backbone()
        backbone = keras_hub.models.BertBackbone.from_config(
            {**backbone.get_config(), "dropout": 0.0}
        )
        backbone.set_weights(make_tiny_backbone().get_weights())
        keras.utils.set_random_seed(5)
        if kind == "multi_task":
            model = keras_bam.MultiTaskModel(
                backbone, ["mrpc", "stsb"], dropout=0.0, distillation="fixed"
            )
            model.compile(optimizer=keras.optimizers.SGD(1.0))
        else:
            model = keras_bam.SingleTaskModel(backbone, "mrpc", dropout=0.0)
            model.compile(
                optimizer=keras.optimizers.SGD(1.0),
                loss=keras.losses.SparseCategoricalCrossentropy(
                    from_logits=True, reduction="sum"
                ),
            )
        return model

    if kind == "multi_task":
        targets = _targets(len(encoded))
    else:
        targets = np.arange(len(encoded)) % 2
    kwargs = dict(batch_size=24, seed=2)
    padded = keras_bam.data.RandomBatches(encoded, targets, **kwargs)
    packed = keras_bam.data.RandomBatches(encoded, targets, packing=True, **kwargs)
    assert packed[0][0]["token_ids"].shape[0] < 24  # Really packed.
    padded_grads, padded_logs = _step(model_fn, padded[0])
    packed_grads, packed_logs = _step(model_fn, packed[0])
    assert packed_logs.keys() == padded_logs.keys()
    for key in padded_logs:
        assert packed_logs[key] == pytest.approx(padded_logs[key], rel=1e-5), key
    scale = max(np.abs(g).max() for g in padded_grads)
    for a, b in zip(packed_grads, padded_grads):
        np.testing.assert_allclose(a, b, atol=1e-5 * scale, rtol=1e-4)


def test_a_backbone_that_cannot_pack_gets_a_clear_error_or_padding(encoded):
    inputs = keras.Input((None,), dtype="int32", name="token_ids")
    other = keras.Model(inputs, keras.layers.Embedding(10, 4)(inputs))
    assert not keras_bam.models.packable(other)
    with pytest.raises(ValueError, match="Packed batches need a KerasHub BertBackbone"):
        keras_bam.models.packed_encoder.packed_pooled_output(other, {})
    assert keras_bam.models.packable(make_tiny_backbone())


def test_models_trained_packed_save_serve_and_reload_unpacked(encoded, tmp_path):
    model = keras_bam.SingleTaskModel(make_tiny_backbone(), "mrpc")
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    batches = keras_bam.data.RandomBatches(
        encoded, np.arange(len(encoded)) % 2, batch_size=16, packing=True
    )
    model.fit(
        keras_bam.backend.as_fit_input(batches), epochs=1, shuffle=False, verbose=0
    )
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    padded = encoded.pad_batch(np.arange(8))
    np.testing.assert_allclose(
        loaded.predict(padded, verbose=0), model.predict(padded, verbose=0), atol=1e-6
    )
    np.testing.assert_allclose(
        keras_bam.evaluation.predict_outputs(loaded, encoded),
        keras_bam.evaluation.predict_outputs(model, encoded, packing=False),
        atol=2e-5,
    )
