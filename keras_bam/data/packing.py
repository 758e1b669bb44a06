"""Packing a batch's examples into rows of `max_length` tokens, without padding
between them."""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_bam.data.buckets import fitted_buckets

# The packed input names beyond BERT's three; a model dispatches on `position_ids`.
PACKED_KEYS = ("position_ids", "class_positions")


@dataclasses.dataclass(frozen=True)
class Packing:
    """How a batch stream packs its batches.

    A packed batch puts several examples in each row of `max_length` tokens,
    one after the other. Each example keeps its own positions (restarting at 0)
    and segment ids; a model given packed inputs (`is_packed`) lets tokens
    attend only within their own example and reads each example's `[CLS]`, so
    it computes the same per-example outputs as on padded inputs, while the
    positions it computes are nearly all real tokens.

    Args:
        rows: the row counts a batch may take, increasing; a batch takes the
            smallest that holds it. `None`: fitted to the stream's first epoch
            (`fitted_row_counts`), so that a compiled backend (JAX) sees one or
            two shapes.
        slots: the most examples in one row; the model's outputs have
            `rows * slots` entries per batch (empty slots count for nothing).
            `None`: fitted to the first epoch (the most any row held, rounded
            up to a multiple of 4).
        row_multiple: every row count is a multiple of this (the data-parallel
            replicas, which each take an equal share of the rows); `None`: the
            replicas of the current distribution (`batch_replicas`).
        row_counts: how many row counts to fit when `rows` is `None`.

    Example:
    ```python
    packing = keras_bam.data.Packing()
    batches = keras_bam.data.RandomBatches(encoded, targets, packing=packing)
    ```
    """

    rows: tuple | None = None
    slots: int | None = None
    row_multiple: int | None = None
    row_counts: int = 2

    def __post_init__(self):
        if self.rows is not None:
            rows = tuple(int(r) for r in self.rows)
            if not rows or list(rows) != sorted(set(rows)) or rows[0] < 1:
                raise ValueError(f"rows must increase strictly from 1, got {rows}.")
            object.__setattr__(self, "rows", rows)
        if self.slots is not None and self.slots < 1:
            raise ValueError(f"slots must be positive, got {self.slots}.")
        if self.row_multiple is not None and self.row_multiple < 1:
            raise ValueError(f"row_multiple must be positive, got {self.row_multiple}.")
        if self.row_counts < 1:
            raise ValueError(f"row_counts must be positive, got {self.row_counts}.")


def resolve_packing(packing) -> Packing | None:
    """`None` for no packing, else a `Packing` (`True`: the defaults)."""
    if packing is None or packing is False:
        return None
    if packing is True:
        return Packing()
    if not isinstance(packing, Packing):
        raise TypeError(f"packing must be a bool or a Packing, got {packing!r}.")
    return packing


def pack_rows(lengths, row_length: int, slots: int | None = None) -> list:
    """Assigns examples to rows by first-fit decreasing.

    Examples are taken longest first; each goes to the first row with room for
    its tokens and (with `slots`) for one more example, or opens a new row.

    Args:
        lengths: the examples' token counts, each at most `row_length`.
        row_length: tokens per row.
        slots: the most examples per row (`None`: no limit).

    Returns:
        A list of rows, each a list of positions into `lengths`, in the order
        they are placed in the row.

    Example:
    ```python
    keras_bam.data.pack_rows([60, 30, 70, 50], row_length=128)  # [[2, 3], [0, 1]]
    ```
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    if len(lengths) and lengths.max() > row_length:
        raise ValueError(
            f"An example has {int(lengths.max())} tokens, above the row length "
            f"{row_length}."
        )
    rows, room = [], []
    # Stable, so equal lengths keep the sampler's order.
    for position in np.argsort(-lengths, kind="stable"):
        n = lengths[position]
        for r, free in enumerate(room):
            if free >= n and (slots is None or len(rows[r]) < slots):
                rows[r].append(int(position))
                room[r] -= n
                break
        else:
            rows.append([int(position)])
            room.append(row_length - n)
    return rows


def fitted_row_counts(needed, count: int, multiple: int = 1) -> tuple:
    """At most `count` row counts, multiples of `multiple`, that waste the
    fewest rows on batches needing `needed` rows each.

    Args:
        needed: each batch's row count after packing.
        count: the most row counts.
        multiple: every row count is a multiple of this.

    Returns:
        The increasing row counts; the last holds the largest batch.
    """
    needed = np.asarray(needed, dtype=np.int64)
    top = -(-int(needed.max()) // multiple) * multiple
    return fitted_buckets(needed, count, max_length=top, step=multiple)


def row_count(needed: int, rows: tuple, multiple: int) -> int:
    """The smallest of `rows` holding `needed` rows, or `needed` rounded up
    to `multiple` for a batch larger than all of them."""
    for r in rows:
        if r >= needed:
            return r
    return -(-needed // multiple) * multiple
