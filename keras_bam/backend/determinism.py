"""Seeds and deterministic kernels."""

from __future__ import annotations

import os

import keras


def set_seed(seed: int):
    """Seeds Python, numpy and the backend's random generators."""
    keras.utils.set_random_seed(int(seed))


def enable_op_determinism():
    """Makes the backend's kernels deterministic, at some cost in speed.

    keras-bam's own randomness already follows the run's seed (initialization,
    dropout, data order; two processes give bit-identical runs on CPUs). What
    remains are kernels whose floating-point sums run in a scheduling-dependent
    order, mostly on GPUs (atomic additions in scatters and reductions): on
    TensorFlow this calls `tf.config.experimental.enable_op_determinism()`
    (process-wide; ops without a deterministic kernel then raise); on JAX it
    adds XLA's `--xla_gpu_deterministic_ops=true` to `XLA_FLAGS`, which XLA
    reads when the backend starts, so call it before JAX runs anything (it
    raises otherwise). JAX's CPU kernels are deterministic already.

    Example:
    ```python
    keras_bam.backend.enable_op_determinism()  # At program start.
    ```
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        return
    if keras.backend.backend() != "jax":
        raise ValueError(
            f"Op determinism is supported on TensorFlow and JAX, not on "
            f"{keras.backend.backend()!r}."
        )
    flag = "--xla_gpu_deterministic_ops=true"
    if flag in os.environ.get("XLA_FLAGS", ""):
        return
    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized():
        raise RuntimeError(
            "enable_op_determinism must be called before JAX starts its backend "
            "(XLA reads XLA_FLAGS once); call it at program start."
        )
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flag).strip()


def op_determinism() -> dict:
    """What this process guarantees about repeating a run: for a run's record.

    Returns:
        `backend`, `devices` (the accelerator kind, or `"cpu"`),
        `op_determinism` (whether `enable_op_determinism` is in force) and
        `bit_identical` (whether two processes repeat a seeded run bit for
        bit: on CPUs always, elsewhere only with op determinism).
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        from tensorflow.python.framework import config as tf_config

        # TensorFlow has no public getter for `enable_op_determinism`'s state.
        enabled = bool(tf_config.is_op_determinism_enabled())
        gpus = tf.config.list_logical_devices("GPU")
        devices = "gpu" if gpus else "cpu"
    else:
        enabled = "--xla_gpu_deterministic_ops=true" in os.environ.get("XLA_FLAGS", "")
        import jax

        devices = jax.default_backend()
    return {
        "backend": backend,
        "devices": devices,
        "op_determinism": enabled,
        "bit_identical": devices == "cpu" or enabled,
    }
