"""A batch stream as a `tf.data.Dataset`, for TensorFlow's `fit` and its
distribution strategies."""

from __future__ import annotations


def to_tf_dataset(batches, first_pass_is_build: bool = False, autotune: bool = False):
    """A batch stream (`PyDataset`) as a `tf.data.Dataset` with dynamic lengths.

    Each pass over the dataset is one epoch: a pass starts by calling the
    stream's `on_epoch_begin`, as Keras does for a `PyDataset`, so the order is
    the same as when Keras iterates the stream itself.

    Args:
        batches: the stream.
        first_pass_is_build: the first pass only builds the model and does not
            start an epoch. Under a `tf.distribute` strategy, Keras's `fit`
            reads a batch from an iterator it then drops (and which prefetches
            much of the stream) before the first epoch; `as_fit_input` sets this
            there so that the first epoch still trains on the stream's order for
            `batches.epoch`.
        autotune: leave `tf.data`'s autotuning on. Off by default: the batches
            are made in Python and there is nothing for it to tune, while its
            background work delays the start of some `fit` epochs and the end
            of some `predict` calls (measured in the benchmarks).

    Returns:
        The `tf.data.Dataset`, prefetching two batches.

    Example:
    ```python
    dataset = batches.to_tf_dataset()  # TensorFlow only
    model.fit(dataset, epochs=3, shuffle=False)
    ```
    """
    import tensorflow as tf

    signature = tuple(_spec(element, tf) for element in batches[0])
    passes = [0]

    def generate():
        passes[0] += 1
        if not (first_pass_is_build and passes[0] == 1):
            batches.on_epoch_begin()
        for i in range(len(batches)):
            yield batches[i]

    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(batches)))
    options = tf.data.Options()
    options.autotune.enabled = autotune
    return dataset.prefetch(2).with_options(options)


def _spec(element, tf):
    if isinstance(element, dict):
        return {k: _spec(v, tf) for k, v in element.items()}
    shape = (None,) + tuple(None for _ in element.shape[1:])
    return tf.TensorSpec(shape=shape, dtype=tf.as_dtype(element.dtype))
