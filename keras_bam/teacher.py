"""Single-task teachers: fine-tune, evaluate on dev, write train-set predictions."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time

import keras
import numpy as np

from keras_bam.backbones import resolve_backbone_and_tokenizer
from keras_bam.backbones import with_precision
from keras_bam.backend import as_fit_input
from keras_bam.backend import cluster_barrier
from keras_bam.backend import distribution_scope
from keras_bam.backend import is_chief
from keras_bam.backend import set_seed
from keras_bam.callbacks import StopOnNonFiniteLoss
from keras_bam.data.batching import BucketedBatches
from keras_bam.data.batching import RandomBatches
from keras_bam.data.encoding import concatenate_encoded
from keras_bam.data.loading import SplitLoader
from keras_bam.data.teacher_predictions import teacher_predictions_file
from keras_bam.io_utils import save_dev_outputs
from keras_bam.layers import reseed_dropout
from keras_bam.metrics import glue_metrics
from keras_bam.metrics import predictions_from_outputs
from keras_bam.models import SingleTaskModel
from keras_bam.optimizers import AdamWeightDecay
from keras_bam.optimizers import bert_layerwise_lr_multipliers
from keras_bam.optimizers import check_lr_multipliers
from keras_bam.packed_encoder import use_packing
from keras_bam.prediction import predict_outputs
from keras_bam.prediction import write_teacher_predictions
from keras_bam.recipes import FineTuningRecipe
from keras_bam.schedules import WarmupLinearDecay
from keras_bam.tasks import GlueTask
from keras_bam.tasks import get_task
from keras_bam.validation import check_backbone
from keras_bam.validation import check_backend

logger = logging.getLogger(__name__)


def training_targets(task: GlueTask, labels: np.ndarray) -> np.ndarray:
    """Gold labels as training targets: int32 classes, or `(n, 1)` scaled scores."""
    if task.is_regression:
        return (np.asarray(labels, np.float32) / task.target_scale)[:, None]
    return np.asarray(labels, np.int32)


def make_optimizer(
    recipe: FineTuningRecipe, total_steps: int, num_layers: int, variables=None
):
    """BAM's optimizer for `total_steps` steps of a `num_layers`-layer backbone.

    With layer-wise decay on, `variables` (the model's trainable variables) are
    checked to have a layer each (`check_lr_multipliers`), as BAM does.
    """
    rules = bert_layerwise_lr_multipliers(num_layers, recipe.layerwise_decay)
    if variables is not None and recipe.layerwise_decay != 1.0:
        check_lr_multipliers(rules, variables)
    schedule = WarmupLinearDecay(
        recipe.learning_rate,
        total_steps=total_steps,
        warmup_steps=int(total_steps * recipe.warmup_fraction),
        decay_from_warmup=recipe.decay_from_warmup,
    )
    optimizer = AdamWeightDecay(
        learning_rate=schedule,
        weight_decay=recipe.weight_decay,
        epsilon=recipe.adam_epsilon,
        bias_correction=recipe.bias_correction,
        lr_multipliers=rules,
        global_clipnorm=recipe.clipnorm,
    )
    if recipe.precision == "mixed_float16":  # float16 gradients underflow.
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def prepared_backbone(backbone, tokenizer, recipe: FineTuningRecipe) -> tuple:
    """The backbone and tokenizer a run trains, ready in the current scope.

    Seeds the run, resolves `backbone` (see `train_teacher`), puts it in the
    recipe's precision (a copy made in the current `distribution_scope` when
    the recipe distributes), sets its dropout generators from the seed
    (`reseed_dropout`: a backbone built before the run is seeded gets the
    same masks as one built after), seeds again so that the heads' initialization
    depends on the seed only (a copy draws random numbers), and checks the
    tokenizer and `max_length` against it.

    Returns:
        `(backbone_model, tokenizer, backbone_name)`.
    """
    set_seed(recipe.seed)
    backbone_model, tokenizer, name = resolve_backbone_and_tokenizer(
        backbone, tokenizer
    )
    backbone_model = with_precision(
        backbone_model, recipe.precision, copy=recipe.distribution != "none"
    )
    # Wherever the backbone was built, its dropout masks follow this run's seed.
    reseed_dropout(backbone_model, recipe.seed)
    set_seed(recipe.seed)
    check_backbone(backbone_model, tokenizer, recipe.max_length)
    return backbone_model, tokenizer, name


def task_loss(task: GlueTask, reduction: str = "sum"):
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

    task: GlueTask
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


def train_teacher(
    task: str | GlueTask,
    data_dir: str | os.PathLike | None = None,
    backbone: str | keras.Model | None = None,
    tokenizer=None,
    recipe: FineTuningRecipe | None = None,
    source: str = "tsv",
    tfds_manual_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    output_dir: str | os.PathLike | None = None,
    train_limit: int | None = None,
    eval_limit: int | None = None,
    train_sample_seed: int | None = None,
    train_indices=None,
    save_model: bool = True,
    callbacks=None,
    verbose: int | str = "auto",
) -> TeacherRun:
    """Fine-tunes a single-task BAM teacher, evaluates it and writes its predictions.

    Args:
        task: the GLUE task.
        data_dir: the GLUE TSV folder (or TFDS's data folder with `source="tfds"`).
        backbone: a backbone spec (see `load_backbone`; the offline MiniLM by
            default) or a backbone model.
        tokenizer: the tokenizer; loaded from `backbone` when it is a spec.
        recipe: the `FineTuningRecipe`; BAM's single-task recipe by default.
        source: `"tsv"` or `"tfds"`.
        tfds_manual_dir: TFDS's manual folder (offline GLUE archives).
        cache_dir: where encoded splits are cached; no caching when `None`.
        output_dir: where to write teacher predictions, the model and metrics.
        train_limit: use only the first `train_limit` training examples.
        eval_limit: evaluate on only the first `eval_limit` dev examples.
        train_sample_seed: with `train_limit`, use a random sample of
            `train_limit` training examples drawn with this seed instead.
        train_indices: fit on only these positions of the training set (after
            `train_limit`); the predictions are still written for all of it, so
            the examples left out get out-of-sample predictions (see
            `cross_fit_teacher`).
        save_model: write `<task>_teacher.keras` into `output_dir`.
        callbacks: extra Keras callbacks for `fit`. A `StopOnNonFiniteLoss` is
            added first unless one is given: a NaN or infinite loss stops the run
            with a `NonFiniteLossError` naming the task and step.
        verbose: `fit`'s verbosity.

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
    task = get_task(task)
    check_backend()
    recipe = recipe or FineTuningRecipe.bam_single_task()
    if recipe.micro_batches != 1:
        raise ValueError(
            "micro_batches is a student's setting (MultiTaskModel); a teacher "
            f"trains whole batches: got micro_batches={recipe.micro_batches}."
        )
    with distribution_scope(recipe.distribution):
        backbone_model, tokenizer, backbone_name = prepared_backbone(
            backbone, tokenizer, recipe
        )
        loader = SplitLoader(
            tokenizer, recipe.max_length, source, data_dir, tfds_manual_dir, cache_dir
        )
        train, train_encoded = loader.load(
            task, "train", train_limit, sample_seed=train_sample_seed
        )
        fit_positions = np.arange(len(train))
        if train_indices is not None:
            fit_positions = np.asarray(train_indices, dtype=np.int64)
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
        stream = RandomBatches if recipe.batching == "random" else BucketedBatches
        train_batches = stream(
            fit_encoded,
            training_targets(task, fit_labels),
            batch_size=recipe.batch_size,
            shuffle=True,
            seed=recipe.seed,
            packing=use_packing(recipe.packing, backbone_model),
        )
        total_steps = recipe.epochs * len(train_batches)
        logger.info(
            "%s teacher: %d examples, %d steps/epoch, padding %.1f%%, shapes %s",
            task.display_name,
            len(fit_encoded),
            len(train_batches),
            100 * train_batches.padding_fraction,
            train_batches.shapes,
        )

        model = SingleTaskModel(
            backbone_model,
            task,
            dropout=recipe.dropout,
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
            loss=task_loss(task, recipe.loss_reduction),
        )
        fit_callbacks = list(callbacks or [])
        if not any(isinstance(c, StopOnNonFiniteLoss) for c in fit_callbacks):
            fit_callbacks.insert(0, StopOnNonFiniteLoss())
        start = time.perf_counter()
        history = model.fit(
            as_fit_input(train_batches),
            epochs=recipe.epochs,
            shuffle=False,  # The batch stream shuffles, by seed and epoch.
            callbacks=fit_callbacks,
            verbose=verbose,
        )
        train_seconds = time.perf_counter() - start

        dev_metrics, dev_outputs = {}, {}
        for split in task.eval_split:
            dev, dev_encoded = loader.load(task, split, eval_limit)
            dev_outputs[split] = predict_outputs(model, dev_encoded)
            predictions = predictions_from_outputs(task, dev_outputs[split])
            dev_metrics[split] = glue_metrics(task, dev.labels, predictions)
            logger.info("%s %s: %s", task.display_name, split, dev_metrics[split])

        run = TeacherRun(
            task=task,
            model=model,
            history={k: [float(x) for x in v] for k, v in history.history.items()},
            dev_metrics=dev_metrics,
            train_seconds=train_seconds,
            train_examples_per_second=len(fit_encoded) * recipe.epochs / train_seconds,
            padding_fraction=train_batches.padding_fraction,
            dev_outputs=dev_outputs,
        )
        if output_dir is not None:
            write_teacher_files(
                model,
                run,
                recipe,
                prediction_sets,
                output_dir,
                str(backbone_name),
                save_model,
            )
        return run


def write_teacher_files(
    model,
    run: TeacherRun,
    recipe: FineTuningRecipe,
    prediction_sets: list,
    output_dir: str,
    backbone: str,
    save_model: bool,
):
    """Writes a trained teacher's dev outputs, training-set predictions, model
    and summary into `output_dir`; in a cluster only process 0 writes, while
    every process takes part in predicting."""
    task = run.task
    for examples, encoded in prediction_sets:
        run.predictions_paths[examples.split] = write_teacher_predictions(
            model,
            examples,
            encoded,
            os.path.join(output_dir, teacher_predictions_file(task, examples.split)),
            backbone=backbone,
            recipe=recipe.to_dict(),
            backend=keras.backend.backend(),
        )
    if save_model:
        run.model_path = os.path.join(output_dir, f"{task.name}_teacher.keras")
    if is_chief():
        os.makedirs(output_dir, exist_ok=True)
        save_dev_outputs(
            os.path.join(output_dir, f"{task.name}_dev_outputs.npz"),
            {task.name: run.dev_outputs},
        )
        if save_model:
            model.save(run.model_path)
        with open(os.path.join(output_dir, f"{task.name}_teacher.json"), "w") as f:
            json.dump({**run.summary(), "recipe": recipe.to_dict()}, f, indent=2)
    cluster_barrier(f"{task.name} teacher written")  # Others may read them next.
