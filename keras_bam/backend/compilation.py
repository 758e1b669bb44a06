"""Compilation: traced shapes, JAX's program cache, TensorFlow's gradient registry."""

from __future__ import annotations

import contextlib
import logging
import os

import keras


def compiles_each_shape(model) -> bool:
    """Whether `model`'s steps are compiled per input shape (XLA): when it runs
    with `jit_compile`, whose default ("auto") Keras resolves to on for JAX,
    and for TensorFlow on a machine with an accelerator."""
    return bool(getattr(model, "jit_compile", False))


def bucket_step() -> int | None:
    """The padding granularity `BucketedBatches` uses by default on this backend.

    TensorFlow runs every length through one traced step (`as_fit_input` gives
    it a dynamic length), so lengths cost nothing: 1, a bucket per length (a
    batch is padded to its longest example). JAX compiles a program per shape
    (seconds each for a BERT model), so `None`: few shapes.
    """
    return 1 if keras.backend.backend() == "tensorflow" else None


def enable_compilation_cache(
    directory: str | os.PathLike, min_compile_seconds: float = 1.0
) -> bool:
    """Keeps JAX's compiled XLA programs on disk, so a later run reuses them.

    JAX compiles one program per step and batch shape, seconds to tens of
    seconds each for a BERT model (compile times in `benchmarks/README.md`);
    a filled cache skips them. A program is
    looked up by a hash of its computation, shapes, devices, XLA flags and JAX
    version, so a changed model or machine compiles anew and never reuses a
    stale program. TensorFlow traces its steps in every process and has no such
    cache: there this does nothing.

    The folder holds machine code that JAX runs, like Python's `__pycache__`:
    keep it where only you can write (whoever can write there can run code in
    your process); never share or download one.

    Args:
        directory: where the programs are kept (created if needed).
        min_compile_seconds: programs that compiled faster are not kept.

    Returns:
        Whether the cache is on (`True` on JAX).

    Example:
    ```python
    keras_bam.backend.enable_compilation_cache(".cache/xla")
    ```
    """
    if keras.backend.backend() != "jax":
        return False
    import jax

    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update(
        "jax_persistent_cache_min_compile_time_secs", float(min_compile_seconds)
    )
    # A cache JAX already opened (another folder, or none) is reopened at the next
    # compilation with these settings.
    from jax.experimental.compilation_cache import compilation_cache

    compilation_cache.reset_cache()
    return True


def build_optimizer_before_tracing(model) -> None:
    """Builds `model`'s optimizer before `fit` traces its train step, on
    TensorFlow outside a `tf.distribute` strategy (elsewhere, nothing).

    There Keras leaves the optimizer to be built inside the first trace of the
    train step, and `tf.function`, having seen variables created on its first
    call, traces the step a second time. Built first, the step is traced once:
    seconds per model, most for a student's micro-batched step. The variables
    are the same, in the same order, with the same initial values. Under a
    strategy Keras builds the optimizer before tracing, in the strategy's scope.

    Example:
    ```python
    model.compile(optimizer="adam", loss="mse")
    keras_bam.backend.build_optimizer_before_tracing(model)
    model.optimizer.built  # True on TensorFlow
    ```
    """
    optimizer = getattr(model, "optimizer", None)
    if keras.backend.backend() != "tensorflow" or optimizer is None:
        return
    if optimizer.built or not model.built:
        return
    import tensorflow as tf

    if tf.distribute.has_strategy():
        return
    if model.distribute_strategy is not tf.distribute.get_strategy():
        return  # Compiled under a strategy: Keras builds it there.
    optimizer.build(model.trainable_variables)


@contextlib.contextmanager
def released_gradient_registrations():
    """Frees, on exit, the gradient functions TensorFlow registered inside.

    On TensorFlow, each trace of Keras's train step all-reduces the gradients
    through `tf.custom_gradient`, which registers a gradient function under a
    new name in TensorFlow's global registry and never removes it; its closure
    keeps the whole traced step alive, so every `fit` of a new model leaks its
    train graph. The traced step no longer needs them (gradients are built at
    trace time), so they are removed when the block ends. TensorFlow offers no
    public call for this; on other backends, or if TensorFlow's registry
    changes form, this does nothing.

    Example:
    ```python
    with keras_bam.backend.released_gradient_registrations():
        model.fit(x, y)
    ```
    """
    registry = None
    if keras.backend.backend() == "tensorflow":
        from tensorflow.python.framework import ops as tf_ops

        registry = getattr(
            getattr(tf_ops, "_gradient_registry", None), "_registry", None
        )
    if not isinstance(registry, dict):
        yield
        return
    before = set(registry)
    try:
        yield
    finally:
        for name in [n for n in registry if n not in before]:
            if name.startswith("CustomGradient-"):
                del registry[name]


class _KerasStepRetracingFilter(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning for Keras's
    own train, test and predict steps.

    TensorFlow counts the traces of every `tf.function` made from one Python
    function together (it keys them by the function's code), and Keras makes
    each model's steps from the same code: a run of several models (teachers,
    then students), each traced once per input structure, reads to it as one
    function retraced again and again. The warning is then a false alarm; a
    user's own functions still get it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (
            "triggered tf.function retracing" in message
            and "TensorFlowTrainer.make_" in message
        )


def quiet_keras_step_retracing() -> None:
    """Installs `_KerasStepRetracingFilter` on TensorFlow's logger (once)."""
    logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _KerasStepRetracingFilter) for f in logger.filters):
        logger.addFilter(_KerasStepRetracingFilter())
