"""Single-task teachers: fine-tune, evaluate on dev, write train-set predictions."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time

import keras
import numpy as np

from keras_bam.backend.distribution import cluster_barrier
from keras_bam.backend.distribution import distribution_scope
from keras_bam.backend.distribution import is_chief
from keras_bam.backend.supported import check_backend
from keras_bam.data.batching import BucketedBatches
from keras_bam.data.batching import RandomBatches
from keras_bam.data.encoding import concatenate_encoded
from keras_bam.data.io_utils import save_dev_outputs
from keras_bam.data.task_reader import check_task_data
from keras_bam.data.task_reader import training_targets
from keras_bam.evaluation.prediction import write_teacher_predictions
from keras_bam.models.packed_encoder import batch_packing
from keras_bam.models.task_models import SingleTaskModel
from keras_bam.tasks.registry import resolve_tasks
from keras_bam.tasks.task import Task
from keras_bam.training.recipes import FineTuningRecipe
from keras_bam.training.run_folder import TeacherFolder
from keras_bam.training.settings import DataSettings
from keras_bam.training.settings import check_all_used
from keras_bam.training.settings import with_keywords
from keras_bam.training.steps import evaluate_on_dev
from keras_bam.training.steps import fit_resumably
from keras_bam.training.steps import guarded_callbacks
from keras_bam.training.steps import make_optimizer
from keras_bam.training.steps import prepared_backbone

logger = logging.getLogger(__name__)


def task_loss(task: Task, reduction: str = "sum"):
    """Cross-entropy on logits, or squared error for regression, summed over the
    batch as in BAM (or averaged with `reduction="mean"`, over the rows with
    nonzero weight: padding rows for data parallelism do not count)."""
    if reduction == "mean":
        reduction = "mean_with_sample_weight"
    if task.is_regression:
        return keras.losses.MeanSquaredError(reduction=reduction)
    return keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction=reduction
    )


@dataclasses.dataclass
class TeacherRun:
    """What `train_teacher` produced.

    Args:
        task: the task.
        model: the fine-tuned `SingleTaskModel`.
        history: `fit`'s per-epoch logs.
        dev_metrics: split name to GLUE metrics.
        train_seconds: wall time of `fit`, compilation included.
        train_examples_per_second: examples per second of `fit`, compilation
            included.
        padding_fraction: share of padding in the training batches.
        predictions_paths: split name (`"train"`, and `"train_swapped"` for tasks
            trained on both text orders) to the teacher-predictions file.
        model_path: where the `.keras` model was written.
        dev_outputs: split name to the model's outputs on it, in example order.
    """

    task: Task
    model: keras.Model
    history: dict
    dev_metrics: dict
    train_seconds: float
    train_examples_per_second: float
    padding_fraction: float
    predictions_paths: dict = dataclasses.field(default_factory=dict)
    model_path: str | None = None
    dev_outputs: dict = dataclasses.field(default_factory=dict)

    def summary(self) -> dict:
        return {
            "task": self.task.name,
            "backend": keras.backend.backend(),
            "dev_metrics": self.dev_metrics,
            "train_seconds": self.train_seconds,
            "train_examples_per_second": self.train_examples_per_second,
            "padding_fraction": self.padding_fraction,
            "final_loss": self.history.get("loss", [None])[-1],
            "predictions_paths": self.predictions_paths,
            "model_path": self.model_path,
        }


def teacher_recipe(recipe: FineTuningRecipe | None) -> FineTuningRecipe:
    """`recipe`, BAM's single-task recipe by default; refuses micro-batches,
    which only a student's `MultiTaskModel` splits."""
    recipe = recipe or FineTuningRecipe.bam_single_task()
    if recipe.micro_batches != 1:
        raise ValueError(
            "micro_batches is a student's setting (MultiTaskModel); a teacher "
            f"trains whole batches: got micro_batches={recipe.micro_batches}."
        )
    return recipe


def _teacher_model(backbone_model, tokenizer, task, recipe, total_steps):
    """A teacher's `SingleTaskModel` on `backbone_model`, compiled with BAM's
    optimizer for `total_steps` and the task's loss."""
    model = SingleTaskModel(
        backbone_model,
        task,
        dropout=recipe.dropout,
        tokenizer=tokenizer,
        max_length=recipe.max_length,
    )
    model.compile(
        optimizer=make_optimizer(
            recipe, total_steps, backbone_model.num_layers, model.trainable_variables
        ),
        loss=task_loss(task, recipe.loss_reduction),
    )
    return model


def train_teacher(
    task: str | Task,
    backbone: str | keras.Model | None = None,
    tokenizer=None,
    recipe: FineTuningRecipe | None = None,
    output_dir: str | os.PathLike | None = None,
    data: DataSettings | None = None,
    train_indices=None,
    save_model: bool = True,
    save_optimizer: bool = True,
    callbacks=None,
    verbose: int | str = "auto",
    **data_fields,
) -> TeacherRun:
    """Fine-tunes a single-task BAM teacher, evaluates it and writes its predictions.

    Args:
        task: a GLUE task name or a `Task` of your own.
        backbone: a backbone spec (see `load_backbone`; the offline MiniLM by
            default) or a backbone model.
        tokenizer: the tokenizer; loaded from `backbone` when it is a spec.
        recipe: the `FineTuningRecipe`; BAM's single-task recipe by default.
        output_dir: where to write its `TeacherFolder` (predictions, model, metrics).
        data: where and how GLUE is read (`DataSettings`).
        train_indices: fit on only these training positions (after
            `train_limit`); predictions are still written for all, so the ones
            left out are out-of-sample (see `cross_fit_teacher`).
        save_model: write `<task>_teacher.keras` into `output_dir`.
        save_optimizer: keep the optimizer's state (and compile settings) in that
            file, to train on from it; without, the file is a third of the size.
        callbacks: extra Keras callbacks for `fit`, after a `StopOnNonFiniteLoss`
            unless one is given (a NaN loss raises `NonFiniteLossError`).
        verbose: `fit`'s verbosity.
        **data_fields: `DataSettings` fields as keywords (`data_dir`,
            `train_limit`, ...), replacing `data`'s.

    Returns:
        A `TeacherRun`.

    Example:
    ```python
    run = keras_bam.train_teacher("rte", data_dir="../shared/glue",
                                  output_dir="runs/rte")
    print(run.dev_metrics)  # {'dev': {'accuracy': ..., 'score': ...}}
    print(run.predictions_paths)  # {'train': 'runs/rte/rte_train_teacher.npz'}
    ```
    """
    (task,) = resolve_tasks([task])
    check_task_data(task)
    check_backend()
    recipe = teacher_recipe(recipe)
    data = with_keywords(data or DataSettings(), data_fields)
    check_all_used(data_fields, "train_teacher")
    with distribution_scope(recipe.distribution):
        backbone_model, tokenizer, backbone_name = prepared_backbone(
            backbone, tokenizer, recipe
        )
        loader = data.loader(tokenizer, recipe.max_length)
        prediction_sets, fit_encoded, fit_labels = _teacher_training_sets(
            task, data, loader, recipe, train_indices
        )
        batches = _teacher_batches(
            task, fit_encoded, fit_labels, recipe, backbone_model
        )
        total_steps = recipe.epochs * len(batches)
        model = _teacher_model(backbone_model, tokenizer, task, recipe, total_steps)
        callbacks = guarded_callbacks(callbacks)
        start = time.perf_counter()
        history = fit_resumably(
            model, batches, recipe.epochs, callbacks, verbose=verbose
        )
        train_seconds = time.perf_counter() - start
        dev_metrics, dev_outputs = evaluate_on_dev(model, task, data, loader)
        run = TeacherRun(
            task=task,
            model=model,
            history=history,
            dev_metrics=dev_metrics,
            train_seconds=train_seconds,
            train_examples_per_second=len(fit_encoded) * recipe.epochs / train_seconds,
            padding_fraction=batches.padding_fraction,
            dev_outputs=dev_outputs,
        )
        if output_dir is not None:
            folder = TeacherFolder(output_dir, task.name)
            save_options = {"include_optimizer": save_optimizer} if save_model else None
            _write_teacher_files(
                run, recipe, prediction_sets, folder, str(backbone_name), save_options
            )
        return run


def _teacher_batches(task, encoded, labels, recipe, backbone_model):
    """A teacher's batch stream: BAM's random batches (or length-grouped ones,
    by the recipe's `batching`), packed when the backbone allows it.

    Args:
        task: the task.
        encoded: the encoded examples to fit on.
        labels: their gold labels.
        recipe: the teacher's `FineTuningRecipe`.
        backbone_model: the prepared backbone (`batch_packing`).
    """
    stream = RandomBatches if recipe.batching == "random" else BucketedBatches
    batches = stream(
        encoded,
        training_targets(task, labels),
        batch_size=recipe.batch_size,
        shuffle=True,
        seed=recipe.seed,
        packing=batch_packing(recipe.packing, backbone_model),
    )
    logger.info(
        "%s teacher: %d examples, %d steps/epoch, padding %.1f%%, shapes %s",
        task.display_name,
        len(encoded),
        len(batches),
        100 * batches.padding_fraction,
        batches.shapes,
    )
    return batches


def _teacher_training_sets(
    task: Task, data: DataSettings, loader, recipe: FineTuningRecipe, positions
) -> tuple:
    """What a teacher predicts and what it fits on.

    Args:
        task: the task.
        data: the run's `DataSettings`.
        loader: the run's `SplitLoader`.
        recipe: the teacher's recipe (`double_unordered`).
        positions: the training positions to fit on (`train_indices`), or
            `None` for all.

    Returns:
        `(prediction_sets, fit_encoded, fit_labels)`: the `(examples, encoded)`
        pairs to write predictions for (the training set, and its swapped
        order for tasks trained on both), and the encoded examples and labels
        to fit on (the chosen positions of each).
    """
    train, train_encoded = data.load_train(loader, task)
    fit_positions = np.arange(len(train))
    if positions is not None:
        fit_positions = np.asarray(positions, dtype=np.int64)
        if fit_positions.size == 0 or not np.all(
            (fit_positions >= 0) & (fit_positions < len(train))
        ):
            raise ValueError(
                f"train_indices must be positions in the {len(train)} training "
                f"examples of {task.display_name}, got {fit_positions.size} "
                f"ranging over [{fit_positions.min(initial=0)}, "
                f"{fit_positions.max(initial=0)}]."
            )
    prediction_sets = [(train, train_encoded)]
    fit_encoded = train_encoded.select(fit_positions)
    fit_labels = train.labels[fit_positions]
    if recipe.double_unordered and task.double_unordered:
        swapped = train.swapped()
        swapped_encoded = loader.encode(swapped)
        prediction_sets.append((swapped, swapped_encoded))
        fit_encoded = concatenate_encoded(
            fit_encoded, swapped_encoded.select(fit_positions)
        )
        fit_labels = np.concatenate([fit_labels, swapped.labels[fit_positions]])
    return prediction_sets, fit_encoded, fit_labels


def _write_teacher_files(
    run: TeacherRun,
    recipe: FineTuningRecipe,
    prediction_sets: list,
    folder: TeacherFolder,
    backbone: str,
    save_options: dict | None,
):
    """Writes a trained teacher's dev outputs, training-set predictions, model
    (unless `save_options`, `model.save`'s options, is `None`) and summary into its
    `TeacherFolder`; in a cluster only process 0 writes, while every process
    takes part in predicting."""
    task = run.task
    for examples, encoded in prediction_sets:
        run.predictions_paths[examples.split] = write_teacher_predictions(
            run.model,
            examples,
            encoded,
            folder.predictions(examples.split),
            backbone=backbone,
            recipe=recipe.to_dict(),
            backend=keras.backend.backend(),
        )
    if save_options is not None:
        run.model_path = folder.model
    if is_chief():
        os.makedirs(folder.path, exist_ok=True)
        save_dev_outputs(folder.dev_outputs, {task.name: run.dev_outputs})
        if save_options is not None:
            run.model.save(run.model_path, **save_options)
        with open(folder.summary, "w") as f:
            json.dump({**run.summary(), "recipe": recipe.to_dict()}, f, indent=2)
    cluster_barrier(f"{task.name} teacher written")  # Others may read them next.
