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
    keras_bam.evaluation.paired_seed_test([0.62, 0.63, 0.61], [0.60, 0.61, 0.60])
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
    from keras_bam.evaluation.scoring import glue_metrics
    score = lambda y, p: glue_metrics("rte", y, p)["score"]
    keras_bam.evaluation.paired_bootstrap(
        labels, bam_predictions, teacher_predictions, score
    )
    ```
    """
    return paired_bootstrap_over_tasks(
        {"": labels},
        {"": [predictions_a]},
        {"": [predictions_b]},
        {"": metric},
        num_resamples=num_resamples,
        confidence=confidence,
        seed=seed,
    )


def paired_bootstrap_over_tasks(
    labels: dict,
    predictions_a: dict,
    predictions_b: dict,
    metrics: dict,
    num_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """Paired bootstrap of a multi-task average, over dev examples and seeds.

    Each resample draws every task's dev examples with replacement; both systems
    are scored on the same draw, each run (seed) of a system separately, and the
    score is the mean over tasks of the mean over runs. The distribution of the
    difference A − B thus reflects which dev examples happen to be in the set,
    with run-to-run variation averaged as in the reported means.

    Args:
        labels: task name to gold labels.
        predictions_a: task name to a list of system A's predictions, one array
            per run (seed), each in the order of `labels`.
        predictions_b: the same for system B (the same runs in the same order
            are not needed, only the same examples).
        metrics: task name to `metric(labels, predictions) -> float`.
        num_resamples: bootstrap resamples.
        confidence: the confidence interval's level.
        seed: the resampling seed.

    Returns:
        A dict as `paired_bootstrap`'s: `difference`, `ci_low`, `ci_high`,
        `p_value`, `num_resamples`.

    Example:
    ```python
    keras_bam.evaluation.paired_bootstrap_over_tasks(
        {"rte": labels}, {"rte": [bam_seed0, bam_seed1]},
        {"rte": [teacher_seed0, teacher_seed1]}, {"rte": rte_score})
    ```
    """
    data = _paired_runs(labels, predictions_a, predictions_b)

    def difference(samples):
        total = 0.0
        for task, (y, runs_a, runs_b) in data.items():
            index = samples[task]
            score_a = np.mean([metrics[task](y[index], p[index]) for p in runs_a])
            score_b = np.mean([metrics[task](y[index], p[index]) for p in runs_b])
            total += score_a - score_b
        return total / len(data)

    rng = np.random.default_rng(seed)
    deltas = np.empty(num_resamples)
    for i in range(num_resamples):
        deltas[i] = difference(
            {task: rng.integers(0, len(y), len(y)) for task, (y, _, _) in data.items()}
        )
    full = float(difference({task: slice(None) for task in data}))
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(deltas, [tail, 1.0 - tail])
    other_side = np.mean(deltas <= 0) if full > 0 else np.mean(deltas >= 0)
    return {
        "difference": full,
        "ci_low": float(low),
        "ci_high": float(high),
        "p_value": float(min(1.0, 2.0 * other_side)),
        "num_resamples": int(num_resamples),
    }


def _paired_runs(labels: dict, predictions_a: dict, predictions_b: dict) -> dict:
    """Task name to `(labels, runs of A, runs of B)` as arrays; a `ValueError`
    names the task and system of a missing or misshapen run."""
    tasks = list(labels)
    if not tasks:
        raise ValueError("No tasks.")
    data = {}
    for task in tasks:
        y = np.asarray(labels[task])
        runs = []
        for name, predictions in (("A", predictions_a), ("B", predictions_b)):
            if task not in predictions or not len(predictions[task]):
                raise ValueError(f"System {name} has no predictions for {task!r}.")
            arrays = [np.asarray(p) for p in predictions[task]]
            bad = [len(p) for p in arrays if len(p) != len(y)]
            if bad or len(y) == 0:
                where = f" {task!r}" if task else ""
                got = bad[0] if bad else 0
                raise ValueError(
                    f"Need predictions for each of the {len(y)}{where} examples "
                    f"from both systems, got a run of system {name} with {got}."
                )
            runs.append(arrays)
        data[task] = (y, runs[0], runs[1])
    return data
