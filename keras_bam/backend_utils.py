"""The one place where keras-bam does something backend-specific."""

from __future__ import annotations

import keras
from keras.utils import PyDataset


class PassCountingBatches(PyDataset):
    """A batch stream for JAX's `fit` that counts epochs by complete passes.

    JAX's trainer calls a `PyDataset`'s `on_epoch_begin` and `on_epoch_end` once
    more than there are epochs (it fetches one batch to build the model first),
    so a stream that counted those calls would train epoch `k` on epoch `k + 1`'s
    order, and a resumed run would differ from an uninterrupted one. This wrapper
    moves the stream to its next epoch at an `on_epoch_begin` only when the pass
    before it fetched every batch (in any order, so Keras's own batch shuffling
    does not confuse it).

    Args:
        batches: the stream (`BucketedBatches`, `InterleavedBatches`,
            `RemainingBatches`).
    """

    def __init__(self, batches, **kwargs):
        super().__init__(**kwargs)
        self.batches = batches
        self._passes = 0
        self._fetched = set()

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int):
        self._fetched.add(int(index))
        return self.batches[index]

    def on_epoch_begin(self):
        if self._passes == 0 or len(self._fetched) >= len(self.batches):
            self.batches.on_epoch_begin()
            self._passes += 1
        self._fetched = set()

    def on_epoch_end(self):
        pass


def as_fit_input(batches):
    """The form of a batch stream that `fit`/`predict` consume best.

    On TensorFlow: a `tf.data.Dataset` with a dynamic sequence length (Keras's
    `PyDataset` adapter would fix the shape it sees in the first batches). On JAX:
    a `PyDataset` (no TensorFlow needed) that counts epochs by complete passes. On
    both, `fit`'s `k`-th epoch trains on the stream's order for epoch
    `batches.epoch + k`, so `set_epoch` before `fit` resumes a run exactly. Pass
    `shuffle=False` to `fit` (the stream shuffles, by seed and epoch); with
    Keras's default `shuffle=True` JAX also permutes the batch order.

    Example:
    ```python
    model.fit(keras_bam.as_fit_input(batches), epochs=3, shuffle=False)
    ```
    """
    if keras.backend.backend() == "tensorflow":
        return batches.to_tf_dataset()
    return PassCountingBatches(batches)


def bucket_step() -> int | None:
    """The padding granularity `BucketedBatches` uses by default on this backend.

    TensorFlow runs every length through one traced step (`as_fit_input` gives
    it a dynamic length), so lengths cost nothing: pad to multiples of 8. JAX
    compiles a program per shape (10–25 s each for MiniLM on a CPU), so `None`:
    powers of two, few shapes.
    """
    return 8 if keras.backend.backend() == "tensorflow" else None


def set_seed(seed: int):
    """Seeds Python, numpy and the backend's random generators."""
    keras.utils.set_random_seed(int(seed))


def dense(tensor):
    """`tensor` as a dense tensor: TensorFlow's sparse gradients of embeddings
    (`tf.IndexedSlices`) are densified; anything else is returned as is."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if isinstance(tensor, tf.IndexedSlices):
            return tf.convert_to_tensor(tensor)
    return tensor
