"""How much each task counts in multi-task training: BAM's weighting and others."""

from __future__ import annotations

import numpy as np

# The training-set sizes BAM's `task_weighting.py` uses: GLUE's (QNLI's first
# version), with MRPC and STS-B doubled by `double_unordered`. BAM computes its
# multiples and weights from all eight, whichever tasks are trained.
BAM_GLUE_TRAIN_SIZES = {
    "cola": 8551,
    "mnli": 392702,
    "mrpc": 7336,
    "qnli": 108436,
    "qqp": 363869,
    "sst2": 67349,
    "stsb": 11498,
    "rte": 2490,
}


def _normalize(values: dict) -> dict:
    total = float(sum(values.values()))
    return {k: v / total for k, v in values.items()}


def bam_multiples_and_weights(
    sizes: dict,
    exponent: float = 0.75,
    reference: str | None = None,
    normalize_over=None,
) -> tuple:
    """BAM's dataset multiples and loss weights.

    Each task should count in proportion to `size ** exponent`. BAM gets there in
    two steps: small datasets are repeated an integer number of times (their
    multiple: the target count `reference_size * share / reference_share`, rounded),
    and a per-example loss weight corrects what the rounding left, so that
    `multiple * size * weight` is proportional to `size ** exponent`. The weights
    average to 1 over the tasks they are normalized over (BAM multiplies the
    normalized weights by the number of tasks).

    Args:
        sizes: task name to training-set size (after `double_unordered`).
        exponent: BAM's `task_weight_exponent`.
        reference: the task kept at multiple 1; the largest by default (MNLI in
            BAM).
        normalize_over: the tasks whose shares and weights set the scale (all
            of `sizes` by default). The others get the multiple and weight the
            same formula gives them on that scale, so adding a task to `sizes`
            leaves these tasks' values unchanged.

    Returns:
        `(multiples, weights)`: task name to integer multiple, and to loss weight.

    Example:
    ```python
    multiples, weights = keras_bam.training.bam_multiples_and_weights(
        keras_bam.training.BAM_GLUE_TRAIN_SIZES)
    multiples["rte"]  # 4: RTE is repeated 4 times per epoch
    ```
    """
    if not sizes or min(sizes.values()) <= 0:
        raise ValueError(f"Task sizes must be positive, got {sizes}.")
    scale_tasks = list(normalize_over or sizes)
    missing = [t for t in [*scale_tasks, reference] if t and t not in sizes]
    if missing:
        raise ValueError(f"No size for {missing} in {sorted(sizes)}.")
    reference = reference or max(scale_tasks, key=sizes.get)
    total = float(sum(sizes[t] ** exponent for t in scale_tasks))
    shares = {task: size**exponent / total for task, size in sizes.items()}
    correction = sizes[reference] / shares[reference]
    multiples = {
        task: max(1, int(round((shares[task] * correction + 0.01) / size)))
        for task, size in sizes.items()
    }
    raw = {task: shares[task] / (sizes[task] * multiples[task]) for task in sizes}
    scale = len(scale_tasks) / sum(raw[t] for t in scale_tasks)
    return multiples, {task: w * scale for task, w in raw.items()}


def bam_glue_multiples_and_weights(sizes: dict) -> tuple:
    """BAM's multiples and loss weights for the trained tasks, as BAM sets them.

    BAM computes them once, from its table of the eight GLUE training sizes
    (`BAM_GLUE_TRAIN_SIZES`, MNLI the reference), whichever tasks a run trains,
    so that RTE is repeated 4 times per epoch whether it is trained with MNLI or
    only with MRPC, and whatever sample of them a run trains on. A task outside
    the eight (WNLI, a task of your own) is placed on the same scale with the
    training size it is given (as loaded: with a `train_limit`, the sample's):
    it gets the multiple and weight BAM's formula gives it beside the eight,
    and the eight keep exactly BAM's values.

    Args:
        sizes: the trained tasks' names to their training-set sizes (used only
            for tasks outside BAM's table).

    Returns:
        `(multiples, weights)` for the tasks of `sizes`.

    Example:
    ```python
    multiples, weights = keras_bam.training.bam_glue_multiples_and_weights(
        {"rte": 400, "mrpc": 800})
    multiples  # {'rte': 4, 'mrpc': 3}
    ```
    """
    table = dict(BAM_GLUE_TRAIN_SIZES)
    table.update({t: s for t, s in sizes.items() if t not in BAM_GLUE_TRAIN_SIZES})
    multiples, weights = bam_multiples_and_weights(
        table, 0.75, reference="mnli", normalize_over=list(BAM_GLUE_TRAIN_SIZES)
    )
    return {t: multiples[t] for t in sizes}, {t: weights[t] for t in sizes}


def sampling_probabilities(
    sizes: dict, scheme: str = "proportional", temperature: float = 2.0
) -> dict:
    """Probabilities of drawing each task's examples when sampling batches.

    Args:
        sizes: task name to training-set size.
        scheme: `"proportional"` (to size), `"uniform"` (equal), `"temperature"`
            (to `size ** (1 / temperature)`), or `"bam"` (to `size ** 0.75`, BAM's
            target shares).
        temperature: the temperature of `"temperature"` sampling.

    Returns:
        Task name to probability; the probabilities sum to 1.
    """
    sizes_array = np.asarray(list(sizes.values()), dtype=np.float64)
    if scheme == "proportional":
        raw = sizes_array
    elif scheme == "uniform":
        raw = np.ones_like(sizes_array)
    elif scheme == "temperature":
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}.")
        raw = sizes_array ** (1.0 / temperature)
    elif scheme == "bam":
        raw = sizes_array**0.75
    else:
        raise ValueError(
            f"Unknown sampling scheme '{scheme}'; use proportional, uniform, "
            "temperature or bam."
        )
    return dict(zip(sizes, (raw / raw.sum()).tolist()))


WEIGHTINGS = ("bam", "bam_trained", "proportional", "uniform", "temperature")


def task_multiples_and_weights(
    sizes: dict, weighting: str = "bam", temperature: float = 2.0
) -> tuple:
    """Dataset multiples and loss weights that give each task its target share.

    Every scheme is realized BAM's way (integer multiples, then loss weights for
    what rounding left; see `bam_multiples_and_weights`), so each epoch still
    sees every example and the stream stays deterministic:

    - `"bam"`: BAM's own values (`bam_glue_multiples_and_weights`): computed
      from the eight GLUE training sizes, whichever tasks are trained (for
      RTE, MRPC, STS-B and CoLA: multiples 4, 3, 2 and 3), your own tasks
      placed on that scale beside them; with none of the eight, BAM's
      formula over the trained tasks' own sizes (shares proportional to
      size^0.75, the largest at multiple 1);
    - `"bam_trained"`: shares proportional to size^0.75 computed among the
      trained tasks only (the largest kept at multiple 1; for those four every
      multiple is 1, an epoch about 2.7 times shorter than BAM's);
    - `"proportional"`: each example once, weight 1 (shares proportional to size);
    - `"uniform"`: equal shares (size^0) among the trained tasks;
    - `"temperature"`: shares proportional to size^(1/temperature) among them.

    One task alone gets multiple 1 and weight 1, as in BAM's single-task runs.

    Args:
        sizes: task name to training-set size.
        weighting: the scheme.
        temperature: the temperature of `"temperature"`.

    Returns:
        `(multiples, weights)`, task name to integer multiple and to loss weight.

    Example:
    ```python
    multiples, weights = keras_bam.training.task_multiples_and_weights(
        {"rte": 2490, "cola": 8551}, "uniform")
    multiples  # {'rte': 3, 'cola': 1}
    ```
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"Unknown weighting {weighting!r}; use one of {WEIGHTINGS}.")
    if weighting == "proportional" or len(sizes) == 1:
        return {t: 1 for t in sizes}, {t: 1.0 for t in sizes}
    if weighting == "bam":
        if any(task in BAM_GLUE_TRAIN_SIZES for task in sizes):
            return bam_glue_multiples_and_weights(sizes)
        return bam_multiples_and_weights(sizes, 0.75)
    if weighting == "temperature" and temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}.")
    exponent = {"bam_trained": 0.75, "uniform": 0.0}.get(weighting)
    if exponent is None:
        exponent = 1.0 / temperature
    return bam_multiples_and_weights(sizes, exponent)
