"""The BAM student: multi-task training from teacher predictions, and its dev scores."""

from __future__ import annotations

import dataclasses
import logging
import time

import keras
import numpy as np

from keras_bam.annealing import TeacherAnnealing
from keras_bam.backend import as_fit_input
from keras_bam.backend import distribution_scope
from keras_bam.callbacks import StopOnNonFiniteLoss
from keras_bam.checkpointing import TrainingCheckpoint
from keras_bam.data.batching import RemainingBatches
from keras_bam.data.loading import SplitLoader
from keras_bam.data.multitask import TaskPart
from keras_bam.data.multitask import multitask_batches
from keras_bam.data.teacher_predictions import TeacherPredictions
from keras_bam.data.teacher_predictions import teacher_predictions_path
from keras_bam.metrics import glue_metrics
from keras_bam.metrics import predictions_from_outputs
from keras_bam.models import MultiTaskModel
from keras_bam.packed_encoder import use_packing
from keras_bam.prediction import predict_outputs
from keras_bam.recipes import FineTuningRecipe
from keras_bam.task_weighting import WEIGHTINGS
from keras_bam.task_weighting import task_multiples_and_weights
from keras_bam.tasks import get_task
from keras_bam.teacher import make_optimizer
from keras_bam.teacher import prepared_backbone
from keras_bam.validation import check_backend

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


def _extend(history: dict, logs: dict):
    for key, values in logs.items():
        history.setdefault(key, []).extend(float(v) for v in values)


def train_student(
    tasks,
    data_dir=None,
    teacher_dir=None,
    backbone=None,
    tokenizer=None,
    recipe: FineTuningRecipe | None = None,
    distillation: str = "annealed",
    teachers: str = "given",
    teacher_weight: float = 0.5,
    mixing: str = "mixed",
    weighting: str = "bam",
    weighting_temperature: float = 2.0,
    distillation_temperature: float = 1.0,
    teacher_combination: str = "probabilities",
    source: str = "tsv",
    tfds_manual_dir=None,
    cache_dir=None,
    train_limit: int | None = None,
    eval_limit: int | None = None,
    train_sample_seed: int | None = None,
    checkpoint_dir=None,
    save_every: int | None = None,
    callbacks=None,
    verbose="auto",
) -> StudentRun:
    """Trains a BAM multi-task student on several GLUE tasks and scores it on dev.

    Args:
        tasks: the GLUE tasks.
        data_dir: the GLUE TSV folder (or TFDS's data folder with `source="tfds"`).
        teacher_dir: the folder holding `<task>/<task>_train_teacher.npz` (and
            `<task>_train_swapped_teacher.npz` for tasks trained on both orders),
            as `train_teacher` writes them; or a list of such folders, one per
            teacher (e.g. teachers of several seeds), whose predictions are
            combined per task (`teacher_combination`). Not needed with
            `teachers` other than `"given"`.
        backbone: a backbone spec or model (see `train_teacher`).
        tokenizer: the tokenizer, with a backbone model.
        recipe: BAM's multi-task recipe by default (lr 1e-4, batch 128, 6
            epochs); for one task (a born-again single-task student) BAM's
            single-task recipe, as BAM switches to it (lr 5e-5, batch 32, 3
            epochs). Its `batching` is BAM's random batches by default.
        distillation: `"annealed"` (BAM), `"fixed"` (teacher weight
            `teacher_weight`), or `"gold"` (plain multi-task training).
        teachers: `"given"`, `"uninformative"` (the control: uniform / mean
            teacher under the same schedule) or `"none"` (with `"gold"`).
        teacher_weight: the teacher's weight for `distillation="fixed"`.
        mixing: `"mixed"` (BAM: the tasks' examples batched together) or
            `"per_task"` (MT-DNN: one task per batch) batches.
        weighting: how much each task counts (see `task_multiples_and_weights`):
            `"bam"` (BAM's multiples and weights, from the eight GLUE training
            sizes), `"bam_trained"` (size^0.75 among the trained tasks only),
            `"proportional"` (each example once, weight 1), `"uniform"` or
            `"temperature"` (size^(1/weighting_temperature)).
        weighting_temperature: the temperature of `weighting="temperature"`.
        distillation_temperature: the softmax temperature applied to teacher
            logits (1 in BAM).
        teacher_combination: how several teachers of a task are combined:
            `"probabilities"` (their distributions averaged, MT-DNN's) or
            `"logits"`; see `combine_teachers`.
        source: `"tsv"` or `"tfds"`.
        tfds_manual_dir: TFDS's manual folder.
        cache_dir: the encoded-split cache.
        train_limit: use only the first N training examples of each task.
        eval_limit: evaluate on only the first N dev examples of each task.
        train_sample_seed: with `train_limit`, a random sample of N training
            examples of each task drawn with this seed instead (the teachers'
            predictions must have been made for the same sample).
        checkpoint_dir: where to keep a `TrainingCheckpoint` (at every epoch end
            and every `save_every` steps). A run started again with the same
            arguments and folder resumes from it at the same step, λ and data
            position; `None`: no checkpoints.
        save_every: checkpoint every this many steps too.
        callbacks: extra Keras callbacks. A `StopOnNonFiniteLoss` is added first
            unless one is given: a NaN or infinite loss stops the run with a
            `NonFiniteLossError` naming the task(s) and the global step, before a
            checkpoint of the diverged weights is written.
        verbose: `fit`'s verbosity.

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
    tasks = [get_task(t) for t in tasks]
    check_backend()
    if recipe is None:
        recipe = (
            FineTuningRecipe.bam_single_task()
            if len(tasks) == 1
            else FineTuningRecipe.bam_multi_task()
        )
    if weighting not in WEIGHTINGS:
        raise ValueError(f"Unknown weighting {weighting!r}; use one of {WEIGHTINGS}.")
    if teachers == "given" and teacher_dir is None:
        raise ValueError("Pass `teacher_dir`, or use teachers='uninformative'/'none'.")
    teacher_dirs = (
        list(teacher_dir) if isinstance(teacher_dir, (list, tuple)) else [teacher_dir]
    )
    with distribution_scope(recipe.distribution):
        backbone_model, tokenizer, _ = prepared_backbone(backbone, tokenizer, recipe)
        loader = SplitLoader(
            tokenizer, recipe.max_length, source, data_dir, tfds_manual_dir, cache_dir
        )

        parts, sizes = [], {}
        for task in tasks:
            train, train_encoded = loader.load(
                task, "train", train_limit, sample_seed=train_sample_seed
            )
            blocks = [(train, train_encoded)]
            if recipe.double_unordered and task.double_unordered:
                swapped = train.swapped()
                blocks.append((swapped, loader.encode(swapped)))
            for examples, encoded in blocks:
                loaded, sources = [], []
                if teachers == "given":
                    sources = [
                        teacher_predictions_path(folder, task, examples.split)
                        for folder in teacher_dirs
                    ]
                    loaded = [TeacherPredictions.load(path) for path in sources]
                parts.append(TaskPart(examples, encoded, loaded, sources))
            sizes[task.name] = sum(len(examples) for examples, _ in blocks)

        multiples, weights = task_multiples_and_weights(
            sizes, weighting, weighting_temperature
        )
        batches = multitask_batches(
            parts,
            tasks,
            batch_size=recipe.batch_size,
            multiples=multiples,
            mixing=mixing,
            teachers=teachers,
            seed=recipe.seed,
            batching=recipe.batching,
            teacher_combination=teacher_combination,
            temperature=distillation_temperature,
            packing=use_packing(recipe.packing, backbone_model),
        )
        total_steps = recipe.epochs * len(batches)
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

        model = MultiTaskModel(
            backbone_model,
            tasks,
            dropout=recipe.dropout,
            distillation=distillation,
            teacher_weight=teacher_weight,
            distillation_temperature=distillation_temperature,
            task_weights=[weights[t.name] for t in tasks],
            loss_reduction=recipe.loss_reduction,
            tokenizer=tokenizer,
            max_length=recipe.max_length,
        )
        model.compile(
            optimizer=make_optimizer(
                recipe,
                total_steps,
                backbone_model.num_layers,
                model.trainable_variables,
            ),
            micro_batches=recipe.micro_batches,
        )
        fit_callbacks = list(callbacks or [])
        if not any(isinstance(c, StopOnNonFiniteLoss) for c in fit_callbacks):
            # First, so that it raises before a checkpoint saves the step's weights.
            fit_callbacks.insert(0, StopOnNonFiniteLoss())
        annealing = [c for c in fit_callbacks if isinstance(c, TeacherAnnealing)]
        if distillation == "annealed" and not annealing:
            annealing = [TeacherAnnealing()]
            fit_callbacks.append(annealing[0])
        for callback in annealing:
            # The total is the whole run's, also when a resumed run fits in two parts.
            if callback.total_steps is None:
                callback.total_steps = total_steps
        epoch, batch = 0, 0
        if checkpoint_dir is not None:
            checkpoint = TrainingCheckpoint(
                checkpoint_dir,
                steps_per_epoch=len(batches),
                save_every=save_every,
                # What must be equal for the checkpoint to resume this run.
                run_config={
                    "tasks": [t.name for t in tasks],
                    # A run may resume on another number of devices, or
                    # micro-batches (the same steps).
                    "recipe": {
                        k: v
                        for k, v in recipe.to_dict().items()
                        if k not in ("distribution", "micro_batches")
                    },
                    "distillation": distillation,
                    "teachers": teachers,
                    "teacher_weight": teacher_weight,
                    "mixing": mixing,
                    "weighting": weighting,
                    "weighting_temperature": weighting_temperature,
                    "distillation_temperature": distillation_temperature,
                    "teacher_combination": teacher_combination,
                    "teachers_per_task": len(teacher_dirs),
                    "train_limit": train_limit,
                    "train_sample_seed": train_sample_seed,
                    "backbone_parameters": int(backbone_model.count_params()),
                },
            )
            position = checkpoint.restore(model)
            if position is not None:
                epoch, batch = position
                logger.info(
                    "Resuming from %s at epoch %d, batch %d.",
                    checkpoint_dir,
                    epoch,
                    batch,
                )
            fit_callbacks.append(checkpoint)
        start = time.perf_counter()
        history = {}
        if batch and epoch < recipe.epochs:  # Finish the interrupted epoch first.
            batches.set_epoch(epoch)
            part = model.fit(
                as_fit_input(RemainingBatches(batches, batch)),
                epochs=1,
                shuffle=False,
                callbacks=fit_callbacks,
                verbose=verbose,
            )
            _extend(history, part.history)
            epoch += 1
        if epoch < recipe.epochs:
            batches.set_epoch(epoch)
            part = model.fit(
                as_fit_input(batches),
                initial_epoch=epoch,
                epochs=recipe.epochs,
                shuffle=False,
                callbacks=fit_callbacks,
                verbose=verbose,
            )
            _extend(history, part.history)
        train_seconds = time.perf_counter() - start

        dev_metrics, dev_outputs, scores = {}, {}, []
        for task in tasks:
            dev_metrics[task.name], dev_outputs[task.name] = {}, {}
            for split in task.eval_split:
                dev, dev_encoded = loader.load(task, split, eval_limit)
                outputs = predict_outputs(model, dev_encoded)[task.name]
                dev_outputs[task.name][split] = outputs
                predictions = predictions_from_outputs(task, outputs)
                dev_metrics[task.name][split] = glue_metrics(
                    task, dev.labels, predictions
                )
            scores.append(
                np.mean([m["score"] for m in dev_metrics[task.name].values()])
            )
            logger.info("%s: %s", task.display_name, dev_metrics[task.name])
        return StudentRun(
            tasks=tasks,
            model=model,
            history=history,
            dev_metrics=dev_metrics,
            glue_average=float(np.mean(scores)),
            multiples=multiples,
            task_weights=weights,
            train_seconds=train_seconds,
            padding_fraction=batches.padding_fraction,
            schedule={
                "sizes": sizes,
                "steps_per_epoch": len(batches),
                "steps": total_steps,
                "epochs": recipe.epochs,
                "batch_size": recipe.batch_size,
                "mixing": mixing,
                "batching": recipe.batching,
            },
            dev_outputs=dev_outputs,
        )
