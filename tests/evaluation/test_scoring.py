import numpy as np
import pytest
import scipy.stats
from sklearn import metrics as sk

import keras_bam
from keras_bam.evaluation import scoring as metrics


@pytest.mark.parametrize("seed", range(5))
def test_classification_metrics_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 300)
    predictions = np.where(rng.random(300) < 0.7, labels, 1 - labels)
    assert metrics.accuracy(labels, predictions) == pytest.approx(
        sk.accuracy_score(labels, predictions)
    )
    assert metrics.f1(labels, predictions) == pytest.approx(
        sk.f1_score(labels, predictions)
    )
    assert metrics.matthews_corrcoef(labels, predictions) == pytest.approx(
        sk.matthews_corrcoef(labels, predictions)
    )
    three = rng.integers(0, 3, 300)
    guess = np.where(rng.random(300) < 0.5, three, rng.integers(0, 3, 300))
    assert metrics.matthews_corrcoef(three, guess) == pytest.approx(
        sk.matthews_corrcoef(three, guess)
    )


def test_degenerate_cases_match_scikit_learn():
    labels = np.array([1, 1, 0, 0])
    constant = np.ones(4, dtype=int)
    assert metrics.matthews_corrcoef(labels, constant) == sk.matthews_corrcoef(
        labels, constant
    )
    zeros = np.zeros(4, dtype=int)
    assert metrics.f1(zeros, zeros) == 0.0


@pytest.mark.parametrize("seed", range(5))
def test_correlations_match_scipy(seed):
    rng = np.random.default_rng(seed)
    gold = np.round(rng.uniform(0, 5, 500) * 5) / 5  # Many ties, as in STS-B.
    predicted = gold + rng.normal(0, 1, 500)
    predicted[:50] = np.round(predicted[:50])
    assert metrics.pearson(gold, predicted) == pytest.approx(
        scipy.stats.pearsonr(gold, predicted)[0], abs=1e-12
    )
    assert metrics.spearman(gold, predicted) == pytest.approx(
        scipy.stats.spearmanr(gold, predicted)[0], abs=1e-12
    )


def test_glue_metrics_per_task():
    result = keras_bam.evaluation.glue_metrics("mrpc", [1, 0, 1, 1], [1, 0, 0, 1])
    assert result == pytest.approx({"f1": 0.8, "accuracy": 0.75, "score": 0.775})
    assert set(keras_bam.evaluation.glue_metrics("cola", [0, 1], [0, 1])) == {
        "matthews_corrcoef",
        "score",
    }
    assert set(
        keras_bam.evaluation.glue_metrics("stsb", [0.0, 1.0, 2.0], [0.1, 0.9, 2.5])
    ) == {
        "pearson",
        "spearman",
        "score",
    }
    with pytest.raises(ValueError, match="3 labels but 2 predictions"):
        keras_bam.evaluation.glue_metrics("rte", [0, 1, 1], [0, 1])


def test_predictions_from_outputs():
    logits = np.array([[0.1, 2.0], [3.0, -1.0]])
    np.testing.assert_array_equal(
        keras_bam.evaluation.predictions_from_outputs("rte", logits), [1, 0]
    )
    scaled = np.array([[0.2], [1.0]])
    np.testing.assert_allclose(
        keras_bam.evaluation.predictions_from_outputs("stsb", scaled), [1.0, 5.0]
    )
