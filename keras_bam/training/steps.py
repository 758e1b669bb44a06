"""The steps every run composes: backbone, optimizer, callbacks, fit, dev scores."""

from __future__ import annotations

import logging

import keras

from keras_bam.backend.determinism import set_seed
from keras_bam.backend.fit_input import as_fit_input
from keras_bam.data.batching import RemainingBatches
from keras_bam.evaluation.prediction import predict_outputs
from keras_bam.evaluation.scoring import glue_metrics
from keras_bam.evaluation.scoring import predictions_from_outputs
from keras_bam.models.backbones import as_task_backbone
from keras_bam.models.backbones import resolve_backbone_and_tokenizer
from keras_bam.models.backbones import with_precision
from keras_bam.models.layers import reseed_dropout
from keras_bam.models.validation import check_backbone
from keras_bam.training.callbacks import StopOnNonFiniteLoss
from keras_bam.training.optimizers import AdamWeightDecay
from keras_bam.training.optimizers import bert_layerwise_lr_multipliers
from keras_bam.training.optimizers import check_lr_multipliers
from keras_bam.training.recipes import FineTuningRecipe
from keras_bam.training.schedules import WarmupLinearDecay

logger = logging.getLogger(__name__)


def prepared_backbone(backbone, tokenizer, recipe: FineTuningRecipe) -> tuple:
    """The backbone and tokenizer a run trains, ready in the current scope.

    Seeds the run, resolves `backbone` (see `train_teacher`), puts it in the
    recipe's precision (a copy made in the current `distribution_scope` when
    the recipe distributes) and in the form task models run it
    (`as_task_backbone`: a backbone model passed in that is not is copied, and
    left as it was), sets its dropout generators from the seed
    (`reseed_dropout`: a backbone built before the run is seeded gets the
    same masks as one built after), seeds again so that the heads' initialization
    depends on the seed only (a copy draws random numbers), and checks the
    tokenizer and `max_length` against it.

    Args:
        backbone: a backbone spec, a backbone model, or `None` (the offline
            MiniLM).
        tokenizer: the tokenizer, with a backbone model.
        recipe: the run's `FineTuningRecipe` (seed, precision, distribution,
            `max_length`).

    Returns:
        `(backbone_model, tokenizer, backbone_name)`.

    Example:
    ```python
    recipe = keras_bam.FineTuningRecipe.bam_single_task()
    backbone, tokenizer, name = keras_bam.training.prepared_backbone(
        None, None, recipe)
    ```
    """
    set_seed(recipe.seed)
    backbone_model, tokenizer, name = resolve_backbone_and_tokenizer(
        backbone, tokenizer
    )
    copy = with_precision(
        backbone_model, recipe.precision, copy=recipe.distribution != "none"
    )
    backbone_model = as_task_backbone(copy, in_place=copy is not backbone_model)
    # Wherever the backbone was built, its dropout masks follow this run's seed.
    reseed_dropout(backbone_model, recipe.seed)
    set_seed(recipe.seed)
    check_backbone(backbone_model, tokenizer, recipe.max_length)
    return backbone_model, tokenizer, name


def make_optimizer(
    recipe: FineTuningRecipe, total_steps: int, num_layers: int, variables=None
):
    """BAM's optimizer for `total_steps` steps of a `num_layers`-layer backbone.

    Args:
        recipe: the `FineTuningRecipe` (learning rate, warm-up, decay, Adam's
            settings, clipping, precision).
        total_steps: the run's optimizer steps.
        num_layers: the backbone's transformer layers (layer-wise decay).
        variables: the model's trainable variables; with layer-wise decay on,
            they are checked to have a layer each (`check_lr_multipliers`), as
            BAM does.

    Returns:
        An `AdamWeightDecay` with a `WarmupLinearDecay` schedule (inside a
        `LossScaleOptimizer` for `mixed_float16`).

    Example:
    ```python
    recipe = keras_bam.FineTuningRecipe.bam_multi_task()
    optimizer = keras_bam.training.make_optimizer(recipe, 1000, num_layers=6)
    ```
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


def guarded_callbacks(callbacks=None) -> list:
    """`callbacks` with a `StopOnNonFiniteLoss` first, unless one is given.

    First, so that a NaN or infinite loss raises before a checkpoint callback
    saves the diverged step's weights.

    Example:
    ```python
    callbacks = keras_bam.training.guarded_callbacks([keras_bam.TeacherAnnealing()])
    ```
    """
    callbacks = list(callbacks or [])
    if not any(isinstance(c, StopOnNonFiniteLoss) for c in callbacks):
        callbacks.insert(0, StopOnNonFiniteLoss())
    return callbacks


def fit_resumably(
    model,
    batches,
    epochs: int,
    callbacks=None,
    position: tuple = (0, 0),
    verbose="auto",
) -> dict:
    """Fits `model` on a batch stream from `position` to the end of `epochs`.

    A run resumed inside an epoch first finishes that epoch from the batch it
    stopped at (`RemainingBatches`), then fits the remaining epochs; the
    stream is set to each part's epoch, so the examples are those of the
    uninterrupted run. The stream shuffles by seed and epoch, so `fit`'s own
    shuffling is off.

    Args:
        model: the compiled model.
        batches: the batch stream (`RandomBatches`, `BucketedBatches`, ...).
        epochs: the run's epochs.
        callbacks: `fit`'s callbacks.
        position: `(epoch, batch)` to start from (a checkpoint's position).
        verbose: `fit`'s verbosity.

    Returns:
        The history: log name to one float per epoch fitted.

    Example:
    ```python
    history = keras_bam.training.fit_resumably(model, batches, epochs=3)
    ```
    """
    epoch, batch = position
    history = {}

    def fit(stream, **kwargs):
        part = model.fit(
            as_fit_input(stream),
            shuffle=False,
            callbacks=callbacks,
            verbose=verbose,
            **kwargs,
        )
        for key, values in part.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)

    if batch and epoch < epochs:  # Finish the interrupted epoch first.
        batches.set_epoch(epoch)
        fit(RemainingBatches(batches, batch), epochs=1)
        epoch += 1
    if epoch < epochs:
        batches.set_epoch(epoch)
        fit(batches, initial_epoch=epoch, epochs=epochs)
    return history


def evaluate_on_dev(model, task, data, loader) -> tuple:
    """One task's dev metrics and outputs (its head's, for a multi-task model).

    Args:
        model: a `SingleTaskModel`, or a `MultiTaskModel` with a head for `task`.
        task: the `Task`.
        data: the run's `DataSettings` (its `eval_limit`).
        loader: the run's `SplitLoader`.

    Returns:
        `(metrics, outputs)`: split name to `glue_metrics`, and split name to
        the outputs in example order, for each of the task's dev splits.

    Example:
    ```python
    metrics, outputs = keras_bam.training.evaluate_on_dev(
        run.model, keras_bam.get_task("rte"), data, loader)
    ```
    """
    metrics, outputs = {}, {}
    for split in task.eval_split:
        dev, dev_encoded = data.load_eval(loader, task, split)
        split_outputs = predict_outputs(model, dev_encoded)
        if isinstance(split_outputs, dict):
            split_outputs = split_outputs[task.name]
        outputs[split] = split_outputs
        predictions = predictions_from_outputs(task, split_outputs)
        metrics[split] = glue_metrics(task, dev.labels, predictions)
        logger.info("%s %s: %s", task.display_name, split, metrics[split])
    return metrics, outputs
