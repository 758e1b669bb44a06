import numpy as np
import pytest
from scipy import stats

import keras_bam
from keras_bam.evaluation.scoring import glue_metrics


def test_mean_and_sd():
    assert keras_bam.evaluation.mean_and_sd([1.0, 2.0, 3.0]) == pytest.approx(
        (2.0, 1.0)
    )
    mean, sd = keras_bam.evaluation.mean_and_sd([0.5])
    assert mean == 0.5 and np.isnan(sd)


def test_paired_seed_test_matches_scipy():
    a, b = [0.62, 0.65, 0.61, 0.64], [0.60, 0.61, 0.60, 0.62]
    result = keras_bam.evaluation.paired_seed_test(a, b)
    expected = stats.ttest_rel(a, b)
    assert result["p_value"] == pytest.approx(expected.pvalue)
    assert result["t"] == pytest.approx(expected.statistic)
    assert result["mean_difference"] == pytest.approx(0.0225)
    assert np.isnan(keras_bam.evaluation.paired_seed_test([0.6], [0.5])["p_value"])
    with pytest.raises(ValueError, match="one score per seed"):
        keras_bam.evaluation.paired_seed_test([0.6, 0.7], [0.5])


def test_paired_bootstrap_separates_a_real_gap_from_noise():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)

    def noisy(accuracy):
        right = rng.uniform(size=400) < accuracy
        return np.where(right, labels, 1 - labels)

    def score(y, p):
        return glue_metrics("rte", y, p)["score"]

    better, worse = noisy(0.85), noisy(0.65)
    gap = keras_bam.evaluation.paired_bootstrap(
        labels, better, worse, score, num_resamples=300
    )
    assert gap["difference"] == pytest.approx(
        score(labels, better) - score(labels, worse)
    )
    assert (
        gap["p_value"] < 0.01 and 0 < gap["ci_low"] < gap["difference"] < gap["ci_high"]
    )
    same = keras_bam.evaluation.paired_bootstrap(
        labels, better, better, score, num_resamples=50
    )
    assert same["difference"] == 0 and same["p_value"] == 1.0
    with pytest.raises(ValueError, match="each of the 400 examples"):
        keras_bam.evaluation.paired_bootstrap(labels, better[:10], worse, score)


def test_paired_bootstrap_over_tasks():
    rng = np.random.default_rng(1)
    rte_labels = rng.integers(0, 2, 300)
    stsb_labels = rng.uniform(0, 5, 200)
    rte_score = lambda y, p: glue_metrics("rte", y, p)["score"]  # noqa: E731
    stsb_score = lambda y, p: glue_metrics("stsb", y, p)["score"]  # noqa: E731

    def noisy_rte(accuracy):
        keep = rng.random(300) < accuracy
        return np.where(keep, rte_labels, 1 - rte_labels)

    # One task, one run: exactly the single-set bootstrap (same resamples).
    a, b = noisy_rte(0.8), noisy_rte(0.7)
    single = keras_bam.evaluation.paired_bootstrap(rte_labels, a, b, rte_score, seed=3)
    over = keras_bam.evaluation.paired_bootstrap_over_tasks(
        {"rte": rte_labels}, {"rte": [a]}, {"rte": [b]}, {"rte": rte_score}, seed=3
    )
    assert over == single

    # Two tasks, two runs each: the difference is the mean over tasks of the mean
    # over runs; A is better on RTE and equal on STS-B.
    a_runs, b_runs = [noisy_rte(0.85), noisy_rte(0.85)], [noisy_rte(0.6)] * 2
    stsb = stsb_labels + rng.normal(0, 1, 200)
    result = keras_bam.evaluation.paired_bootstrap_over_tasks(
        {"rte": rte_labels, "stsb": stsb_labels},
        {"rte": a_runs, "stsb": [stsb, stsb]},
        {"rte": b_runs, "stsb": [stsb, stsb]},
        {"rte": rte_score, "stsb": stsb_score},
        num_resamples=300,
    )
    expected = (
        np.mean([rte_score(rte_labels, p) for p in a_runs])
        - rte_score(rte_labels, b_runs[0])
    ) / 2
    assert result["difference"] == pytest.approx(expected)
    assert result["p_value"] < 0.01 and result["ci_low"] > 0
    with pytest.raises(ValueError, match="System B has no predictions for 'stsb'"):
        keras_bam.evaluation.paired_bootstrap_over_tasks(
            {"rte": rte_labels, "stsb": stsb_labels},
            {"rte": a_runs, "stsb": [stsb]},
            {"rte": b_runs},
            {"rte": rte_score, "stsb": stsb_score},
        )
    with pytest.raises(ValueError, match="each of the 300 'rte' examples"):
        keras_bam.evaluation.paired_bootstrap_over_tasks(
            {"rte": rte_labels}, {"rte": [a[:5]]}, {"rte": [b]}, {"rte": rte_score}
        )
