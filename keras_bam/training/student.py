"""The BAM student: multi-task training from teacher predictions, and its dev scores."""

from __future__ import annotations

import dataclasses
import logging
import time

import keras

from keras_bam.backend.distribution import distribution_scope
from keras_bam.backend.supported import check_backend
from keras_bam.data.multitask import TaskPart
from keras_bam.data.multitask import multitask_batches
from keras_bam.data.task_reader import check_task_data
from keras_bam.data.teacher_predictions import TeacherPredictions
from keras_bam.data.teacher_predictions import teacher_predictions_path
from keras_bam.distillation.annealing import TeacherAnnealing
from keras_bam.distillation.modes import get_distillation_mode
from keras_bam.evaluation.scoring import glue_scores
from keras_bam.models.packed_encoder import batch_packing
from keras_bam.models.task_models import MultiTaskModel
from keras_bam.tasks.registry import resolve_tasks
from keras_bam.training.checkpoint import TrainingCheckpoint
from keras_bam.training.recipes import FineTuningRecipe
from keras_bam.training.settings import DataSettings
from keras_bam.training.settings import DistillationSettings
from keras_bam.training.settings import check_all_used
from keras_bam.training.settings import with_keywords
from keras_bam.training.steps import evaluate_on_dev
from keras_bam.training.steps import fit_resumably
from keras_bam.training.steps import guarded_callbacks
from keras_bam.training.steps import make_optimizer
from keras_bam.training.steps import prepared_backbone
from keras_bam.training.task_weighting import task_multiples_and_weights

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class StudentRun:
    """What `train_student` produced.

    Args:
        tasks: the tasks, in head order.
        model: the trained `MultiTaskModel`.
        history: `fit`'s per-epoch logs (`gold_weight` is λ at the epoch's end).
        dev_metrics: task name to split name to GLUE metrics.
        glue_average: the mean over tasks of each task's GLUE score (averaged over
            its dev splits, so MNLI's matched and mismatched count as one task).
        multiples: task name to dataset multiple used.
        task_weights: task name to loss weight used.
        train_seconds: wall time of `fit`, compilation included.
        padding_fraction: padding share of the training batches.
        schedule: what the run trained: `sizes` (training examples per task,
            both orders counted), `steps_per_epoch`, `steps`, `epochs`,
            `batch_size`, `mixing` and `batching`.
        dev_outputs: task name to split name to the head's outputs on dev (logits,
            or score / 5), in example order.
    """

    tasks: list
    model: keras.Model
    history: dict
    dev_metrics: dict
    glue_average: float
    multiples: dict
    task_weights: dict
    train_seconds: float
    padding_fraction: float
    schedule: dict = dataclasses.field(default_factory=dict)
    dev_outputs: dict = dataclasses.field(default_factory=dict)

    def summary(self) -> dict:
        return {
            "tasks": [t.name for t in self.tasks],
            "backend": keras.backend.backend(),
            "dev_metrics": self.dev_metrics,
            "glue_average": self.glue_average,
            "multiples": self.multiples,
            "task_weights": self.task_weights,
            "train_seconds": self.train_seconds,
            "padding_fraction": self.padding_fraction,
            "schedule": self.schedule,
            "final_loss": self.history.get("loss", [None])[-1],
        }


def train_student(
    tasks,
    teacher_dir=None,
    backbone=None,
    tokenizer=None,
    recipe: FineTuningRecipe | None = None,
    distillation: DistillationSettings | str = "annealed",
    data: DataSettings | None = None,
    checkpoint_dir=None,
    save_every: int | None = None,
    callbacks=None,
    verbose="auto",
    **fields,
) -> StudentRun:
    """Trains a BAM multi-task student on several tasks and scores it on dev.

    Args:
        tasks: GLUE task names and `Task`s of your own.
        teacher_dir: the folder of `train_teacher`'s task folders, or a list of
            them (e.g. teachers of several seeds) whose predictions are combined
            per task (`teacher_combination`); for `teachers="given"`.
        backbone: a backbone spec or model (see `train_teacher`).
        tokenizer: the tokenizer, with a backbone model.
        recipe: BAM's multi-task recipe by default; for one task (a born-again
            single-task student) BAM's single-task recipe, as BAM switches,
            with a seed of its own (`FineTuningRecipe.born_again`: its
            teacher's default seed + 1000), so it does not retrace its
            teacher's head, dropout masks and data order.
        distillation: what the student learns from (`DistillationSettings`:
            BAM's teacher annealing by default), or its mode alone
            (`"annealed"`, `"fixed"`, `"gold"`).
        data: where and how GLUE is read (`DataSettings`); the teachers'
            predictions must have been made for the same training examples.
        checkpoint_dir: where to keep a `TrainingCheckpoint` (at epoch ends and
            every `save_every` steps); a run started again with the same arguments
            resumes from it at the same step, λ and data position.
        save_every: checkpoint every this many steps too.
        callbacks: extra Keras callbacks, after a `StopOnNonFiniteLoss` unless
            one is given (a NaN loss raises before a checkpoint is written).
        verbose: `fit`'s verbosity.
        **fields: `DistillationSettings` fields (`teachers`, `mixing`, ...) and
            `DataSettings` fields (`data_dir`, `train_limit`, ...) as keywords,
            replacing those of `distillation` and `data`.

    Returns:
        A `StudentRun`.

    Example:
    ```python
    for task in ["rte", "mrpc"]:
        keras_bam.train_teacher(task, data_dir="../shared/glue",
                                output_dir=f"runs/teachers/{task}")
    run = keras_bam.train_student(["rte", "mrpc"], data_dir="../shared/glue",
                                  teacher_dir="runs/teachers")
    print(run.glue_average, run.dev_metrics)
    ```
    """
    tasks, recipe, settings, data, teacher_dirs = _student_settings(
        tasks, recipe, distillation, data, fields, teacher_dir
    )
    with distribution_scope(recipe.distribution):
        model, batches, loader, run_config, report = _student_training(
            tasks, backbone, tokenizer, recipe, settings, data, teacher_dirs
        )
        total_steps = recipe.epochs * len(batches)
        callbacks = student_callbacks(callbacks, settings.distillation, total_steps)
        position = _checkpointed_position(
            checkpoint_dir, save_every, batches, model, run_config, callbacks
        )
        start = time.perf_counter()
        history = fit_resumably(
            model, batches, recipe.epochs, callbacks, position, verbose
        )
        train_seconds = time.perf_counter() - start
        dev_metrics, dev_outputs = _evaluate_tasks_on_dev(model, tasks, data, loader)
        return StudentRun(
            tasks=tasks,
            model=model,
            history=history,
            dev_metrics=dev_metrics,
            glue_average=glue_scores(dev_metrics)["average"],
            train_seconds=train_seconds,
            padding_fraction=batches.padding_fraction,
            dev_outputs=dev_outputs,
            **report,
        )


def _student_training(
    tasks, backbone, tokenizer, recipe, settings, data, teacher_dirs
) -> tuple:
    """The student's compiled model and training stream, inside the run's
    distribution scope.

    Returns:
        `(model, batches, loader, run_config, report)`: the compiled
        `_student_model`, the `_student_batches` stream, the run's `SplitLoader`,
        the checkpoint's `_student_run_config`, and the `StudentRun` fields
        `multiples`, `task_weights` and `schedule`.
    """
    backbone_model, tokenizer, _ = prepared_backbone(backbone, tokenizer, recipe)
    loader = data.loader(tokenizer, recipe.max_length)
    parts, sizes = _student_parts(tasks, data, loader, recipe, settings, teacher_dirs)
    batches, multiples, weights = _student_batches(
        parts, tasks, sizes, recipe, settings, backbone_model
    )
    model = _student_model(
        backbone_model,
        tokenizer,
        tasks,
        recipe,
        settings,
        weights,
        recipe.epochs * len(batches),
    )
    run_config = _student_run_config(
        tasks, recipe, settings, data, teacher_dirs, backbone_model
    )
    schedule = _student_schedule(sizes, batches, recipe, settings)
    report = dict(multiples=multiples, task_weights=weights, schedule=schedule)
    return model, batches, loader, run_config, report


def _student_schedule(sizes: dict, batches, recipe, settings) -> dict:
    """What a student trained (`StudentRun.schedule`)."""
    return {
        "sizes": sizes,
        "steps_per_epoch": len(batches),
        "steps": recipe.epochs * len(batches),
        "epochs": recipe.epochs,
        "batch_size": recipe.batch_size,
        "mixing": settings.mixing,
        "batching": recipe.batching,
    }


def _student_model(
    backbone_model, tokenizer, tasks, recipe, settings, weights, total_steps
) -> MultiTaskModel:
    """The student: a `MultiTaskModel` over `backbone_model` with a head per
    task, compiled with BAM's optimizer for `total_steps` steps.

    Args:
        backbone_model: the prepared backbone (`prepared_backbone`).
        tokenizer: its tokenizer (kept for export).
        tasks: the `Task`s, in head order.
        recipe: the student's `FineTuningRecipe`.
        settings: the `DistillationSettings`.
        weights: task name to loss weight.
        total_steps: the run's optimizer steps.
    """
    model = MultiTaskModel(
        backbone_model,
        tasks,
        dropout=recipe.dropout,
        distillation=settings.distillation,
        teacher_weight=settings.teacher_weight,
        distillation_temperature=settings.distillation_temperature,
        task_weights=[weights[t.name] for t in tasks],
        loss_reduction=recipe.loss_reduction,
        tokenizer=tokenizer,
        max_length=recipe.max_length,
    )
    model.compile(
        optimizer=make_optimizer(
            recipe, total_steps, backbone_model.num_layers, model.trainable_variables
        ),
        micro_batches=recipe.micro_batches,
    )
    return model


def _student_batches(parts, tasks, sizes, recipe, settings, backbone_model) -> tuple:
    """The student's batch stream, with BAM's dataset multiples and weights.

    Returns:
        `(batches, multiples, weights)`: the `multitask_batches` stream, and
        task name to its dataset multiple and to its loss weight
        (`task_multiples_and_weights`).
    """
    multiples, weights = task_multiples_and_weights(
        sizes, settings.weighting, settings.weighting_temperature
    )
    batches = multitask_batches(
        parts,
        tasks,
        batch_size=recipe.batch_size,
        multiples=multiples,
        mixing=settings.mixing,
        teachers=settings.teachers,
        seed=recipe.seed,
        batching=recipe.batching,
        teacher_combination=settings.teacher_combination,
        temperature=settings.distillation_temperature,
        packing=batch_packing(recipe.packing, backbone_model),
    )
    logger.info(
        "Student on %s: sizes %s, multiples %s, weights %s, %d steps/epoch, "
        "padding %.1f%%",
        [t.name for t in tasks],
        sizes,
        multiples,
        {k: round(v, 3) for k, v in weights.items()},
        len(batches),
        100 * batches.padding_fraction,
    )
    return batches, multiples, weights


def _checkpointed_position(
    checkpoint_dir, save_every, batches, model, run_config: dict, callbacks: list
) -> tuple:
    """Adds a `TrainingCheckpoint` in `checkpoint_dir` (if any) to `callbacks`
    and restores `model` from it; the `(epoch, batch)` to start from."""
    if checkpoint_dir is None:
        return (0, 0)
    checkpoint = TrainingCheckpoint(
        checkpoint_dir, len(batches), save_every, run_config=run_config
    )
    callbacks.append(checkpoint)
    return _resume_position(checkpoint, model) or (0, 0)


def _evaluate_tasks_on_dev(model, tasks, data, loader) -> tuple:
    """`evaluate_on_dev` for each task's head: `(metrics, outputs)`, each task
    name to that task's split name to metrics or outputs."""
    metrics, outputs = {}, {}
    for task in tasks:
        metrics[task.name], outputs[task.name] = evaluate_on_dev(
            model, task, data, loader
        )
    return metrics, outputs


def _resume_position(checkpoint: TrainingCheckpoint, model) -> tuple | None:
    """Restores `model` from `checkpoint`; the `(epoch, batch)` to resume
    from, or `None` when there is nothing to resume."""
    restored = checkpoint.restore(model)
    if restored is None:
        return None
    logger.info(
        "Resuming from %s at epoch %d, batch %d.", checkpoint.directory, *restored
    )
    return tuple(restored)


def _student_settings(tasks, recipe, distillation, data, fields, teacher_dir):
    """`train_student`'s arguments resolved and checked (the backend too): the
    `Task`s, the recipe (BAM's multi-task one unless given), the
    distillation and data settings with `fields` applied (a misspelt field
    raises `TypeError`), and the teacher folders as a list.

    Returns:
        `(tasks, recipe, distillation_settings, data_settings, teacher_dirs)`.
    """
    tasks = resolve_tasks(tasks)
    for task in tasks:
        check_task_data(task)
    check_backend()
    if recipe is None:  # One task: a born-again student, its seed not its teacher's.
        recipe = (
            FineTuningRecipe.born_again(FineTuningRecipe.bam_single_task())
            if len(tasks) == 1
            else FineTuningRecipe.bam_multi_task()
        )
    if isinstance(distillation, str):
        distillation = DistillationSettings(distillation=distillation)
    settings = with_keywords(distillation, fields)
    data = with_keywords(data or DataSettings(), fields)
    check_all_used(fields, "train_student")
    if settings.teachers == "given" and teacher_dir is None:
        raise ValueError("Pass `teacher_dir`, or use teachers='uninformative'/'none'.")
    teacher_dirs = (
        list(teacher_dir) if isinstance(teacher_dir, (list, tuple)) else [teacher_dir]
    )
    return tasks, recipe, settings, data, teacher_dirs


def _student_parts(tasks, data, loader, recipe, settings, teacher_dirs) -> tuple:
    """Each task's training examples (and swapped ones), with their teachers.

    Args:
        tasks: the `Task`s.
        data: the run's `DataSettings`.
        loader: the run's `SplitLoader`.
        recipe: the student's recipe (`double_unordered`).
        settings: the `DistillationSettings` (`teachers`).
        teacher_dirs: the teachers' folders (one per teacher of each task).

    Returns:
        `(parts, sizes)`: the `TaskPart`s in order, and task name to its
        training examples (both orders counted).
    """
    parts, sizes = [], {}
    for task in tasks:
        train, train_encoded = data.load_train(loader, task)
        blocks = [(train, train_encoded)]
        if recipe.double_unordered and task.double_unordered:
            swapped = train.swapped()
            blocks.append((swapped, loader.encode(swapped)))
        for examples, encoded in blocks:
            loaded, sources = [], []
            if settings.teachers == "given":
                sources = [
                    teacher_predictions_path(folder, task, examples.split)
                    for folder in teacher_dirs
                ]
                loaded = [TeacherPredictions.load(path) for path in sources]
            parts.append(TaskPart(examples, encoded, loaded, sources))
        sizes[task.name] = sum(len(examples) for examples, _ in blocks)
    return parts, sizes


def student_callbacks(callbacks, distillation: str, total_steps: int) -> list:
    """`fit`'s callbacks: guarded (`guarded_callbacks`), with a
    `TeacherAnnealing` added for an annealed distillation mode unless one is given,
    each annealing over the whole run's `total_steps` unless told otherwise
    (also when a resumed run fits in two parts)."""
    fit_callbacks = guarded_callbacks(callbacks)
    annealing = [c for c in fit_callbacks if isinstance(c, TeacherAnnealing)]
    if get_distillation_mode(distillation).annealed and not annealing:
        annealing = [TeacherAnnealing()]
        fit_callbacks.append(annealing[0])
    for callback in annealing:
        if callback.total_steps is None:
            callback.total_steps = total_steps
    return fit_callbacks


def _student_run_config(
    tasks, recipe, settings, data, teacher_dirs, backbone_model
) -> dict:
    """What must be equal for a checkpoint to resume a student's run.

    A run may resume on another number of devices or micro-batches (the same
    steps), so the recipe's `distribution` and `micro_batches` are left out.
    """
    recipe_values = recipe.to_dict()
    for key in ("distribution", "micro_batches"):
        recipe_values.pop(key, None)
    return {
        "tasks": [t.name for t in tasks],
        "recipe": recipe_values,
        **settings.to_dict(),
        "teachers_per_task": len(teacher_dirs),
        **data.training_sample(),
        "backbone_parameters": int(backbone_model.count_params()),
    }
