"""A student's training step computed in slices of its batch (micro-batches).

A step's gradient is the sum of its examples' gradients (BAM sums the loss
over the batch), so it can be computed one slice of the batch at a time and
added up: the same step (the same examples, λ advancing once, one optimizer
update, the same logs) with the activations of one slice alive at a time.
Keras's own accumulation (`gradient_accumulation_steps`) counts every slice
as a step of `fit`, its schedules and callbacks, and averages; this keeps a
step a step. Each backend differentiates differently, hence one step per
backend here.
"""

from __future__ import annotations

import keras
from keras import ops

from keras_bam.utils.keras_private import loss_tracker
from keras_bam.utils.keras_private import unscale_loss_for_distribution
from keras_bam.utils.keras_private import update_metrics_variables
from keras_bam.utils.targets import TASK_ID


def _rows(x):
    return ops.shape(next(t for t in keras.tree.flatten(x) if t is not None))[0]


def batch_slice(data, index: int, count: int, rows):
    """Slice `index` of `count` of a batch (arrays, nested) of `rows` rows:
    each array's leading axis cut at the same fractions (a packed batch's
    targets have several slots per row), the slices as even as the rows
    allow."""
    start, stop = (index * rows) // count, ((index + 1) * rows) // count

    def cut(t):
        per_row = ops.shape(t)[0] // rows
        return t[start * per_row : stop * per_row]

    return keras.tree.map_structure(cut, data)


def _add_sums(total, sums):
    return sums if total is None else [a + b for a, b in zip(total, sums)]


def _concatenate(predictions: list):
    return keras.tree.map_structure(
        lambda *parts: ops.concatenate(parts, axis=0), *predictions
    )


def _add_tensorflow_gradients(total, gradients):
    if total is None:
        return list(gradients)
    return [_add(a, b) for a, b in zip(total, gradients)]


def _add(a, b):
    if a is None or b is None:
        return b if a is None else a
    import tensorflow as tf

    if isinstance(a, tf.IndexedSlices) and isinstance(b, tf.IndexedSlices):
        # As TensorFlow aggregates a variable's gradients from several uses:
        # the embedding rows of every slice, in order.
        return tf.IndexedSlices(
            tf.concat([a.values, b.values], axis=0),
            tf.concat([a.indices, b.indices], axis=0),
            a.dense_shape,
        )
    return tf.convert_to_tensor(a) + tf.convert_to_tensor(b)


def _tensorflow_train_step(model, data, count: int):
    import tensorflow as tf

    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    rows = _rows(x)
    gold_weight = model.step_gold_weight(True)
    examples = model.step_examples(y)
    weights = model.trainable_weights
    gradients, task_sums, predictions = None, None, []
    for index in range(count):
        xs, ys = batch_slice((x, y), index, count, rows)
        if gradients is not None:
            # A slice starts once the last one's gradients exist: else the
            # executor may run every slice's forward pass first, all alive.
            done = tf.nest.flatten(gradients, expand_composites=True)
            with tf.control_dependencies([g for g in done if g is not None]):
                xs = tf.nest.map_structure(tf.identity, xs)
        with tf.GradientTape() as tape:
            y_pred = model(xs, training=True)
            sums = model.task_loss_sums(ys, y_pred, gold_weight)
            loss = model.reduce_step_loss(sums, examples)
            if model.optimizer is not None:
                loss = model.optimizer.scale_loss(loss)
        gradients = _add_tensorflow_gradients(gradients, tape.gradient(loss, weights))
        task_sums = _add_sums(task_sums, sums)
        predictions.append(y_pred)
    model.optimizer.apply_gradients(zip(gradients, weights))
    loss = model.record_step_loss(task_sums, examples, gold_weight, True)
    loss_tracker(model).update_state(
        unscale_loss_for_distribution(loss), sample_weight=rows
    )
    return model.compute_metrics(x, y, _concatenate(predictions), sample_weight)


def _stacked_slices(t, rows: int, count: int, fill=None):
    """`t` (a leading axis of `rows` × k entries) as `count` stacked slices:
    slice `i` holds rows `i`, `i + count`, ... (so each device's share of a
    batch-sharded array stays on it); rows are padded to a multiple of
    `count` with `fill`, or copies of row 0."""
    import jax.numpy as jnp

    size = -(-rows // count)
    per_row = t.shape[0] // rows
    t = t.reshape((rows, per_row) + t.shape[1:])
    extra = size * count - rows
    if extra:
        pad = jnp.repeat(t[:1], extra, axis=0)
        if fill is not None:
            pad = jnp.full_like(pad, fill)
        t = jnp.concatenate([t, pad])
    t = jnp.swapaxes(t.reshape((size, count) + t.shape[1:]), 0, 1)
    return t.reshape((count, size * per_row) + t.shape[3:])


def _stacked_batch(x, y, rows: int, count: int):
    """A batch's inputs and targets as `count` stacked slices; rows that pad
    the batch to a multiple of `count` have no task (-1)."""
    import jax

    inputs = jax.tree.map(lambda t: _stacked_slices(t, rows, count), x)
    targets = {
        key: _stacked_slices(t, rows, count, -1 if key == TASK_ID else None)
        for key, t in y.items()
    }
    return inputs, targets


def _unstacked(t, rows: int, count: int):
    """The batch's rows from `count` stacked slices' outputs (the inverse of
    `_stacked_slices`), padding dropped."""
    import jax.numpy as jnp

    size = -(-rows // count)
    per_row = t.shape[1] // size
    t = jnp.swapaxes(t.reshape((count, size, per_row) + t.shape[2:]), 0, 1)
    return t.reshape((size * count * per_row,) + t.shape[3:])[: rows * per_row]


def _jax_train_step(model, state, data, count: int):
    import jax
    import jax.numpy as jnp

    trainable, non_trainable, optimizer_variables, metrics_variables = state
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    rows = _rows(x)
    # λ once per step: advancing the annealing step (a non-trainable variable).
    with keras.StatelessScope(
        state_mapping=list(zip(model.non_trainable_variables, non_trainable))
    ) as scope:
        gold_weight = model.step_gold_weight(True)
        examples = model.step_examples(y)
    non_trainable = [
        _current(scope, ref, value)
        for ref, value in zip(model.non_trainable_variables, non_trainable)
    ]

    def slice_loss(trainable, non_trainable, xs, ys):
        y_pred, non_trainable = model.stateless_call(
            trainable, non_trainable, xs, training=True
        )
        sums = model.task_loss_sums(ys, y_pred, gold_weight)
        loss = model.reduce_step_loss(sums, examples)
        if model.optimizer is not None:
            mapping = list(zip(model.optimizer.variables, optimizer_variables))
            with keras.StatelessScope(state_mapping=mapping):
                loss = model.optimizer.scale_loss(loss)
        return loss, (sums, y_pred, non_trainable)

    grad_fn = jax.value_and_grad(slice_loss, has_aux=True)

    def one_slice(carry, batch):
        gradients, non_trainable, task_sums = carry
        (_, (sums, y_pred, non_trainable)), grads = grad_fn(
            trainable, non_trainable, *batch
        )
        gradients = jax.tree.map(jnp.add, gradients, grads)
        task_sums = [a + b for a, b in zip(task_sums, sums)]
        return (gradients, non_trainable, task_sums), y_pred

    # A scan, so that one slice's activations are alive at a time (XLA
    # schedules unrolled slices' forward passes together). Rows that pad the
    # batch to a multiple of `count` have no task (-1): no loss.
    slices = _stacked_batch(x, y, rows, count)
    init = (
        jax.tree.map(jnp.zeros_like, trainable),
        non_trainable,
        [jnp.zeros((), "float32") for _ in model.tasks],
    )
    (gradients, non_trainable, task_sums), y_preds = jax.lax.scan(
        one_slice, init, slices
    )
    y_pred = jax.tree.map(lambda t: _unstacked(t, rows, count), y_preds)
    trainable, optimizer_variables = model.optimizer.stateless_apply(
        optimizer_variables, gradients, trainable
    )
    with keras.StatelessScope(
        state_mapping=list(zip(model.metrics_variables, metrics_variables))
    ) as scope:
        loss = model.record_step_loss(task_sums, examples, gold_weight, True)
    metrics_variables = [
        _current(scope, ref, value)
        for ref, value in zip(model.metrics_variables, metrics_variables)
    ]
    logs, metrics_variables = update_metrics_variables(
        model, metrics_variables, loss, x, y, y_pred, sample_weight
    )
    return logs, (trainable, non_trainable, optimizer_variables, metrics_variables)


def _current(scope, variable, value):
    new = scope.get_current_value(variable)
    return value if new is None else new


def micro_batched_train_step(model, count: int, *args):
    """`model`'s training step (Keras's `train_step` arguments: `data`, or
    `state, data` on JAX) with its batch computed in `count` slices.

    `model` provides the loss in pieces: `step_gold_weight`, `step_examples`,
    `task_loss_sums`, `reduce_step_loss` and `record_step_loss`
    (`keras_bam.MultiTaskModel`'s).

    Args:
        model: the model being trained.
        count: the slices per batch.
        *args: the arguments of Keras's `train_step`.

    Returns:
        What Keras's `train_step` returns (the logs; on JAX with the new state).
    """
    if keras.backend.backend() == "jax":
        return _jax_train_step(model, *args, count=count)
    if keras.backend.backend() == "tensorflow":
        return _tensorflow_train_step(model, *args, count=count)
    raise ValueError(
        f"Micro-batches need TensorFlow or JAX, not {keras.backend.backend()}."
    )
