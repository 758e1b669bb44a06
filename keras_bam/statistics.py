"""Statistics for comparing systems: over seeds, and over dev examples."""

from __future__ import annotations

import numpy as np
from scipy import stats


def mean_and_sd(values) -> tuple:
    """`(mean, sample standard deviation)`; the deviation is `nan` for one value."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("No values.")
    sd = float(np.std(values, ddof=1)) if values.size > 1 else float("nan")
    return float(np.mean(values)), sd


def paired_seed_test(scores_a, scores_b) -> dict:
    """Compares two systems run with the same seeds (paired by seed).

    Args:
        scores_a: system A's score for each seed.
        scores_b: system B's score for the same seeds, in the same order.

    Returns:
        A dict: `n`, `mean_difference` (A − B), `sd_difference`, and the paired
        t-test's `t` and two-sided `p_value` (`nan` below two seeds or when every
        difference is equal).

    Example:
    ```python
    keras_bam.paired_seed_test([0.62, 0.63, 0.61], [0.60, 0.61, 0.60])
    ```
    """
    a = np.asarray(scores_a, dtype=np.float64)
    b = np.asarray(scores_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(
            f"Need one score per seed for both systems, got shapes {a.shape} and "
            f"{b.shape}."
        )
    diff = a - b
    mean, sd = mean_and_sd(diff)
    t, p = float("nan"), float("nan")
    if diff.size > 1 and np.ptp(diff) > 0:
        result = stats.ttest_rel(a, b)
        t, p = float(result.statistic), float(result.pvalue)
    return {
        "n": int(diff.size),
        "mean_difference": mean,
        "sd_difference": sd,
        "t": t,
        "p_value": p,
    }


def paired_bootstrap(
    labels,
    predictions_a,
    predictions_b,
    metric,
    num_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """Paired bootstrap over dev examples: is system A better than B on this set?

    Examples are resampled with replacement; on each resample both systems are
    scored by `metric` on the same examples, giving a distribution of the
    difference A − B (Koehn 2004; Berg-Kirkpatrick et al. 2012).

    Args:
        labels: the gold labels.
        predictions_a: system A's predictions (label space).
        predictions_b: system B's predictions.
        metric: `metric(labels, predictions) -> float`, e.g. a task's GLUE score.
        num_resamples: bootstrap resamples.
        confidence: the confidence interval's level.
        seed: the resampling seed.

    Returns:
        A dict: `difference` (on the full set), `ci_low`, `ci_high` (percentile
        interval of the difference), and `p_value`: the two-sided share of
        resamples whose difference falls on the other side of zero, doubled.

    Example:
    ```python
    from keras_bam.metrics import glue_metrics
    score = lambda y, p: glue_metrics("rte", y, p)["score"]
    keras_bam.paired_bootstrap(labels, bam_predictions, teacher_predictions, score)
    ```
    """
    labels = np.asarray(labels)
    a, b = np.asarray(predictions_a), np.asarray(predictions_b)
    n = len(labels)
    if len(a) != n or len(b) != n or n == 0:
        raise ValueError(
            f"Need predictions for each of the {n} examples from both systems, got "
            f"{len(a)} and {len(b)}."
        )
    rng = np.random.default_rng(seed)
    deltas = np.empty(num_resamples)
    for i in range(num_resamples):
        sample = rng.integers(0, n, n)
        deltas[i] = metric(labels[sample], a[sample]) - metric(
            labels[sample], b[sample]
        )
    difference = float(metric(labels, a) - metric(labels, b))
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(deltas, [tail, 1.0 - tail])
    other_side = np.mean(deltas <= 0) if difference > 0 else np.mean(deltas >= 0)
    return {
        "difference": difference,
        "ci_low": float(low),
        "ci_high": float(high),
        "p_value": float(min(1.0, 2.0 * other_side)),
        "num_resamples": int(num_resamples),
    }
