"""Kernels written per backend: dense gradients, a cheap dropout mask on JAX."""

from __future__ import annotations

import keras
import numpy as np


def dense(tensor):
    """`tensor` as a dense tensor: TensorFlow's sparse gradients of embeddings
    (`tf.IndexedSlices`) are densified; anything else is returned as is."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if isinstance(tensor, tf.IndexedSlices):
            return tf.convert_to_tensor(tensor)
    return tensor


def dropout(inputs, rate: float, seed_generator, noise_shape=None):
    """Inverted dropout: a fraction `rate` of `inputs` zeroed, the rest scaled
    by `1 / (1 - rate)`, as `keras.random.dropout` does.

    On JAX the keep mask comes from XLA's `RngBitGenerator` (Threefry, keyed by
    the seed generator's next seed): one uint32 per entry compared with
    `round((1 - rate) * 2**32)`: one random draw and one comparison per entry,
    several times cheaper than `jax.random.bernoulli` (what Keras uses; timings
    in `benchmarks/README.md`). Other backends use `keras.random.dropout`
    (TensorFlow's stateless Philox is as cheap as a bit generator there).

    Args:
        inputs: the tensor.
        rate: the fraction dropped, in `[0, 1)`.
        seed_generator: a `keras.random.SeedGenerator`, advanced once per call.
        noise_shape: the mask's shape (`None` entries: the input's), as in
            `keras.layers.Dropout`.

    Returns:
        The tensor with dropout applied.
    """
    if keras.backend.backend() != "jax" or rate == 0.0:
        return keras.random.dropout(
            inputs, rate, noise_shape=noise_shape, seed=seed_generator
        )
    import jax
    import jax.numpy as jnp

    shape = tuple(inputs.shape)
    if noise_shape is not None:
        shape = tuple(s if d is None else d for s, d in zip(shape, noise_shape))
    seed = jnp.asarray(seed_generator.next(), jnp.uint32)
    key = jnp.concatenate([seed, jnp.zeros((2,), jnp.uint32)])
    _, bits = jax.lax.rng_bit_generator(
        key, shape, dtype=jnp.uint32, algorithm=jax.lax.RandomAlgorithm.RNG_THREE_FRY
    )
    keep = bits < np.uint32(min(round((1.0 - rate) * 2**32), 2**32 - 1))
    scaled = inputs / jnp.asarray(1.0 - rate, inputs.dtype)
    return jnp.where(keep, scaled, jnp.zeros((), inputs.dtype))
