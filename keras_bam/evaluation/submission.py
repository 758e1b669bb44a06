"""Test-set prediction files: GLUE's leaderboard files, and the same for your tasks."""

from __future__ import annotations

import csv
import os

import numpy as np

from keras_bam.evaluation.scoring import predictions_from_outputs
from keras_bam.tasks.registry import get_task
from keras_bam.tasks.task import Task


def format_predictions(task: str | Task, outputs) -> list:
    """Model outputs as the strings a prediction file holds for `task` (for
    GLUE's tasks, what its leaderboard expects).

    Classification: the task's label string (GLUE's TSV labels: `"entailment"`,
    `"1"`, ...; a task of your own's class names). Regression: the score on the
    task's scale (STS-B's 0-5), clipped to its range, with three decimals.
    """
    task = get_task(task)
    predictions = predictions_from_outputs(task, outputs)
    if task.is_regression:
        return [f"{v:.3f}" for v in np.clip(predictions, *task.score_range)]
    return [task.written_labels[int(i)] for i in predictions]


def write_submission_file(path: str | os.PathLike, rows: list) -> str:
    """Writes `index<TAB>prediction` rows under GLUE's header; returns the path."""
    path = os.fspath(path)
    partial = path + ".partial"
    with open(partial, "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(["index", "prediction"])
        writer.writerows(enumerate(rows))
    os.replace(partial, path)
    return path


def write_glue_submission(
    model, loader, output_dir, predict, limit: int | None = None
) -> dict:
    """Predicts every test split of `model`'s tasks and writes their files.

    Each task's test splits go to their `submission_file` names (GLUE's
    official `RTE.tsv`, `MNLI-m.tsv`, `MNLI-mm.tsv`, `STS-B.tsv`, ...; a task
    of your own's `<task>_test.tsv`), with `index` the example's
    position in the test file (GLUE's `index` column) and the prediction as
    `format_predictions` writes it. When the model has an MNLI head, the AX
    diagnostic is predicted with it into `AX.tsv`, as GLUE asks.

    Args:
        model: a `MultiTaskModel` (or a `SingleTaskModel`).
        loader: the run's `SplitLoader` (same tokenizer and length as training).
        output_dir: the folder for the files.
        predict: `predict(model, encoded)` returning the model's outputs in example
            order (`keras_bam.evaluation.predict_outputs`).
        limit: predict only the first N examples of each test split (a smoke
            run's files, which GLUE's server does not take).

    Returns:
        File name to the number of predictions written.

    Example:
    ```python
    loader = keras_bam.data.SplitLoader(tokenizer, data_dir="../shared/glue")
    keras_bam.evaluation.write_glue_submission(
        student, loader, "runs/submission", keras_bam.evaluation.predict_outputs)
    ```
    """
    os.makedirs(output_dir, exist_ok=True)
    tasks = getattr(model, "tasks", None) or [model.task]
    jobs = []
    for task in tasks:
        for split, filename in task.submission_file.items():
            jobs.append((task, task, split, filename))
    if any(t.name == "mnli" for t in tasks):
        ax = get_task("ax")
        jobs.append((ax, get_task("mnli"), "test", ax.submission_file["test"]))
    written = {}
    for data_task, head_task, split, filename in jobs:
        _, encoded = loader.load(data_task, split, limit)
        outputs = predict(model, encoded)
        if isinstance(outputs, dict):
            outputs = outputs[head_task.name]
        rows = format_predictions(head_task, outputs)
        write_submission_file(os.path.join(output_dir, filename), rows)
        written[filename] = len(rows)
    return written
