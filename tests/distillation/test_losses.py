import keras
import numpy as np
import pytest

import keras_bam


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("gold_weight", [1.0, 0.7, 0.0])
@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_classification_targets_and_loss(gold_weight, temperature):
    labels = np.array([0, 2, 1])
    teacher = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-3.0, 4.0, 0.0]], "float32")
    logits = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 2.0], [0.5, 0.5, 0.5]], "float32")
    targets = keras_bam.distillation.blend_classification_targets(
        labels, teacher, gold_weight, temperature
    )
    want = gold_weight * np.eye(3)[labels] + (1 - gold_weight) * softmax(
        teacher / temperature
    )
    np.testing.assert_allclose(keras.ops.convert_to_numpy(targets), want, rtol=1e-6)
    loss = keras_bam.distillation.soft_cross_entropy(logits, targets)
    log_probs = np.log(softmax(logits))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loss), -(want * log_probs).sum(-1), rtol=1e-5
    )


def test_gold_only_loss_equals_sparse_cross_entropy():
    labels = np.array([1, 0])
    logits = np.array([[0.2, 1.5], [2.0, -0.5]], "float32")
    targets = keras_bam.distillation.blend_classification_targets(
        labels, np.zeros((2, 2)), 1.0
    )
    ours = keras.ops.convert_to_numpy(
        keras_bam.distillation.soft_cross_entropy(logits, targets)
    )
    keras_loss = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction=None
    )(labels, logits)
    np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(keras_loss), rtol=1e-6)


@pytest.mark.parametrize("gold_weight", [1.0, 0.75, 0.0])
def test_regression_targets_and_loss(gold_weight):
    gold = np.array([0.2, 0.9], "float32")  # STS-B scores / 5
    teacher = np.array([[0.4], [0.5]], "float32")
    predictions = np.array([[0.3], [0.7]], "float32")
    targets = keras_bam.distillation.blend_regression_targets(
        gold, teacher[:, 0], gold_weight
    )
    want = gold_weight * gold + (1 - gold_weight) * teacher[:, 0]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(targets), want, rtol=1e-6)
    loss = keras_bam.distillation.squared_error(predictions, targets)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loss), (predictions[:, 0] - want) ** 2, rtol=1e-5
    )
