"""Padded lengths for batches of similar length: fixed buckets and buckets fitted
to the data."""

from __future__ import annotations

import numpy as np

MIN_BUCKET = 16


def default_buckets(max_length: int, step: int | None = None) -> tuple:
    """The padded lengths of `BucketedBatches`, up to `max_length` (included).

    Args:
        max_length: the longest packed sequence.
        step: pad to multiples of `step` (little padding, many shapes); `None`:
            powers of two from 16 (more padding, few shapes).

    Returns:
        The increasing bucket lengths.

    Example:
    ```python
    keras_bam.data.default_buckets(128)  # (16, 32, 64, 128)
    keras_bam.data.default_buckets(40, step=8)  # (8, 16, 24, 32, 40)
    ```
    """
    if step is not None:
        if step < 1:
            raise ValueError(f"step must be positive, got {step}.")
        buckets = list(range(step, max_length, step))
    else:
        buckets, length = [], MIN_BUCKET
        while length < max_length:
            buckets.append(length)
            length *= 2
    buckets.append(max_length)
    return tuple(buckets)


def fitted_buckets(lengths, count: int, max_length: int, step: int = 8) -> tuple:
    """At most `count` padded lengths that waste the least padding on `lengths`.

    For a backend that compiles a program per shape (JAX), the number of
    buckets is what costs; where they lie is free. Powers of two put them
    where the data may not be: MRPC's pairs (30 to 100 tokens) fall mostly in
    the 64 and 128 buckets and are a third padding. This chooses the
    boundaries, among multiples of `step` (and `max_length`), that minimize the
    padded tokens of the examples, each padded to the smallest bucket that
    holds it (exact, by dynamic programming over the length histogram).

    Args:
        lengths: the examples' token counts.
        count: the most buckets.
        max_length: the longest allowed length (the last bucket never exceeds it).
        step: boundaries are multiples of this (or `max_length`).

    Returns:
        The increasing bucket lengths; the last holds the longest example.

    Example:
    ```python
    keras_bam.data.fitted_buckets([30, 41, 45, 60, 98], count=2, max_length=128)
    # (48, 104): 48 * 3 + 104 * 2 padded tokens
    ```
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    if count < 1 or step < 1:
        raise ValueError(f"count and step must be positive, got {count}, {step}.")
    if len(lengths) == 0:
        return (int(max_length),)
    longest = int(lengths.max())
    if longest > max_length:
        raise ValueError(f"An example has {longest} tokens, above {max_length}.")
    top = min(-(-longest // step) * step, int(max_length))
    candidates = sorted({*range(step, top, step), top})
    # examples[k]: how many examples the candidate k holds that k - 1 does not.
    bounds = np.searchsorted(candidates, lengths, side="left")
    examples = np.bincount(bounds, minlength=len(candidates))
    held = np.concatenate([[0], np.cumsum(examples)])
    m = len(candidates)
    # best[b][k]: least padded tokens for candidates[:k + 1] with b + 1 buckets,
    # the last at candidates[k].
    inf = float("inf")
    best = [[inf] * m for _ in range(count)]
    choice = [[-1] * m for _ in range(count)]
    for k in range(m):
        best[0][k] = candidates[k] * held[k + 1]
    for b in range(1, count):
        for k in range(m):
            for j in range(k):
                cost = best[b - 1][j] + candidates[k] * (held[k + 1] - held[j + 1])
                if cost < best[b][k]:
                    best[b][k], choice[b][k] = cost, j
    b = min(range(count), key=lambda i: (best[i][m - 1], i))
    buckets, k = [], m - 1
    while k >= 0 and b >= 0:
        buckets.append(candidates[k])
        k, b = choice[b][k], b - 1
    return tuple(int(x) for x in reversed(buckets))
