"""SavedModel export of task models, with one serving signature per task."""

from __future__ import annotations

import os

import keras

from keras_bam.utils.keras_private import export_archive_trackable

INPUT_NAMES = ("token_ids", "segment_ids", "padding_mask")


def _serving_input_signature(model: keras.Model) -> dict:
    """Named input specs with a dynamic batch and sequence length, from
    `model.input` (the names become the serving signatures' input names)."""
    import tensorflow as tf

    return {
        name: tf.TensorSpec((None, None), model.input[name].dtype, name=name)
        for name in INPUT_NAMES
    }


def _jax2tf_kwargs(max_length: int) -> dict:
    # One symbolic batch `b` and length `s` shared by all three inputs: the length
    # stays dynamic (bucketed batches have several) and the ops that combine the
    # inputs see equal shapes. `s` is bounded by the position embeddings, which
    # the backbone slices to `s`. No gradients are exported.
    shape = "(b, s)"
    return {
        "polymorphic_shapes": [{name: shape for name in INPUT_NAMES}],
        "polymorphic_constraints": (f"s <= {int(max_length)}",),
        "with_gradient": False,
    }


def export_saved_model(
    model: keras.Model, filepath: str | os.PathLike, verbose: bool = False
) -> str:
    """Exports a task model as a TensorFlow SavedModel for serving.

    The artifact needs neither keras-bam nor Keras to run. Its endpoints take the
    encoded inputs (`token_ids`, `segment_ids`, `padding_mask`: int32, any batch
    size and sequence length) and return the heads' outputs with dropout off:
    `serve` returns all heads (a dict, task name to outputs, for a
    `MultiTaskModel`; the one head's outputs for a `SingleTaskModel`), and for a
    `MultiTaskModel` each task also has its own endpoint `serve_<task>`. Every
    endpoint is also a serving signature (for TF Serving). Classification heads
    output logits; regression heads output the score divided by the task's
    `target_scale` (STS-B: 5).

    Works on TensorFlow and on JAX (through `jax2tf`, with a symbolic batch and
    sequence length shared by the three inputs).

    Args:
        model: a `MultiTaskModel` or `SingleTaskModel`.
        filepath: the SavedModel folder to write.
        verbose: print Keras's export summary.

    Returns:
        The folder written, as a string.

    Example:
    ```python
    keras_bam.export_saved_model(student, "runs/student_savedmodel")
    reloaded = tf.saved_model.load("runs/student_savedmodel")
    rte_logits = reloaded.serve_rte(encoded.pad_batch([0, 1]))
    ```
    """
    if keras.backend.backend() not in ("tensorflow", "jax"):
        raise ValueError(
            "SavedModel export needs the TensorFlow or JAX backend, not "
            f"{keras.backend.backend()!r}."
        )
    filepath = os.fspath(filepath)
    signature = [_serving_input_signature(model)]
    kwargs = {}
    if keras.backend.backend() == "jax":
        max_length = model.backbone.max_sequence_length
        kwargs = {"is_static": False, "jax2tf_kwargs": _jax2tf_kwargs(max_length)}
    archive = keras.export.ExportArchive()
    archive.track(model)
    if keras.backend.backend() == "tensorflow":
        _share_tracked_variables(archive)

    def serve(inputs):
        return model(inputs, training=False)

    archive.add_endpoint("serve", serve, signature, **kwargs)
    if hasattr(model, "tasks"):  # A `MultiTaskModel`: an endpoint per task.
        for task in model.tasks:
            archive.add_endpoint(
                f"serve_{task.name}",
                _task_endpoint(model, task.name),
                signature,
                **kwargs,
            )
    archive.write_out(filepath, verbose=verbose)
    return filepath


def _task_endpoint(model, name):
    def serve_task(inputs):
        return model(inputs, training=False)[name]

    return serve_task


def _share_tracked_variables(archive):
    """Lists the `tf.Variable`s under the Keras variables that `track` listed.

    On TensorFlow, Keras's archive lists the model's Keras variables, which save
    a copy of their values beside the `tf.Variable`s the endpoints use, so the
    SavedModel held the weights twice (as any `model.export()` does). Listing
    the `tf.Variable`s themselves saves each once; the revived archive's
    `variables` are the same.
    """
    trackable = export_archive_trackable(archive)
    for name in ("variables", "trainable_variables", "non_trainable_variables"):
        setattr(trackable, name, [v.value for v in getattr(trackable, name)])
