"""The one place where keras-bam does something backend-specific."""

from __future__ import annotations

import keras


def as_fit_input(batches):
    """The form of a `BucketedBatches` that `fit`/`predict` consume best.

    On TensorFlow: a `tf.data.Dataset` with a dynamic sequence length (Keras's
    `PyDataset` adapter would fix the shape it sees in the first batches). On JAX:
    the `PyDataset` itself, which needs no TensorFlow.
    """
    if keras.backend.backend() == "tensorflow":
        return batches.to_tf_dataset()
    return batches


def set_seed(seed: int):
    """Seeds Python, numpy and the backend's random generators."""
    keras.utils.set_random_seed(int(seed))
