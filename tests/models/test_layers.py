import keras
import keras_hub
import numpy as np
import pytest

import keras_bam
from tests.conftest import make_tiny_backbone


def _masks(layer, shape, calls):
    ones = keras.ops.ones(shape)
    return [np.asarray(layer(ones, training=True)) != 0 for _ in range(calls)]


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_bit_generator_dropout_rate_scale_and_fresh_masks(rate):
    layer = keras_bam.models.BitGeneratorDropout(rate, seed=7)
    ones = keras.ops.ones((64, 4, 32, 32))
    first = np.asarray(layer(ones, training=True))
    second = np.asarray(layer(ones, training=True))
    n = first.size
    for out in (first, second):
        dropped = np.mean(out == 0)
        # Five binomial standard deviations.
        assert abs(dropped - rate) < 5 * np.sqrt(rate * (1 - rate) / n)
        np.testing.assert_allclose(out[out != 0], 1.0 / (1.0 - rate), rtol=1e-6)
    # Each call draws a new mask, independent of the last one.
    a, b = (first != 0).ravel(), (second != 0).ravel()
    assert abs(np.corrcoef(a, b)[0, 1]) < 5 / np.sqrt(n)
    # No dropout outside training.
    np.testing.assert_array_equal(np.asarray(layer(ones)), np.asarray(ones))


def test_bit_generator_dropout_is_reproducible_from_its_seed():
    shape = (8, 16, 24)
    first = _masks(keras_bam.models.BitGeneratorDropout(0.2, seed=3), shape, 2)
    again = _masks(keras_bam.models.BitGeneratorDropout(0.2, seed=3), shape, 2)
    other = _masks(keras_bam.models.BitGeneratorDropout(0.2, seed=4), shape, 1)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


def test_bit_generator_dropout_noise_shape_broadcasts():
    layer = keras_bam.models.BitGeneratorDropout(0.3, noise_shape=(None, 1, 16), seed=1)
    (mask,) = _masks(layer, (32, 5, 16), 1)
    assert np.all(mask == mask[:, :1, :])
    assert 0.15 < 1 - mask.mean() < 0.45


def test_bit_generator_dropout_config_round_trip():
    layer = keras_bam.models.BitGeneratorDropout(0.25, noise_shape=(None, 1), seed=9)
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(clone) is keras_bam.models.BitGeneratorDropout
    assert (clone.rate, clone.noise_shape, clone.seed) == (0.25, (None, 1), 9)


def test_use_bit_generator_dropout_switches_every_dropout_in_place():
    backbone = make_tiny_backbone()

    def dropouts():
        return [
            layer
            for layer in backbone._flatten_layers(recursive=True)
            if isinstance(layer, keras.layers.Dropout)
        ]

    before = dropouts()
    # Embeddings, and per transformer layer: attention probabilities and the
    # two sublayers' outputs.
    assert len(before) == 1 + 3 * len(backbone.transformer_layers)
    rates = [layer.rate for layer in before]
    states = [v.path for v in backbone.non_trainable_variables]
    x = {
        "token_ids": np.array([[2, 5, 6, 3, 0]], "int32"),
        "segment_ids": np.zeros((1, 5), "int32"),
        "padding_mask": np.array([[1, 1, 1, 1, 0]], "int32"),
    }
    inference = np.asarray(backbone(x)["pooled_output"])

    assert keras_bam.models.layers.use_bit_generator_dropout(backbone) is backbone
    after = dropouts()
    assert [id(layer) for layer in after] == [id(layer) for layer in before]
    assert all(type(layer) is keras_bam.models.BitGeneratorDropout for layer in after)
    assert [layer.rate for layer in after] == rates
    # The seed generators' states are the same variables (checkpoints keep them).
    assert [v.path for v in backbone.non_trainable_variables] == states
    np.testing.assert_array_equal(np.asarray(backbone(x)["pooled_output"]), inference)
    # In training the outputs change from call to call.
    a = np.asarray(backbone(x, training=True)["pooled_output"])
    b = np.asarray(backbone(x, training=True)["pooled_output"])
    assert not np.allclose(a, b)


def test_task_models_sample_dropout_with_the_bit_generator(tiny_backbone):
    model = keras_bam.SingleTaskModel(tiny_backbone, "rte")
    kinds = {
        type(layer)
        for layer in model._flatten_layers(recursive=True)
        if isinstance(layer, keras.layers.Dropout)
    }
    assert kinds == {keras_bam.models.BitGeneratorDropout}


@pytest.mark.parametrize("normalize_first", [False, True])
def test_class_token_encoder_matches_the_full_layer_at_cls(normalize_first):
    encoder = keras_hub.layers.TransformerEncoder(
        intermediate_dim=32, num_heads=2, normalize_first=normalize_first
    )
    hidden = keras.random.normal((3, 7, 16), seed=1)
    padding_mask = np.array([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5], "int32")
    full = np.asarray(encoder(hidden, padding_mask=padding_mask))
    first = keras_bam.models.ClassTokenEncoder(encoder)
    np.testing.assert_allclose(
        np.asarray(first(hidden, padding_mask=padding_mask)), full[:, 0], atol=1e-5
    )
    # Padding is masked: what the padded positions hold does not matter.
    noisy = np.asarray(hidden).copy()
    noisy[1, 4:] += 100.0
    np.testing.assert_allclose(
        np.asarray(first(noisy, padding_mask=padding_mask))[1], full[1, 0], atol=1e-5
    )
    # The wrapper holds the encoder's weights, no new ones.
    assert {id(w) for w in first.weights} == {id(w) for w in encoder.weights}
    clone = keras.layers.deserialize(keras.layers.serialize(first))
    assert type(clone.layer) is keras_hub.layers.TransformerEncoder
    assert clone.layer.normalize_first == normalize_first


def test_task_head_initializes_as_bams_dense_layer():
    """BAM's heads are `tf.layers.dense` with the default initializer: Glorot
    uniform kernel, zero bias (not BERT's truncated normal 0.02)."""
    keras.utils.set_random_seed(0)
    head = keras_bam.models.TaskHead(num_outputs=3)
    head.build((None, 384))
    assert isinstance(head.kernel_initializer, keras.initializers.GlorotUniform)
    kernel = keras.ops.convert_to_numpy(head._dense.kernel)
    limit = np.sqrt(6.0 / (384 + 3))
    assert np.abs(kernel).max() <= limit
    assert kernel.std() == pytest.approx(limit / np.sqrt(3), rel=0.1)
    assert not keras.ops.convert_to_numpy(head._dense.bias).any()
    bert_style = keras_bam.models.TaskHead(3, kernel_initializer="truncated_normal_002")
    bert_style.build((None, 384))
    assert keras.ops.convert_to_numpy(bert_style._dense.kernel).std() < 0.025
    clone = keras_bam.models.TaskHead.from_config(head.get_config())
    assert isinstance(clone.kernel_initializer, keras.initializers.GlorotUniform)
