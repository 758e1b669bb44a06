"""Out-of-fold teacher predictions: the teacher never predicts what it trained on.

A fine-tuned teacher's in-sample predictions are nearly one-hot (it has fit
them), which leaves the student little "dark knowledge" to learn from; the
out-of-fold ones carry the teacher's real uncertainty.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os

import keras
import numpy as np

from keras_bam.backend.allocator import release_freed_memory
from keras_bam.data.task_reader import check_task_data
from keras_bam.data.teacher_predictions import TeacherPredictions
from keras_bam.models.backbones import new_backbone_and_tokenizer
from keras_bam.tasks.registry import get_task
from keras_bam.tasks.registry import resolve_tasks
from keras_bam.tasks.task import Task
from keras_bam.training.recipes import FineTuningRecipe
from keras_bam.training.run_folder import TeacherFolder
from keras_bam.training.settings import DataSettings
from keras_bam.training.settings import check_all_used
from keras_bam.training.settings import with_keywords
from keras_bam.training.teacher import train_teacher

logger = logging.getLogger(__name__)


def fold_assignment(num_examples: int, folds: int, seed: int = 0) -> np.ndarray:
    """The fold of each example: a seeded shuffle cut into `folds` near-equal parts.

    Args:
        num_examples: how many examples.
        folds: how many folds (at least 2, at most `num_examples`).
        seed: the shuffling seed.

    Returns:
        An int64 array of fold indices in `[0, folds)`, one per example.

    Example:
    ```python
    # e.g. [2, 0, 1, 1, 0, 2, 0, 1, 2, 0]:
    keras_bam.training.fold_assignment(10, 3)
    ```
    """
    if not 2 <= folds <= num_examples:
        raise ValueError(
            f"folds must be between 2 and the number of examples ({num_examples}), "
            f"got {folds}."
        )
    order = np.random.default_rng(seed).permutation(num_examples)
    fold_of = np.empty(num_examples, dtype=np.int64)
    fold_of[order] = np.arange(num_examples) % folds
    return fold_of


def prediction_statistics(task: Task, outputs, labels) -> dict:
    """How a teacher's training-set predictions look against the gold labels.

    Classification: `accuracy` and `mean_confidence` (the mean probability of the
    predicted class; near 1 when the predictions are nearly one-hot). Regression
    (STS-B): `mean_absolute_error` on the 0–5 scale.

    Args:
        task: the task.
        outputs: the teacher's outputs (logits, or score / 5).
        labels: the gold labels.

    Example:
    ```python
    task = keras_bam.get_task("rte")
    keras_bam.training.prediction_statistics(task, logits, labels)
    ```
    """
    task = get_task(task)
    outputs = np.asarray(outputs, dtype=np.float64)
    labels = np.asarray(labels)
    if task.is_regression:
        error = np.abs(5.0 * outputs.reshape(-1) - labels.astype(np.float64))
        return {"mean_absolute_error": float(error.mean())}
    shifted = outputs - outputs.max(axis=-1, keepdims=True)
    probabilities = np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True)
    return {
        "accuracy": float(np.mean(probabilities.argmax(-1) == labels)),
        "mean_confidence": float(probabilities.max(-1).mean()),
    }


@dataclasses.dataclass
class CrossFitRun:
    """What `cross_fit_teacher` produced.

    Args:
        task: the task.
        folds: the number of folds.
        predictions_paths: split name to the assembled out-of-fold predictions
            file (the same names `train_teacher` writes, so `train_student` reads
            them unchanged).
        fold_dev_metrics: per fold, split name to the fold teacher's dev metrics.
        in_sample: `prediction_statistics` of the fold teachers on the examples
            they trained on (averaged over folds).
        out_of_fold: `prediction_statistics` of the assembled out-of-fold
            predictions.
        train_seconds: the fold teachers' summed training time.
    """

    task: Task
    folds: int
    predictions_paths: dict
    fold_dev_metrics: list
    in_sample: dict
    out_of_fold: dict
    train_seconds: float

    def summary(self) -> dict:
        return {
            "task": self.task.name,
            "folds": self.folds,
            "predictions_paths": self.predictions_paths,
            "fold_dev_metrics": self.fold_dev_metrics,
            "in_sample": self.in_sample,
            "out_of_fold": self.out_of_fold,
            "train_seconds": self.train_seconds,
        }


def cross_fit_teacher(
    task: str | Task,
    output_dir: str | os.PathLike,
    folds: int = 5,
    fold_seed: int = 0,
    backbone=None,
    tokenizer=None,
    recipe: FineTuningRecipe | None = None,
    data: DataSettings | None = None,
    verbose="auto",
    **data_fields,
) -> CrossFitRun:
    """Teacher predictions made out of fold (k-fold cross-fitting).

    The training set is cut into `folds` parts; for each part a teacher is
    fine-tuned on the other parts and predicts the held-out one, so every
    training example gets a prediction from a teacher that never saw it. Tasks
    trained on both text orders keep an example and its swap in the same fold.
    The result is written where `train_teacher` writes its predictions
    (`output_dir/<task>_train_teacher.npz`, `..._train_swapped_teacher.npz`), so
    `train_student(teacher_dir=<parent of output_dir>)` uses it unchanged.

    Args:
        task: a GLUE task name or a `Task` of your own.
        output_dir: the task's teacher folder (fold teachers go to
            `output_dir/fold<k>`).
        folds: the number of folds.
        fold_seed: seeds the fold assignment.
        backbone: a backbone spec, or a function returning a new backbone model
            (then pass `tokenizer`); each fold starts from a fresh copy.
        tokenizer: the tokenizer, with a backbone function.
        recipe: the fold teachers' recipe (BAM's single-task recipe by default).
        data: where and how GLUE is read (`DataSettings`).
        verbose: `fit`'s verbosity.
        **data_fields: `DataSettings` fields as keywords (`data_dir`,
            `train_limit`, ...), replacing `data`'s.

    Returns:
        A `CrossFitRun`; its summary is also written to
        `output_dir/<task>_cross_fit.json`.

    Example:
    ```python
    run = keras_bam.cross_fit_teacher("rte", "runs/oof_teachers/rte", folds=5,
                                      data_dir="../shared/glue")
    keras_bam.train_student(["rte"], data_dir="../shared/glue",
                            teacher_dir="runs/oof_teachers")
    ```
    """
    (task,) = resolve_tasks([task])
    check_task_data(task)
    recipe = recipe or FineTuningRecipe.bam_single_task()
    folder = TeacherFolder(output_dir, task.name)
    data = with_keywords(data or DataSettings(), data_fields)
    check_all_used(data_fields, "cross_fit_teacher")
    assembled, in_sample, fold_dev_metrics, seconds, train = _fit_folds(
        task, folds, fold_seed, backbone, tokenizer, recipe, folder, data, verbose
    )
    result = CrossFitRun(
        task=task,
        folds=folds,
        predictions_paths=_save_assembled(assembled, folder, folds, fold_seed),
        fold_dev_metrics=fold_dev_metrics,
        in_sample={k: float(np.mean([s[k] for s in in_sample])) for k in in_sample[0]},
        out_of_fold=prediction_statistics(
            task, assembled["train"].outputs, train.labels
        ),
        train_seconds=seconds,
    )
    with open(folder.cross_fit_summary, "w") as f:
        json.dump({**result.summary(), "recipe": recipe.to_dict()}, f, indent=2)
    return result


def _take_held_out(task, assembled: dict, paths: dict, held_out, labels) -> dict:
    """Copies a fold teacher's predictions of its held-out examples into
    `assembled` (split name to `TeacherPredictions`, the first fold's
    predictions as the start); returns the fold teacher's
    `prediction_statistics` on the training examples it fit."""
    for split, path in paths.items():
        predictions = TeacherPredictions.load(path)
        if split not in assembled:
            assembled[split] = predictions
            assembled[split].outputs = predictions.outputs.copy()
        else:
            assembled[split].outputs[held_out] = predictions.outputs[held_out]
        if split == "train":
            statistics = prediction_statistics(
                task, predictions.outputs[~held_out], labels[~held_out]
            )
    return statistics


def _fit_folds(
    task, folds, fold_seed, backbone, tokenizer, recipe, folder, data, verbose
):
    """Fine-tunes one teacher per fold on the other folds; returns the assembled
    out-of-fold predictions (split name to `TeacherPredictions`), each fold's
    in-sample statistics and dev metrics, the summed training time and the
    training set."""
    fold_of = None
    assembled, in_sample, fold_dev_metrics, seconds = {}, [], [], 0.0
    for fold in range(folds):
        backbone_model, fold_tokenizer = new_backbone_and_tokenizer(backbone, tokenizer)
        if fold_of is None:  # The first fold's tokenizer encodes (and caches).
            train, _ = data.load_train(
                data.loader(fold_tokenizer, recipe.max_length), task
            )
            fold_of = fold_assignment(len(train), folds, fold_seed)
        held_out = fold_of == fold
        run = train_teacher(
            task,
            backbone=backbone_model,
            tokenizer=fold_tokenizer,
            recipe=recipe,
            output_dir=folder.fold(fold).path,
            train_indices=np.flatnonzero(~held_out),
            save_model=False,
            data=data,
            verbose=verbose,
        )
        seconds += run.train_seconds
        fold_dev_metrics.append(run.dev_metrics)
        in_sample.append(
            _take_held_out(
                task, assembled, run.predictions_paths, held_out, train.labels
            )
        )
        logger.info(
            "%s fold %d/%d: dev %s", task.display_name, fold + 1, folds, run.dev_metrics
        )
        del run
        keras.backend.clear_session()
        release_freed_memory()
    return assembled, in_sample, fold_dev_metrics, seconds, train


def _save_assembled(assembled: dict, folder, folds: int, fold_seed: int) -> dict:
    """Writes the assembled out-of-fold predictions where `train_teacher` writes
    its own, marked with the folds; returns split name to path."""
    paths = {}
    for split, predictions in assembled.items():
        predictions.metadata.update(cross_fitted_folds=folds, fold_seed=fold_seed)
        paths[split] = predictions.save(folder.predictions(split))
    return paths
