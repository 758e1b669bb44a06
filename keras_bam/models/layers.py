"""Task heads."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_bam.backend import kernels
from keras_bam.utils.keras_private import all_layers
from keras_bam.utils.keras_private import encoder_sublayers


@keras.saving.register_keras_serializable(package="keras_bam")
class BitGeneratorDropout(keras.layers.Dropout):
    """`keras.layers.Dropout` with its mask drawn by `kernels.dropout`.

    Same rate, noise shape, seed generator and config as Keras's layer; on JAX
    the mask comes from XLA's bit generator, which draws one uint32 per entry
    instead of `jax.random.bernoulli`'s several operations (measurements in
    `benchmarks/README.md`). On TensorFlow it is Keras's dropout.

    Args:
        rate: the fraction of entries dropped.
        noise_shape: the mask's shape, as in `keras.layers.Dropout`.
        seed: an integer seed.
        **kwargs: standard layer arguments (`name`, ...).

    Example:
    ```python
    layer = keras_bam.models.BitGeneratorDropout(0.1, seed=1)
    outputs = layer(keras.ops.ones((2, 8)), training=True)
    ```
    """

    def call(self, inputs, training=False):
        if training and self.rate > 0:
            return kernels.dropout(
                inputs, self.rate, self.seed_generator, self.noise_shape
            )
        return inputs


def use_bit_generator_dropout(model: keras.layers.Layer) -> keras.layers.Layer:
    """Makes every `keras.layers.Dropout` inside `model` a `BitGeneratorDropout`.

    KerasHub builds its dropout layers inside its backbones (embeddings,
    attention probabilities, each transformer sublayer); this switches them in
    place. Their rates, seed generators (and states) and configs are unchanged;
    only how the mask is sampled differs, and only on JAX.

    Args:
        model: a layer or model, changed in place.

    Returns:
        `model`.

    Example:
    ```python
    from keras_bam.models.layers import use_bit_generator_dropout

    backbone = use_bit_generator_dropout(keras_bam.load_backbone())
    ```
    """
    for layer in all_layers(model):
        if type(layer) is keras.layers.Dropout:
            layer.__class__ = BitGeneratorDropout
    # Functions traced before the change would keep the old sampling.
    if isinstance(model, keras.Model):
        model.train_function = None
        model.test_function = None
        model.predict_function = None
    return model


def uses_bit_generator_dropout(model: keras.layers.Layer) -> bool:
    """Whether no plain `keras.layers.Dropout` is left inside `model`: whether
    `use_bit_generator_dropout` would leave it as it is.

    Example:
    ```python
    from keras_bam.models.layers import uses_bit_generator_dropout

    uses_bit_generator_dropout(keras_bam.load_backbone())  # True
    ```
    """
    return not any(type(layer) is keras.layers.Dropout for layer in all_layers(model))


def reseed_dropout(model: keras.layers.Layer, seed: int) -> keras.layers.Layer:
    """Sets the state of every dropout seed generator in `model` from `seed`.

    A Keras dropout layer draws its seed when it is built, from whatever state
    the global generator had then: a backbone built before a run seeds itself
    (by the caller, or by `run_glue` before `train_teacher`) would give the run
    dropout masks its seed does not decide. This gives the generators, in layer
    order, states drawn from `seed` alone.

    Args:
        model: a layer or model, changed in place.
        seed: the run's seed.

    Returns:
        `model`.

    Example:
    ```python
    from keras_bam.models.layers import reseed_dropout

    backbone = reseed_dropout(keras_bam.load_backbone(), seed=3)
    ```
    """
    layers = all_layers(model)
    generators = [
        layer.seed_generator
        for layer in layers
        if isinstance(
            getattr(layer, "seed_generator", None), keras.random.SeedGenerator
        )
    ]
    seeds = np.random.default_rng([int(seed), 0x5EED]).integers(
        0, 2**31 - 1, size=len(generators)
    )
    for generator, value in zip(generators, seeds):
        generator.state.assign(
            ops.cast(ops.convert_to_tensor([int(value), 0]), generator.state.dtype)
        )
    return model


@keras.saving.register_keras_serializable(package="keras_bam")
class TaskHead(keras.layers.Layer):
    """BAM's task head: dropout on the pooled output, then a dense layer.

    The head computes in float32 whatever the model's precision policy, so
    logits and losses stay accurate under mixed precision.

    Args:
        num_outputs: classes for classification, 1 for regression.
        dropout: dropout rate on the pooled output.
        kernel_initializer: initializer of the dense kernel: Glorot uniform
            by default, as in BAM (its heads are `tf.layers.dense` with the
            default initializer); `"truncated_normal_002"` is the truncated
            normal with stddev 0.02 that Google's BERT fine-tuning code uses.
        **kwargs: standard layer arguments (`name`, ...).

    Example:
    ```python
    head = keras_bam.models.TaskHead(num_outputs=3)
    logits = head(keras.random.normal((2, 384)))
    ```
    """

    def __init__(
        self,
        num_outputs: int,
        dropout: float = 0.1,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.num_outputs = int(num_outputs)
        self.dropout = float(dropout)
        if kernel_initializer == "truncated_normal_002":
            kernel_initializer = keras.initializers.TruncatedNormal(stddev=0.02)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self._dropout = BitGeneratorDropout(self.dropout, dtype=self.dtype_policy)
        self._dense = keras.layers.Dense(
            self.num_outputs,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="dense",
        )

    def build(self, input_shape):
        self._dense.build(input_shape)
        self.built = True

    def call(self, pooled, training=None):
        pooled = keras.ops.cast(pooled, self.compute_dtype)
        return self._dense(self._dropout(pooled, training=training))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.num_outputs,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_outputs": self.num_outputs,
                "dropout": self.dropout,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_bam")
class ClassTokenEncoder(keras.layers.Wrapper):
    """A KerasHub `TransformerEncoder` computed for the `[CLS]` position only.

    BERT's pooled output reads the last layer at position 0 alone, yet the
    backbone computes that layer for every position. This runs the same layer
    (its own sublayers and weights) with the first position as the only
    attention query: the attention reads every position's keys and values, and
    the attention output, feed-forward block and layer norms run on one
    position instead of all. The result is the layer's output at position 0, up
    to float rounding; on MiniLM it skips 10 of the 72 `d^2` matrix-multiply
    FLOPs per token (14% of a forward and backward pass).

    Args:
        layer: the `keras_hub.layers.TransformerEncoder` to compute.
        **kwargs: standard layer arguments (`name`, ...); the dtype policy is
            the layer's unless given.

    Returns (when called):
        `(batch, hidden)`: the layer's output at the first position, from
        `hidden` of shape `(batch, length, hidden)` and an optional
        `padding_mask` of shape `(batch, length)`.

    Example:
    ```python
    encoder = keras_hub.layers.TransformerEncoder(intermediate_dim=32, num_heads=2)
    hidden = keras.random.normal((2, 5, 16))
    # The same as encoder(hidden)[:, 0]:
    first = keras_bam.models.ClassTokenEncoder(encoder)(hidden)
    ```
    """

    def __init__(self, layer, **kwargs):
        # Compute in the wrapped layer's precision (its residuals mix with it).
        kwargs.setdefault("dtype", layer.dtype_policy)
        super().__init__(layer, **kwargs)

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        self.built = True

    def call(self, hidden, padding_mask=None, training=None):
        mask = None
        if padding_mask is not None:
            # KerasHub's padding mask broadcast over the one query.
            mask = ops.cast(ops.expand_dims(padding_mask, axis=1), "int32")
        first = encode_queries(self.layer, hidden[:, :1, :], hidden, mask, training)
        return first[:, 0, :]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


def encode_queries(encoder, queries, hidden, attention_mask=None, training=None):
    """A KerasHub `TransformerEncoder`'s output at some positions only.

    The attention of `queries` (the layer's inputs at the chosen positions)
    reads every position of `hidden` (the layer's whole input); the attention
    output, feed-forward block and layer norms run on the queries alone. Equal,
    up to float rounding, to the layer's output at those positions.

    Args:
        encoder: the `keras_hub.layers.TransformerEncoder`.
        queries: `(batch, queries, hidden)`, the layer's inputs at the positions.
        hidden: `(batch, length, hidden)`, the layer's inputs.
        attention_mask: `(batch, queries, length)`, which positions each query
            may attend to (all by default).
        training: whether dropout is on.

    Returns:
        `(batch, queries, hidden)`.
    """
    parts = encoder_sublayers(encoder)
    residual = queries
    if encoder.normalize_first:
        hidden = parts.attention_norm(hidden)
        queries = parts.attention_norm(queries)
    x = parts.attention(
        query=queries, value=hidden, attention_mask=attention_mask, training=training
    )
    x = parts.attention_dropout(x, training=training)
    x = x + residual
    if not encoder.normalize_first:
        x = parts.attention_norm(x)
    residual = x
    if encoder.normalize_first:
        x = parts.feedforward_norm(x)
    x = parts.intermediate(x)
    x = parts.output(x)
    x = parts.feedforward_dropout(x, training=training)
    x = x + residual
    if not encoder.normalize_first:
        x = parts.feedforward_norm(x)
    return x


@keras.saving.register_keras_serializable(package="keras_bam")
class FirstToken(keras.layers.Layer):
    """The first position of a `(batch, length, hidden)` sequence: the `[CLS]`
    (or `<s>`) state that encoders without a pooler are classified from.

    Example:
    ```python
    first = keras_bam.models.layers.FirstToken()(backbone.output)  # (batch, hidden)
    ```
    """

    def call(self, inputs):
        return inputs[:, 0, :]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])
