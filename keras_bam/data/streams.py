"""The batch-stream protocol that every keras-bam stream shares."""

from __future__ import annotations

from keras.utils import PyDataset


class BatchStream(PyDataset):
    """Base of the batch streams: batches in an order set by a seed and an epoch.

    What `fit`, `as_fit_input` and a resumed run rely on, in one place:

    - `epoch` and `set_epoch(epoch)`: an epoch's order depends on `seed` and
      `epoch` only, so a run resumed in epoch `k` calls `set_epoch(k)` and sees
      the batches of the uninterrupted run.
    - `on_epoch_begin()`: Keras calls it once per epoch; the first call keeps
      `epoch`, each later one moves to the next.
    - `padding_fraction`, `packing` (the `Packing` in use, or `None`) and
      `row_multiple` (packed row counts are multiples of it).
    - `to_tf_dataset()`: the `tf.data` view; `as_fit_input` picks each
      backend's view.

    A new sampling strategy is one subclass: `__len__`, `__getitem__`,
    `padding_fraction`, and `_order_epoch` (make `self.epoch`'s order).

    Args:
        seed: seeds the order.
        **kwargs: passed to `keras.utils.PyDataset` (`workers`, ...).

    Example:
    ```python
    class Reversed(keras_bam.data.BatchStream):
        def __init__(self, stream):
            super().__init__(stream.seed)
            self.stream = stream

        def _order_epoch(self):
            self.stream.set_epoch(self.epoch)

        def __len__(self):
            return len(self.stream)

        def __getitem__(self, index):
            return self.stream[len(self.stream) - 1 - index]

        @property
        def padding_fraction(self):
            return self.stream.padding_fraction
    ```
    """

    packing = None
    row_multiple = 1

    def __init__(self, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.seed = int(seed)
        self.epoch = 0
        self._started = False

    def _order_epoch(self):
        """Makes the order of `self.epoch`."""
        raise NotImplementedError

    def set_epoch(self, epoch: int):
        """Makes the next epoch `epoch` (for resuming a run)."""
        self.epoch = int(epoch)
        self._started = False
        self._order_epoch()

    def on_epoch_begin(self):
        """Moves to the next epoch's order, except at the first epoch."""
        if self._started:
            self.set_epoch(self.epoch + 1)
        self._started = True

    @property
    def padding_fraction(self) -> float:
        """The share of computed token positions that are padding."""
        raise NotImplementedError

    def to_tf_dataset(self, first_pass_is_build: bool = False):
        """This batch stream as a `tf.data.Dataset`; see `to_tf_dataset`."""
        return to_tf_dataset(self, first_pass_is_build)


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
            of some `predict` calls (`benchmarks/probes.py` measures it).

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
