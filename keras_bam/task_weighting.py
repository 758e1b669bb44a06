"""How much each task counts in multi-task training: BAM's weighting and others."""

from __future__ import annotations

import numpy as np

# The training-set sizes BAM's `task_weighting.py` uses: GLUE's, with MRPC and STS-B
# doubled by `double_unordered`. BAM computes its multiples from all eight, whichever
# tasks are trained.
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
    sizes: dict, exponent: float = 0.75, reference: str | None = None
) -> tuple:
    """BAM's dataset multiples and loss weights.

    Each task should count in proportion to `size ** exponent`. BAM gets there in
    two steps: small datasets are repeated an integer number of times (their
    multiple: the target count `reference_size * share / reference_share`, rounded),
    and a per-example loss weight corrects what the rounding left, so that
    `multiple * size * weight` is proportional to `size ** exponent`. The weights
    average to 1 over tasks (BAM multiplies the normalized weights by the number
    of tasks).

    Args:
        sizes: task name to training-set size (after `double_unordered`).
        exponent: BAM's `task_weight_exponent`.
        reference: the task kept at multiple 1; the largest by default (MNLI in
            BAM).

    Returns:
        `(multiples, weights)`: task name to integer multiple, and to loss weight.

    Example:
    ```python
    multiples, weights = keras_bam.bam_multiples_and_weights(
        keras_bam.BAM_GLUE_TRAIN_SIZES)
    multiples["rte"]  # 21: RTE is repeated 21 times per epoch
    ```
    """
    if not sizes or min(sizes.values()) <= 0:
        raise ValueError(f"Task sizes must be positive, got {sizes}.")
    reference = reference or max(sizes, key=sizes.get)
    shares = _normalize({task: size**exponent for task, size in sizes.items()})
    correction = sizes[reference] / shares[reference]
    multiples = {
        task: max(1, int(round((shares[task] * correction + 0.01) / size)))
        for task, size in sizes.items()
    }
    weights = _normalize(
        {task: shares[task] / (sizes[task] * multiples[task]) for task in sizes}
    )
    return multiples, {task: w * len(sizes) for task, w in weights.items()}


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


WEIGHTINGS = ("bam", "proportional", "uniform", "temperature")


def task_multiples_and_weights(
    sizes: dict, weighting: str = "bam", temperature: float = 2.0
) -> tuple:
    """Dataset multiples and loss weights that give each task its target share.

    Every scheme is realized BAM's way (integer multiples, then loss weights for
    what rounding left; see `bam_multiples_and_weights`), so each epoch still
    sees every example and the stream stays deterministic:

    - `"bam"`: shares proportional to size^0.75 (BAM);
    - `"proportional"`: each example once, weight 1 (shares proportional to size);
    - `"uniform"`: equal shares (size^0);
    - `"temperature"`: shares proportional to size^(1/temperature).

    Args:
        sizes: task name to training-set size.
        weighting: the scheme.
        temperature: the temperature of `"temperature"`.

    Returns:
        `(multiples, weights)`, task name to integer multiple and to loss weight.

    Example:
    ```python
    multiples, weights = keras_bam.task_multiples_and_weights(
        {"rte": 2490, "cola": 8551}, "uniform")
    multiples  # {'rte': 3, 'cola': 1}
    ```
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"Unknown weighting {weighting!r}; use one of {WEIGHTINGS}.")
    if weighting == "proportional" or len(sizes) == 1:
        return {t: 1 for t in sizes}, {t: 1.0 for t in sizes}
    if weighting == "temperature" and temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}.")
    exponent = {"bam": 0.75, "uniform": 0.0}.get(weighting)
    if exponent is None:
        exponent = 1.0 / temperature
    return bam_multiples_and_weights(sizes, exponent)
