"""Dev metrics in numpy: GLUE's official ones, and macro-F1 for your tasks."""

from __future__ import annotations

import numpy as np

from keras_bam.tasks.registry import get_task
from keras_bam.tasks.task import Task


def accuracy(labels, predictions) -> float:
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    return float(np.mean(labels == predictions))


def f1(labels, predictions, positive: int = 1) -> float:
    """Binary F1 of the positive class (GLUE's MRPC and QQP F1)."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    true_pos = np.sum((predictions == positive) & (labels == positive))
    predicted = np.sum(predictions == positive)
    actual = np.sum(labels == positive)
    if predicted + actual == 0:
        return 0.0
    return float(2.0 * true_pos / (predicted + actual))


def macro_f1(labels, predictions) -> float:
    """The mean of each class's F1 over the classes seen or predicted (as
    scikit-learn's `f1_score(average="macro")`)."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    scores = [
        f1(labels == c, predictions == c, positive=True)
        for c in np.union1d(labels, predictions)
    ]
    return float(np.mean(scores)) if scores else 0.0


def matthews_corrcoef(labels, predictions) -> float:
    """Matthews correlation (CoLA), multi-class form; 0 when undefined."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    classes = np.union1d(labels, predictions)
    index = {c: i for i, c in enumerate(classes)}
    confusion = np.zeros((len(classes), len(classes)), dtype=np.float64)
    np.add.at(
        confusion,
        (np.vectorize(index.get)(labels), np.vectorize(index.get)(predictions)),
        1,
    )
    t = confusion.sum(axis=1)
    p = confusion.sum(axis=0)
    c = np.trace(confusion)
    s = confusion.sum()
    numerator = c * s - t @ p
    denominator = np.sqrt((s**2 - p @ p) * (s**2 - t @ t))
    return float(numerator / denominator) if denominator else 0.0


def pearson(labels, predictions) -> float:
    x = np.asarray(labels, dtype=np.float64)
    y = np.asarray(predictions, dtype=np.float64)
    x, y = x - x.mean(), y - y.mean()
    denominator = np.sqrt((x @ x) * (y @ y))
    return float((x @ y) / denominator) if denominator else 0.0


def _average_ranks(values) -> np.ndarray:
    """Ranks starting at 1, ties sharing their average rank."""
    values = np.asarray(values)
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    starts = np.r_[True, sorted_values[1:] != sorted_values[:-1]]
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    ends = np.r_[first[1:], len(values)]
    average = (first + ends + 1) / 2.0
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = average[group]
    return ranks


def spearman(labels, predictions) -> float:
    return pearson(_average_ranks(labels), _average_ranks(predictions))


METRICS = {
    "accuracy": accuracy,
    "f1": f1,
    "macro_f1": macro_f1,
    "matthews_corrcoef": matthews_corrcoef,
    "pearson": pearson,
    "spearman": spearman,
}


def predictions_from_outputs(task: str | Task, outputs) -> np.ndarray:
    """Model outputs to predictions in label space.

    Classification: the argmax class. Regression: the output on the task's
    score scale (`Task.scores_from_outputs`: STS-B's output times 5).
    """
    task = get_task(task)
    outputs = np.asarray(outputs)
    if task.is_regression:
        return task.scores_from_outputs(outputs.reshape(len(outputs), -1)[:, 0])
    return np.argmax(outputs, axis=-1)


def glue_metrics(task: str | Task, labels, predictions) -> dict:
    """The official GLUE dev metrics of one task.

    CoLA: Matthews correlation. MRPC, QQP: F1 and accuracy. STS-B: Pearson and
    Spearman correlation. The others: accuracy. `score` is the task's GLUE score,
    the mean of its metrics, as on the GLUE leaderboard.

    Args:
        task: the task.
        labels: gold labels (class indices, or STS-B scores).
        predictions: predicted class indices, or predicted scores.

    Returns:
        A dict of metric name to value, plus `score`.

    Example:
    ```python
    keras_bam.evaluation.glue_metrics("mrpc", [1, 0, 1, 1], [1, 0, 0, 1])
    # {'f1': 0.8, 'accuracy': 0.75, 'score': 0.775}
    ```
    """
    task = get_task(task)
    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    if len(labels) != len(predictions):
        raise ValueError(
            f"{len(labels)} labels but {len(predictions)} predictions for "
            f"{task.display_name}."
        )
    results = {name: METRICS[name](labels, predictions) for name in task.metrics}
    results["score"] = float(np.mean(list(results.values())))
    return results


def glue_scores(dev_metrics: dict) -> dict:
    """Task name to GLUE score (the mean over its dev splits), and `"average"`.

    Args:
        dev_metrics: task name to split name to `glue_metrics`.

    Example:
    ```python
    # {"rte": 0.61, ..., "average": 0.7}:
    keras_bam.evaluation.glue_scores(run.dev_metrics)
    ```
    """
    scores = {
        task: float(np.mean([m["score"] for m in splits.values()]))
        for task, splits in dev_metrics.items()
    }
    scores["average"] = float(np.mean(list(scores.values())))
    return scores
