"""Batch streams: BAM's random batches and length-grouped ones, padded per batch."""

from __future__ import annotations

import numpy as np

from keras_bam.backend.compilation import bucket_step
from keras_bam.backend.distribution import batch_replicas
from keras_bam.data.buckets import default_buckets
from keras_bam.data.buckets import fitted_buckets
from keras_bam.data.encoding import EncodedExamples
from keras_bam.data.packing import fitted_row_counts
from keras_bam.data.packing import pack_rows
from keras_bam.data.packing import resolve_packing
from keras_bam.data.packing import row_count
from keras_bam.data.streams import BatchStream
from keras_bam.utils.targets import TASK_ID

# How many of an epoch's batches `PlannedBatches` packs to fit its row counts
# and slots (evenly spaced, so length-grouped plans are represented too).
PACKING_SAMPLE = 256

# How a run batches its examples: BAM's random batches, or batches of similar
# lengths (`BucketedBatches`).
BATCHING = ("random", "length_grouped")


class PlannedBatches(BatchStream):
    """Base of the batch streams: each epoch is a plan of padded batches.

    A plan is a list of `(indices, padded_length)` pairs, made by the subclass's
    `_make_plan` from `seed` and the current epoch only, so a run is
    reproducible and `set_epoch` lets a resumed run continue with the same data
    order. Epochs are counted by `on_epoch_begin` (the first uses `epoch`, each
    later one the next), which Keras calls exactly once per epoch on every
    backend (its `on_epoch_end` is also called once before the first epoch on
    JAX). A subclass decides which examples share a batch and how long it is
    padded; everything else (targets, padding statistics, the `tf.data` view,
    restoring prediction order, packing) is here.

    With `packing`, each batch's examples (the same as without) are packed
    into rows of `encoded.max_length` tokens (`EncodedExamples.pack_batch`):
    the inputs gain `position_ids` and `class_positions`, and targets and
    outputs have one entry per slot, `rows * slots` per batch, where an empty
    slot has `task_id` -1 (multi-task targets) or sample weight 0.

    Args:
        encoded: the `EncodedExamples`.
        targets: optional per-example targets (any array or dict of arrays whose
            first axis is the example); batches are `(inputs, targets)` when given.
        sample_weights: optional per-example weights, added as a third element.
        batch_size: examples per batch.
        shuffle: shuffle anew each epoch.
        seed: the shuffling seed.
        packing: `False`, `True` or a `Packing`: pack each batch's examples
            into rows without padding between them.
        **kwargs: passed to `keras.utils.PyDataset` (`workers`, ...).
    """

    def __init__(
        self,
        encoded: EncodedExamples,
        targets=None,
        sample_weights=None,
        batch_size: int = 32,
        shuffle: bool = False,
        seed: int = 0,
        packing=False,
        **kwargs,
    ):
        super().__init__(seed, **kwargs)
        self.encoded = encoded
        self.targets = targets
        self.sample_weights = sample_weights
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}.")
        self.shuffle = shuffle
        self.packing = resolve_packing(packing)
        self._packed = {}

    def _make_plan(self) -> list:
        """The current epoch's `(indices, padded_length)` batches."""
        raise NotImplementedError

    def _start(self):
        """Makes the first epoch's plan and fits the packing to it; subclasses
        call this at the end of `__init__`."""
        self._plan = self._make_plan()
        if self.packing is None:
            return
        packing = self.packing
        self.row_multiple = int(packing.row_multiple or batch_replicas())
        if not self._plan:  # No examples: nothing to fit.
            self.slots = packing.slots or 1
            self.rows = packing.rows or (self.row_multiple,)
            return
        sample = np.unique(
            np.linspace(0, len(self._plan) - 1, PACKING_SAMPLE).astype(np.int64)
        )
        lengths = self.encoded.row_lengths
        max_length = self.encoded.max_length
        self.slots = packing.slots
        if self.slots is None:
            most = max(
                len(row)
                for i in sample
                for row in pack_rows(lengths[self._plan[i][0]], max_length)
            )
            self.slots = -(-most // 4) * 4
        self.rows = packing.rows
        if self.rows is None:
            needed = [
                len(pack_rows(lengths[self._plan[i][0]], max_length, self.slots))
                for i in sample
            ]
            self.rows = fitted_row_counts(needed, packing.row_counts, self.row_multiple)

    def _order_epoch(self):
        self._plan = self._make_plan()
        self._packed = {}

    def __len__(self) -> int:
        return len(self._plan)

    @property
    def num_batches(self) -> int:
        return len(self._plan)

    def batch_indices(self, index: int) -> np.ndarray:
        """The example indices of batch `index` in the current epoch."""
        return self._plan[index][0]

    def _packed_rows(self, index: int) -> tuple:
        """`(rows of example indices, row count)` of packed batch `index`."""
        packed = self._packed.get(index)
        if packed is None:
            indices = self._plan[index][0]
            rows = pack_rows(
                self.encoded.row_lengths[indices], self.encoded.max_length, self.slots
            )
            rows = [[int(indices[p]) for p in row] for row in rows]
            packed = (rows, row_count(len(rows), self.rows, self.row_multiple))
            self._packed[index] = packed
        return packed

    def __getitem__(self, index: int):
        if self.packing is not None:
            return self._packed_item(index)
        indices, length = self._plan[index]
        inputs = self.encoded.pad_batch(indices, length)
        if self.targets is None:
            return (inputs,)
        targets = _take(self.targets, indices)
        if self.sample_weights is None:
            return inputs, targets
        return inputs, targets, _take(self.sample_weights, indices)

    def _packed_item(self, index: int):
        rows, num_rows = self._packed_rows(index)
        inputs, slot_examples = self.encoded.pack_batch(rows, num_rows, self.slots)
        if self.targets is None:
            return (inputs,)
        filled = slot_examples >= 0
        taken = np.where(filled, slot_examples, 0)
        targets = _take(self.targets, taken)
        weights = None
        if self.sample_weights is not None:
            weights = _take(self.sample_weights, taken) * filled
        if isinstance(targets, dict) and TASK_ID in targets:
            targets[TASK_ID] = np.where(filled, targets[TASK_ID], -1)
        elif weights is None:
            weights = filled.astype(np.float32)
        if weights is None:
            return inputs, targets
        return inputs, targets, weights

    def slot_examples(self, index: int) -> np.ndarray:
        """The example index of each output row of batch `index` (-1: a row
        of padding): the batch's examples, or its packed slots."""
        if self.packing is None:
            return np.asarray(self._plan[index][0])
        rows, num_rows = self._packed_rows(index)
        slots = np.full((num_rows, self.slots), -1, dtype=np.int64)
        for r, members in enumerate(rows):
            slots[r, : len(members)] = members
        return slots.reshape(-1)

    @property
    def example_order(self) -> np.ndarray:
        """Example indices in the order the current epoch's batches visit them."""
        return np.concatenate([indices for indices, _ in self._plan])

    def restore_order(self, outputs):
        """Reorders outputs of `model.predict(batches)` to example order
        (dropping the outputs of empty packing slots)."""
        slots = np.concatenate([self.slot_examples(i) for i in range(len(self))])
        filled = slots >= 0
        order = slots[filled]
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        return _take(outputs, np.flatnonzero(filled)[inverse])

    @property
    def padding_fraction(self) -> float:
        """The share of computed token positions that are padding."""
        padded = self.padded_tokens
        real = int(self.encoded.row_lengths.sum())
        return 1.0 - real / padded if padded else 0.0

    @property
    def shapes(self) -> list:
        """The distinct `(rows, length)` input shapes of the batches."""
        if self.packing is not None:
            length = self.encoded.max_length
            return sorted({(self._packed_rows(i)[1], length) for i in range(len(self))})
        return sorted({(len(indices), length) for indices, length in self._plan})

    @property
    def padded_tokens(self) -> int:
        """Token positions computed over an epoch, padding included."""
        if self.packing is not None:
            rows = sum(self._packed_rows(i)[1] for i in range(len(self)))
            return int(rows * self.encoded.max_length)
        return int(sum(len(indices) * length for indices, length in self._plan))


def _check_buckets(buckets, encoded) -> tuple:
    buckets = tuple(int(b) for b in buckets)
    if list(buckets) != sorted(set(buckets)):
        raise ValueError(f"buckets must increase strictly, got {buckets}.")
    longest = int(encoded.row_lengths.max()) if len(encoded) else 0
    if longest > buckets[-1]:
        raise ValueError(
            f"The longest example has {longest} tokens, more than the largest "
            f"bucket {buckets[-1]}."
        )
    return buckets


class BucketedBatches(PlannedBatches):
    """Length-grouped batches of encoded examples padded to a few fixed lengths.

    Each example goes to the smallest bucket length that holds it. Within a
    bucket, examples are batched (shuffled per epoch when `shuffle=True`); the
    leftover that does not fill a batch moves up to the next bucket, so every batch
    but at most one is full and the number of distinct batch shapes is at most
    `2 * len(buckets)`. XLA and JAX therefore compile a bounded number of programs,
    while short tasks (CoLA, SST-2) run at a fraction of `max_length`. With
    `shuffle=True` the batch order is shuffled too; with `shuffle=False` the plan
    is fixed and `restore_order` puts predictions back in example order.

    Grouping by length decides which examples share a batch: for training that
    is a speed option (`FineTuningRecipe(batching="length_grouped")`), not what
    BAM does (`RandomBatches`); for prediction it changes nothing but speed.

    Args:
        encoded: the `EncodedExamples`.
        targets: optional per-example targets (see `PlannedBatches`).
        sample_weights: optional per-example weights.
        batch_size: examples per batch.
        buckets: increasing padded lengths, the last at least the longest
            example. By default what suits the backend (`bucket_step`): on
            TensorFlow, whose steps take any length without recompiling, every
            length (a batch pads to its longest example); on JAX, where each
            length compiles a program, as many buckets as powers of two would
            use, placed where they waste the least padding on these examples
            (`fitted_buckets`).
        shuffle: shuffle examples and batches anew each epoch.
        seed: the shuffling seed.
        packing: pack each batch's examples into rows (see `PlannedBatches`).
        **kwargs: passed to `keras.utils.PyDataset` (`workers`, ...).

    Example:
    ```python
    batches = keras_bam.data.BucketedBatches(
        encoded, labels, batch_size=32, shuffle=True
    )
    print(len(batches), batches.padding_fraction)
    model.fit(keras_bam.backend.as_fit_input(batches), epochs=3, shuffle=False)
    ```
    """

    def __init__(
        self,
        encoded: EncodedExamples,
        targets=None,
        sample_weights=None,
        batch_size: int = 32,
        buckets=None,
        shuffle: bool = False,
        seed: int = 0,
        packing=False,
        **kwargs,
    ):
        super().__init__(
            encoded,
            targets,
            sample_weights,
            batch_size,
            shuffle,
            seed,
            packing=packing,
            **kwargs,
        )
        if not buckets:
            step = bucket_step()
            buckets = default_buckets(encoded.max_length, step=step)
            if step is None:  # As many shapes as powers of two use, placed better.
                used = np.unique(np.searchsorted(buckets, encoded.row_lengths))
                buckets = fitted_buckets(
                    encoded.row_lengths, max(len(used), 1), encoded.max_length
                )
        self.buckets = _check_buckets(buckets, encoded)
        self._bucket_of = self._bucket_index(encoded.row_lengths)
        self._start()

    def _bucket_index(self, lengths):
        return np.searchsorted(np.asarray(self.buckets), lengths, side="left")

    def _make_plan(self):
        """A list of `(indices, padded_length)` batches for the current epoch."""
        rng = np.random.default_rng([self.seed, self.epoch])
        batches = []
        carry = np.zeros(0, dtype=np.int64)
        for b, length in enumerate(self.buckets):
            members = np.flatnonzero(self._bucket_of == b)
            if self.shuffle:
                members = rng.permutation(members)
            members = np.concatenate([carry, members])
            full = len(members) // self.batch_size * self.batch_size
            for start in range(0, full, self.batch_size):
                batches.append((members[start : start + self.batch_size], length))
            carry = members[full:]
        if len(carry):  # One partial batch, in the smallest bucket that holds it.
            longest = self.encoded.row_lengths[carry].max()
            batches.append((carry, self.buckets[self._bucket_index(longest)]))
        if self.shuffle:
            order = rng.permutation(len(batches))
            batches = [batches[i] for i in order]
        return batches


# How many padded lengths `RandomBatches` uses on a backend that compiles a
# program per shape (JAX): random batches' longest examples cluster near the
# data's longest, so two lengths hold nearly all the padding there is to save.
RANDOM_BATCH_LENGTHS = 2


class RandomBatches(PlannedBatches):
    """Batches of examples in a random order: BAM's batches.

    Each epoch the examples are shuffled (by `seed` and the epoch) and cut into
    consecutive batches of `batch_size`; the last batch holds what is left. This
    is what BAM's input pipeline does (`tf.data` shuffling of all examples, of
    all tasks together for a multi-task student), so which examples share a
    batch, and so the mix of tasks in it, is random. Padding is the only thing
    that differs from BAM's fixed 128 tokens: each batch is padded to its own
    longest example (on TensorFlow) or to the smallest of a few lengths that
    holds it (on JAX, which compiles a program per shape), and BERT's attention
    mask makes the padding length change nothing but float rounding.

    Args:
        encoded: the `EncodedExamples`.
        targets: optional per-example targets (see `PlannedBatches`).
        sample_weights: optional per-example weights.
        batch_size: examples per batch.
        buckets: the padded lengths a batch may take. By default every length
            on TensorFlow, and on JAX the `RANDOM_BATCH_LENGTHS` lengths that
            waste the least padding on the first epoch's batches
            (`fitted_buckets` over their longest examples), the last holding
            the longest example.
        shuffle: shuffle anew each epoch (with `False`, one fixed random order).
        seed: the shuffling seed.
        packing: pack each batch's examples into rows (see `PlannedBatches`).
        **kwargs: passed to `keras.utils.PyDataset` (`workers`, ...).

    Example:
    ```python
    batches = keras_bam.data.RandomBatches(encoded, labels, batch_size=32, seed=1)
    model.fit(keras_bam.backend.as_fit_input(batches), epochs=3, shuffle=False)
    ```
    """

    def __init__(
        self,
        encoded: EncodedExamples,
        targets=None,
        sample_weights=None,
        batch_size: int = 32,
        buckets=None,
        shuffle: bool = True,
        seed: int = 0,
        packing=False,
        **kwargs,
    ):
        super().__init__(
            encoded,
            targets,
            sample_weights,
            batch_size,
            shuffle,
            seed,
            packing=packing,
            **kwargs,
        )
        if not buckets:
            step = bucket_step()
            if step is None:  # Every example is in the first epoch's batches.
                longest = [int(encoded.row_lengths[i].max()) for i in self._batches()]
                buckets = fitted_buckets(
                    longest, RANDOM_BATCH_LENGTHS, encoded.max_length
                )
            else:
                buckets = default_buckets(encoded.max_length, step=step)
        self.buckets = _check_buckets(buckets, encoded)
        self._start()

    def _batches(self) -> list:
        """The current epoch's batches of example indices."""
        order = np.arange(len(self.encoded))
        if self.shuffle:
            rng = np.random.default_rng([self.seed, self.epoch])
            order = rng.permutation(len(self.encoded))
        return [
            order[start : start + self.batch_size]
            for start in range(0, len(order), self.batch_size)
        ]

    def _make_plan(self):
        lengths = self.encoded.row_lengths
        buckets = np.asarray(self.buckets)
        return [
            (indices, int(buckets[np.searchsorted(buckets, lengths[indices].max())]))
            for indices in self._batches()
        ]


class RemainingBatches(BatchStream):
    """The batches of the current epoch of a stream from batch `start` on.

    What a run resumed mid-epoch trains on first: the rest of the interrupted
    epoch, in the same order. It does not advance the stream's epoch.

    Args:
        batches: a batch stream (`BucketedBatches`, `InterleavedBatches`).
        start: the first batch to give.

    Example:
    ```python
    batches.set_epoch(2)
    rest = keras_bam.data.RemainingBatches(batches, start=40)
    ```
    """

    def __init__(self, batches, start: int, **kwargs):
        super().__init__(batches.seed, **kwargs)
        if not 0 <= start < len(batches):
            raise ValueError(f"start must be in [0, {len(batches)}), got {start}.")
        self.batches = batches
        self.start = int(start)
        self.epoch = batches.epoch

    def __len__(self) -> int:
        return len(self.batches) - self.start

    def __getitem__(self, index: int):
        return self.batches[self.start + index]

    def on_epoch_begin(self):
        pass  # The rest of the stream's current epoch, not a new one.

    @property
    def packing(self):
        return self.batches.packing

    @property
    def row_multiple(self) -> int:
        return self.batches.row_multiple

    @property
    def padding_fraction(self) -> float:
        return self.batches.padding_fraction


def _take(values, indices):
    if isinstance(values, dict):
        return {k: np.asarray(v)[indices] for k, v in values.items()}
    return np.asarray(values)[indices]
