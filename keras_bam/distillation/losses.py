"""BAM's distillation targets and losses, in `keras.ops`."""

from __future__ import annotations

from keras import ops


def blend_classification_targets(
    labels, teacher_logits, gold_weight, temperature: float = 1.0
):
    """`λ * onehot(gold) + (1 - λ) * softmax(teacher_logits / T)`.

    λ is the gold labels' weight (BAM's teacher annealing raises it from 0 to 1
    over training); a fixed λ is plain distillation, λ = 1 plain training.

    Args:
        labels: int gold classes, shape `(batch,)`.
        teacher_logits: the teacher's logits, `(batch, classes)`.
        gold_weight: λ, the weight of the gold labels, a scalar.
        temperature: the softmax temperature `T` applied to the teacher.

    Returns:
        Target distributions, `(batch, classes)`, float32.
    """
    teacher_logits = ops.cast(teacher_logits, "float32")
    classes = ops.shape(teacher_logits)[-1]
    gold = ops.one_hot(ops.cast(labels, "int32"), classes)
    teacher = ops.softmax(teacher_logits / temperature, axis=-1)
    weight = _teacher_weight(gold_weight)
    return (1.0 - weight) * gold + weight * teacher


def blend_regression_targets(targets, teacher_outputs, gold_weight):
    """`λ * gold + (1 - λ) * teacher`, on the model's (scaled) regression scale;
    λ (`gold_weight`) as in `blend_classification_targets`."""
    weight = _teacher_weight(gold_weight)
    return (1.0 - weight) * ops.cast(targets, "float32") + weight * ops.cast(
        teacher_outputs, "float32"
    )


def _teacher_weight(gold_weight):
    """`1 - λ` in float32, the teacher's share, from which both targets are
    formed (the same float operations whatever λ's source)."""
    return ops.cast(1.0 - gold_weight, "float32")


def soft_cross_entropy(logits, target_probabilities):
    """Per-example `-sum(target * log_softmax(logits))`, shape `(batch,)`."""
    log_probabilities = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    return -ops.sum(target_probabilities * log_probabilities, axis=-1)


def squared_error(predictions, targets):
    """Per-example `(prediction - target) ** 2` of one-output regression heads."""
    predictions = ops.reshape(ops.cast(predictions, "float32"), (-1,))
    return ops.square(predictions - ops.reshape(targets, (-1,)))
