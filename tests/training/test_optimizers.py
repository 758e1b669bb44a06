import keras
import numpy as np
import pytest

import keras_bam
from tests.conftest import make_tiny_backbone


def test_layerwise_factors_cover_the_backbone():
    backbone = make_tiny_backbone(num_layers=3)
    optimizer = keras_bam.training.AdamWeightDecay(
        lr_multipliers=keras_bam.training.bert_layerwise_lr_multipliers(3, 0.9)
    )
    factors = {v.path: optimizer.lr_multiplier(v) for v in backbone.trainable_variables}
    for path, factor in factors.items():
        if "transformer_layer_" in path:
            i = int(path.split("transformer_layer_")[1].split("/")[0])
            assert factor == pytest.approx(0.9 ** (3 + 1 - i)), path
        elif "pooled_dense" in path:
            assert factor == pytest.approx(0.9), path
        else:
            assert factor == pytest.approx(0.9 ** (3 + 2)), path
    model = keras_bam.SingleTaskModel(backbone, "rte")
    head = [v for v in model.trainable_variables if "rte_head" in v.path]
    assert head and all(optimizer.lr_multiplier(v) == 1.0 for v in head)


def test_weight_decay_skips_layer_norm_and_bias():
    backbone = make_tiny_backbone()
    optimizer = keras_bam.training.AdamWeightDecay(weight_decay=0.01)
    decayed = {
        v.path for v in backbone.trainable_variables if optimizer.uses_weight_decay(v)
    }
    assert any(p.endswith("kernel") for p in decayed)
    assert any("embedding" in p for p in decayed)
    assert not any(p.endswith("bias") or "layer_norm" in p for p in decayed)


def reference_update(w, g, m, v, lr, factor, decay, bias_correction, step=1):
    """BAM's AdamWeightDecayOptimizer (optionally with bias correction), numpy."""
    m = 0.9 * m + 0.1 * g
    v = 0.999 * v + 0.001 * g * g
    m_hat, v_hat = m, v
    if bias_correction:
        m_hat, v_hat = m / (1 - 0.9**step), v / (1 - 0.999**step)
    update = m_hat / (np.sqrt(v_hat) + 1e-6) + decay * w
    return w - factor * lr * update, m, v


@pytest.mark.parametrize("bias_correction", [False, True])
def test_update_matches_bam_and_factor_scales_the_update(bias_correction):
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(4, 3)).astype("float32")
    grads = [rng.normal(size=(4, 3)).astype("float32") for _ in range(3)]
    results = {}
    for factor in (1.0, 0.5):
        layer = keras.layers.Dense(3, use_bias=False, name="dense_under_test")
        layer.build((None, 4))
        layer.kernel.assign(w0)
        optimizer = keras_bam.training.AdamWeightDecay(
            learning_rate=1e-2,
            weight_decay=0.1,
            bias_correction=bias_correction,
            lr_multipliers=[("dense_under_test", factor)],
        )
        w, m, v = w0.copy(), np.zeros_like(w0), np.zeros_like(w0)
        for step, g in enumerate(grads, start=1):
            optimizer.apply_gradients([(keras.ops.convert_to_tensor(g), layer.kernel)])
            w, m, v = reference_update(
                w, g, m, v, 1e-2, factor, 0.1, bias_correction, step
            )
            if step == 1:
                results[factor] = keras.ops.convert_to_numpy(layer.kernel) - w0
        got = keras.ops.convert_to_numpy(layer.kernel)
        np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-6)
    # The factor scales the update; a scaled gradient would be cancelled by Adam.
    np.testing.assert_allclose(results[0.5], 0.5 * results[1.0], rtol=1e-4, atol=1e-6)


def test_config_round_trip():
    optimizer = keras_bam.training.AdamWeightDecay(
        learning_rate=keras_bam.training.WarmupLinearDecay(5e-5, 100, 10),
        lr_multipliers=keras_bam.training.bert_layerwise_lr_multipliers(2, 0.9),
        global_clipnorm=1.0,
        bias_correction=True,
    )
    config = keras.optimizers.serialize(optimizer)
    clone = keras.optimizers.deserialize(config)
    assert isinstance(clone, keras_bam.training.AdamWeightDecay)
    assert clone.lr_multipliers == optimizer.lr_multipliers
    assert clone.global_clipnorm == 1.0 and clone.bias_correction
    assert clone.decay_rate == 0.01 and clone.epsilon == 1e-6


def test_factors_hold_inside_compiled_fit(rng):
    """Inside `fit` (tf.function on TensorFlow, stateless apply on JAX), a factor of 0
    freezes its variables, decay included, while the rest train."""
    backbone = make_tiny_backbone()
    model = keras_bam.SingleTaskModel(backbone, "rte")
    model.compile(
        optimizer=keras_bam.training.AdamWeightDecay(
            learning_rate=1e-2,
            weight_decay=0.1,
            lr_multipliers=[("transformer_layer_0/", 0.0)],
            global_clipnorm=1.0,
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    before = {v.path: keras.ops.convert_to_numpy(v) for v in model.trainable_variables}
    x = {
        "token_ids": rng.integers(1, 30522, (8, 10)).astype("int32"),
        "segment_ids": np.zeros((8, 10), "int32"),
        "padding_mask": np.ones((8, 10), "int32"),
    }
    model.fit(x, rng.integers(0, 2, 8), batch_size=4, epochs=2, verbose=0)
    for v in model.trainable_variables:
        changed = not np.array_equal(before[v.path], keras.ops.convert_to_numpy(v))
        assert changed == ("transformer_layer_0/" not in v.path), v.path


def test_trains_without_clipping(rng):
    """Without gradient clipping TensorFlow hands the embeddings sparse gradients
    (IndexedSlices); the update must take them, and match a dense gradient."""
    model = keras_bam.SingleTaskModel(make_tiny_backbone(), "rte")
    model.compile(
        optimizer=keras_bam.training.AdamWeightDecay(
            learning_rate=1e-2, weight_decay=0.1
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    embeddings = model.backbone.token_embedding.embeddings
    before = keras.ops.convert_to_numpy(embeddings).copy()
    x = {
        "token_ids": rng.integers(1, 50, (8, 10)).astype("int32"),
        "segment_ids": np.zeros((8, 10), "int32"),
        "padding_mask": np.ones((8, 10), "int32"),
    }
    history = model.fit(x, rng.integers(0, 2, 8), batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    after = keras.ops.convert_to_numpy(embeddings)
    changed = np.flatnonzero(np.any(after != before, axis=1))
    # Only the rows of the tokens seen move, weight decay aside (AdamW decays all
    # rows; BAM's decoupled decay applies to every embedding row).
    assert set(np.unique(x["token_ids"])) <= set(changed)


def test_clipping_uses_the_norm_of_the_summed_gradient():
    """A token seen twice gives TensorFlow's embedding two sparse gradient rows;
    the clipping norm is that of their sum (the dense gradient), as on JAX and
    under `tf.distribute`, not of the rows apart."""
    embeddings = keras.Variable(np.zeros((4, 2), "float32"), name="embeddings")
    optimizer = keras_bam.training.AdamWeightDecay(
        learning_rate=1.0, global_clipnorm=1.0
    )
    optimizer.build([embeddings])
    rows = np.array([[3.0, 0.0], [3.0, 0.0]], "float32")
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        gradient = tf.IndexedSlices(
            tf.constant(rows), tf.constant([1, 1]), tf.constant([4, 2])
        )
    else:
        gradient = np.zeros((4, 2), "float32")
        gradient[1] = rows.sum(axis=0)
    optimizer.apply([gradient], [embeddings])
    # The summed gradient (6, 0) clipped to norm 1 is (1, 0); the momentum is
    # (1 - beta_1) times it. With the rows' norm, 18 ** 0.5, it would be 0.141.
    momentum = keras.ops.convert_to_numpy(optimizer._momentums[0])
    np.testing.assert_allclose(momentum[1], [0.1, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(momentum[[0, 2, 3]], 0.0)


def test_layerwise_decay_refuses_variables_it_cannot_place():
    """BAM's optimizer raises for a variable no layer rule names, rather than
    train it at the full rate."""
    rules = keras_bam.training.bert_layerwise_lr_multipliers(2, 0.9)
    model = keras_bam.SingleTaskModel(make_tiny_backbone(), "rte")
    keras_bam.training.check_lr_multipliers(
        rules, model.trainable_variables
    )  # All placed.
    stranger = keras.layers.Dense(2, name="adapter")
    stranger.build((None, 4))
    # The message names the families whose layer names it knows (not ALBERT).
    with pytest.raises(
        ValueError,
        match=r"no layer for 2 variable\(s\).*adapter.*BertBackbone, "
        r"RobertaBackbone, XLMRobertaBackbone, .*DebertaV3Backbone \(",
    ):
        keras_bam.training.check_lr_multipliers(
            rules, model.trainable_variables + stranger.trainable_variables
        )
    from keras_bam.training import make_optimizer

    recipe = keras_bam.FineTuningRecipe()
    with pytest.raises(ValueError, match="adapter/kernel"):
        make_optimizer(recipe, 10, 2, stranger.trainable_variables)
    # With layer-wise decay off every variable trains at the full rate.
    make_optimizer(
        keras_bam.FineTuningRecipe(layerwise_decay=1.0),
        10,
        2,
        stranger.trainable_variables,
    )
