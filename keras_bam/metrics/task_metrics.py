"""Keras metrics per task of a multi-task student, as `fit` and `evaluate` log them.

A student's targets are one dict (`task_id`, `label`, `teacher`) for all tasks, so
Keras's own `compile(metrics=...)`, which matches metrics to targets by structure,
cannot tell the tasks apart. `MultiTaskModel.compile(metrics=...)` takes metrics per
task instead; each sees only its task's examples of a batch and is logged as
`<task>_<metric>` (`val_rte_accuracy` in a validation pass), next to `glue_score`.
Every metric here carries its direction, so `EarlyStopping` and `ModelCheckpoint`
work with `mode="auto"`.

The GLUE metrics here are streamed over batches; Spearman's correlation, which
needs every example at once, is left out (the dev scores of `train_student` have
it).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_bam.tasks.registry import get_task
from keras_bam.tasks.task import Task
from keras_bam.utils.keras_private import MetricsList
from keras_bam.utils.keras_private import set_metric_direction


def _example_weights(sample_weight, like):
    """`sample_weight` as a flat float32 vector, or ones shaped like `like`."""
    if sample_weight is None:
        return ops.ones_like(ops.cast(ops.reshape(like, (-1,)), "float32"))
    return ops.reshape(ops.cast(sample_weight, "float32"), (-1,))


class _ConfusionCounts(keras.metrics.Metric):
    """Counts of a binary task's outcomes from logits (class 1: positive)."""

    def __init__(self, name: str, **kwargs):
        super().__init__(name=name, **kwargs)
        set_metric_direction(self, "up")
        self.counts = {
            key: self.add_variable(shape=(), initializer="zeros", name=key)
            for key in ("tp", "fp", "tn", "fn")
        }

    def update_state(self, y_true, y_pred, sample_weight=None):
        actual = ops.reshape(ops.cast(y_true, "int32"), (-1,)) == 1
        predicted = ops.argmax(y_pred, axis=-1) == 1
        weight = _example_weights(sample_weight, actual)
        for key, hit in (
            ("tp", actual & predicted),
            ("fp", ~actual & predicted),
            ("tn", ~actual & ~predicted),
            ("fn", actual & ~predicted),
        ):
            self.counts[key].assign_add(ops.sum(ops.cast(hit, "float32") * weight))

    def reset_state(self):
        for variable in self.counts.values():
            variable.assign(0.0)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="keras_bam")
class BinaryF1(_ConfusionCounts):
    """F1 of class 1 from a binary task's logits (GLUE's MRPC and QQP F1).

    Args:
        name: the metric's name.
        **kwargs: `keras.metrics.Metric` arguments.

    Example:
    ```python
    f1 = keras_bam.metrics.BinaryF1()
    f1.update_state([1, 0, 1], [[0.0, 2.0], [1.0, 0.0], [3.0, 0.0]])
    float(f1.result())  # 0.667
    ```
    """

    def __init__(self, name: str = "f1", **kwargs):
        super().__init__(name=name, **kwargs)

    def result(self):
        c = self.counts
        return ops.divide_no_nan(2.0 * c["tp"], 2.0 * c["tp"] + c["fp"] + c["fn"])


@keras.saving.register_keras_serializable(package="keras_bam")
class MatthewsCorrelation(_ConfusionCounts):
    """Matthews correlation from a binary task's logits (GLUE's CoLA metric).

    Args:
        name: the metric's name.
        **kwargs: `keras.metrics.Metric` arguments.

    Example:
    ```python
    mcc = keras_bam.metrics.MatthewsCorrelation()
    mcc.update_state([1, 0, 1, 0], [[0.0, 2.0], [1.0, 0.0], [3.0, 0.0], [2.0, 0.0]])
    float(mcc.result())  # 0.577
    ```
    """

    def __init__(self, name: str = "matthews_corrcoef", **kwargs):
        super().__init__(name=name, **kwargs)

    def result(self):
        c = self.counts
        numerator = c["tp"] * c["tn"] - c["fp"] * c["fn"]
        denominator = ops.sqrt(
            (c["tp"] + c["fp"])
            * (c["tp"] + c["fn"])
            * (c["tn"] + c["fp"])
            * (c["tn"] + c["fn"])
        )
        return ops.divide_no_nan(numerator, denominator)


class _ConfusionMatrix(keras.metrics.Metric):
    """A multi-class task's confusion counts from logits: `counts[i, j]` is the
    weight of examples of class `i` predicted as `j`."""

    def __init__(self, num_classes: int, name: str, **kwargs):
        super().__init__(name=name, **kwargs)
        set_metric_direction(self, "up")
        self.num_classes = int(num_classes)
        self.counts = self.add_variable(
            shape=(self.num_classes, self.num_classes),
            initializer="zeros",
            name="confusion",
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        actual = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        weight = _example_weights(sample_weight, actual)
        rows = ops.one_hot(actual, self.num_classes) * weight[:, None]
        columns = ops.one_hot(predicted, self.num_classes)
        self.counts.assign_add(ops.matmul(ops.transpose(rows), columns))

    def reset_state(self):
        self.counts.assign(ops.zeros_like(self.counts))

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="keras_bam")
class MacroF1(_ConfusionMatrix):
    """The mean over classes of each class's F1, from a classifier's logits;
    classes neither seen nor predicted are left out (as scikit-learn's
    `f1_score(average="macro")` leaves them).

    Args:
        num_classes: the number of classes.
        name: the metric's name.
        **kwargs: `keras.metrics.Metric` arguments.

    Example:
    ```python
    f1 = keras_bam.metrics.MacroF1(3)
    f1.update_state([0, 1, 2], [[2.0, 0, 0], [0, 2.0, 0], [0, 2.0, 0]])
    float(f1.result())  # 0.556
    ```
    """

    def __init__(self, num_classes: int, name: str = "macro_f1", **kwargs):
        super().__init__(num_classes, name=name, **kwargs)

    def result(self):
        c = self.counts
        true_positives = ops.diagonal(c)
        outcomes = ops.sum(c, axis=0) + ops.sum(c, axis=1)
        f1 = ops.divide_no_nan(2.0 * true_positives, outcomes)
        present = ops.cast(outcomes > 0, "float32")
        return ops.divide_no_nan(ops.sum(f1 * present), ops.sum(present))


@keras.saving.register_keras_serializable(package="keras_bam")
class MulticlassMatthewsCorrelation(_ConfusionMatrix):
    """Matthews correlation of a classifier with any number of classes, from
    its logits (Gorodkin's multi-class form; the binary one for two classes).

    Args:
        num_classes: the number of classes.
        name: the metric's name.
        **kwargs: `keras.metrics.Metric` arguments.

    Example:
    ```python
    mcc = keras_bam.metrics.MulticlassMatthewsCorrelation(3)
    mcc.update_state([0, 1, 2], [[2.0, 0, 0], [0, 2.0, 0], [0, 2.0, 0]])
    float(mcc.result())  # 0.612
    ```
    """

    def __init__(self, num_classes: int, name: str = "matthews_corrcoef", **kwargs):
        super().__init__(num_classes, name=name, **kwargs)

    def result(self):
        c = self.counts
        t, p = ops.sum(c, axis=1), ops.sum(c, axis=0)
        correct, s = ops.trace(c), ops.sum(c)
        numerator = correct * s - ops.sum(t * p)
        denominator = ops.sqrt((s * s - ops.sum(p * p)) * (s * s - ops.sum(t * t)))
        return ops.divide_no_nan(numerator, denominator)


@keras.saving.register_keras_serializable(package="keras_bam")
class Pearson(keras.metrics.Metric):
    """Pearson's correlation of a regression head with its labels, over every
    example seen (not a mean of per-batch correlations; GLUE's STS-B metric).

    Args:
        name: the metric's name.
        **kwargs: `keras.metrics.Metric` arguments.

    Example:
    ```python
    pearson = keras_bam.metrics.Pearson()
    pearson.update_state([0.1, 0.5, 0.9], [[0.2], [0.4], [0.8]])
    float(pearson.result())  # 0.98
    ```
    """

    _SUMS = ("n", "x", "y", "xx", "yy", "xy")

    def __init__(self, name: str = "pearson", **kwargs):
        super().__init__(name=name, **kwargs)
        set_metric_direction(self, "up")
        self.sums = {
            key: self.add_variable(shape=(), initializer="zeros", name=f"sum_{key}")
            for key in self._SUMS
        }

    def update_state(self, y_true, y_pred, sample_weight=None):
        x = ops.reshape(ops.cast(y_pred, "float32"), (-1,))
        y = ops.reshape(ops.cast(y_true, "float32"), (-1,))
        weight = _example_weights(sample_weight, x)
        # Rows of other tasks may hold NaN labels: `where`, not a product.
        keep = weight > 0
        x, y = ops.where(keep, x, 0.0), ops.where(keep, y, 0.0)
        for key, value in (
            ("n", weight),
            ("x", x),
            ("y", y),
            ("xx", x * x),
            ("yy", y * y),
            ("xy", x * y),
        ):
            # x and y are zero, and finite, where the weight is.
            self.sums[key].assign_add(ops.sum(value * weight))

    def result(self):
        s = self.sums
        n = ops.maximum(s["n"], 1.0)
        covariance = s["xy"] / n - (s["x"] / n) * (s["y"] / n)
        variance_x = ops.maximum(s["xx"] / n - ops.square(s["x"] / n), 0.0)
        variance_y = ops.maximum(s["yy"] / n - ops.square(s["y"] / n), 0.0)
        return ops.divide_no_nan(covariance, ops.sqrt(variance_x * variance_y))

    def reset_state(self):
        for variable in self.sums.values():
            variable.assign(0.0)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


def glue_task_metrics(task: str | Task) -> list:
    """The streamed GLUE metrics of `task` (all of `task.metrics` but Spearman).

    Args:
        task: a task name or `Task`.

    Returns:
        New Keras metrics, named as `keras_bam.evaluation.glue_metrics` names them.

    Example:
    ```python
    [m.name for m in keras_bam.metrics.glue_task_metrics("mrpc")]
    # ['f1', 'accuracy']
    ```
    """
    task = get_task(task)
    classes = task.num_outputs
    made = {
        "accuracy": lambda: keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
        "f1": BinaryF1,
        "macro_f1": lambda: MacroF1(classes),
        "matthews_corrcoef": (
            MatthewsCorrelation
            if classes == 2
            else lambda: MulticlassMatthewsCorrelation(classes)
        ),
        "pearson": Pearson,
    }
    return [made[name]() for name in task.metrics if name in made]


def resolve_metric(task: Task, identifier):
    """A Keras metric for one task from a name of `glue_task_metrics`'s, `"glue"`
    (all of them, as a list), or a `keras.metrics.Metric` (used as given)."""
    if isinstance(identifier, keras.metrics.Metric):
        _check_reads_task_targets(task, identifier)
        return [identifier]
    if identifier == "glue":
        return glue_task_metrics(task)
    known = {m.name: m for m in glue_task_metrics(task)}
    if identifier == "accuracy" and not task.is_regression:
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    if identifier in known:
        return [known[identifier]]
    names = sorted(set(known) | ({"accuracy"} if not task.is_regression else set()))
    raise ValueError(
        f"Unknown metric {identifier!r} for {task.display_name}; use a "
        f"keras.metrics.Metric, 'glue', or one of {names}."
    )


def _check_reads_task_targets(task: Task, metric) -> None:
    """Raises a clear error, when `compile` is called, for a Keras metric that
    cannot read a task's targets (inside the step it would fail deep in the
    graph): a fresh copy of it is updated once on two examples."""
    labels = np.zeros((2,), "float32")
    outputs = np.zeros((2, task.num_outputs), "float32")
    try:
        renamed(metric, "probe").update_state(labels, outputs)
    except Exception as e:  # Any failure: the metric's own message follows.
        reads = (
            "the scaled score (examples,) and the head's output (examples, 1)"
            if task.is_regression
            else f"the class index (examples,) and the head's logits (examples, "
            f"{task.num_outputs})"
        )
        raise ValueError(
            f"{type(metric).__name__} cannot read {task.display_name}'s targets: a "
            f"task's metric is given {reads}, as SparseCategoricalAccuracy takes "
            f"them. Use a metric that reads them, or a subclass that converts "
            f"them. ({type(e).__name__}: {e})"
        ) from e


def renamed(metric, name: str):
    """A new, empty metric like `metric` under `name` (the caller's is kept)."""
    return metric.__class__.from_config({**metric.get_config(), "name": name})


class MetricGroup(MetricsList):
    """Metrics logged side by side under their own names: a Keras `MetricsList`,
    so that callbacks find each one's direction for `mode="auto"`."""

    def result(self) -> dict:
        return {m.name: m.result() for m in self.metrics}


class GlueScore(keras.metrics.Metric):
    """The mean over tasks of each task's mean metric (`glue_score`), read from
    the tasks' own metrics."""

    def __init__(self, per_task: dict, name: str = "glue_score"):
        super().__init__(name=name)
        set_metric_direction(self, "up")
        self.per_task = per_task

    def update_state(self, *args, **kwargs):
        pass  # The tasks' metrics hold the state.

    def result(self):
        means = [
            ops.mean(ops.stack([ops.cast(m.result(), "float32") for m in metrics]))
            for metrics in self.per_task.values()
        ]
        return ops.mean(ops.stack(means))

    def reset_state(self):
        pass

    def get_config(self):
        raise NotImplementedError("Made by `TaskMetrics`, not serialized alone.")


class TaskMetrics(MetricGroup):
    """Every task's metrics of a student, each updated on its task's rows only and
    logged as `<task>_<metric>`, with `glue_score` when every task has its GLUE
    metrics (`metrics="glue"`).

    Args:
        tasks: the student's tasks, in head order (`task_id` indexes them).
        metrics: `"glue"` (each task's `glue_task_metrics` and `glue_score`), or
            a dict from task name to a metric or a list of them (names of
            `glue_task_metrics`, `"glue"`, or `keras.metrics.Metric`s).
    """

    def __init__(self, tasks, metrics):
        tasks = [get_task(t) for t in tasks]
        if isinstance(metrics, str) and metrics == "glue":
            metrics = {t.name: ["glue"] for t in tasks}
        if not isinstance(metrics, dict):
            raise ValueError(
                "A student's metrics are per task: pass metrics='glue' or a dict "
                "from task name to metrics, e.g. {'rte': ['accuracy'], 'stsb': "
                f"['pearson']}}; got {metrics!r}."
            )
        names = [t.name for t in tasks]
        unknown = [k for k in metrics if get_task(k).name not in names]
        if unknown:
            raise ValueError(
                f"Metrics for {unknown}, which the model has no head for; its "
                f"tasks: {names}."
            )
        self.per_task = {}
        for key, identifiers in metrics.items():
            task = get_task(key)
            identifiers = (
                identifiers if isinstance(identifiers, list) else [identifiers]
            )
            self.per_task[task.name] = [
                renamed(metric, f"{task.name}_{metric.name}")
                for identifier in identifiers
                for metric in resolve_metric(task, identifier)
            ]
        self.task_index = {name: names.index(name) for name in self.per_task}
        everything = [m for group in self.per_task.values() for m in group]
        every_task_glue = set(self.per_task) == set(names) and all(
            {m.name.removeprefix(f"{name}_") for m in group}
            >= {m.name for m in glue_task_metrics(name)}
            for name, group in self.per_task.items()
        )
        if every_task_glue:
            everything.append(GlueScore(self.per_task))
        super().__init__(everything, name="task_metrics")

    def update_tasks(self, task_ids, labels, outputs: dict):
        """Updates each task's metrics with the rows whose `task_ids` are its."""
        task_ids = ops.reshape(ops.cast(task_ids, "int32"), (-1,))
        labels = ops.reshape(ops.cast(labels, "float32"), (-1,))
        for name, group in self.per_task.items():
            mine = ops.cast(ops.equal(task_ids, self.task_index[name]), "float32")
            # Other tasks' rows may hold labels this task cannot read.
            task_labels = ops.where(mine > 0, labels, 0.0)
            for metric in group:
                metric.update_state(task_labels, outputs[name], sample_weight=mine)
