"""The backends keras-bam runs on."""

from __future__ import annotations

import keras

SUPPORTED_BACKENDS = ("tensorflow", "jax")


def check_backend() -> str:
    """Raises unless Keras runs on a backend keras-bam supports.

    Returns:
        The backend's name.

    Example:
    ```python
    keras_bam.backend.check_backend()  # "tensorflow" or "jax"
    ```
    """
    backend = keras.backend.backend()
    if backend not in SUPPORTED_BACKENDS:
        raise RuntimeError(
            f"keras-bam supports the TensorFlow and JAX backends; Keras is running on "
            f"'{backend}'. Set KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax before "
            "Python imports keras."
        )
    return backend
