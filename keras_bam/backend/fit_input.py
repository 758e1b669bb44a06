"""Batch streams in the form each backend's `fit` and `predict` consume."""

from __future__ import annotations

import keras
import numpy as np
from keras.utils import PyDataset

from keras_bam.backend.distribution import batch_replicas
from keras_bam.backend.distribution import jax_data_parallel_devices
from keras_bam.backend.distribution import process_count
from keras_bam.backend.distribution import process_index
from keras_bam.backend.distribution import sharding_processes
from keras_bam.backend.tf_data import to_tf_dataset
from keras_bam.utils.keras_private import inside_symbolic_build
from keras_bam.utils.targets import TASK_ID


class PassCountingBatches(PyDataset):
    """A batch stream for JAX's `fit` that counts epochs by complete passes.

    JAX's trainer calls a `PyDataset`'s `on_epoch_begin` and `on_epoch_end` once
    more than there are epochs (it fetches one batch to build the model first),
    so a stream that counted those calls would train epoch `k` on epoch `k + 1`'s
    order, and a resumed run would differ from an uninterrupted one. This wrapper
    moves the stream to its next epoch at an `on_epoch_begin` only when the pass
    before it fetched every batch (in any order, so Keras's own batch shuffling
    does not confuse it), not counting the fetch that builds the model, which
    would otherwise complete a pass of a one-batch stream.

    Args:
        batches: the stream (`BucketedBatches`, `InterleavedBatches`,
            `RemainingBatches`).
    """

    def __init__(self, batches, **kwargs):
        super().__init__(**kwargs)
        self.batches = batches
        self._passes = 0
        self._fetched = set()

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int):
        # Only a pass's first fetches can be the build's: look at the stack
        # until one is not, not at every batch.
        if self._fetched or not inside_symbolic_build():
            self._fetched.add(int(index))
        return self.batches[index]

    def on_epoch_begin(self):
        if self._passes == 0 or len(self._fetched) >= len(self.batches):
            self.batches.on_epoch_begin()
            self._passes += 1
        self._fetched = set()

    def on_epoch_end(self):
        pass


def check_packed_replicas(batches, replicas: int):
    """Raises `ValueError` if `batches` is packed with row counts that cannot
    be split evenly over `replicas` (a packed batch's rows cannot be padded)."""
    if getattr(batches, "packing", None) is None or not batches.row_multiple % replicas:
        return
    raise ValueError(
        f"A packed stream whose row counts are multiples of {batches.row_multiple} "
        f"cannot be split over {replicas} replicas: build it inside "
        f"`distribution_scope`, or give `Packing(row_multiple={replicas})`."
    )


class ReplicaPaddedBatches(PyDataset):
    """A batch stream whose batches are padded to a multiple of the replicas.

    JAX's data-parallel `fit` splits every batch evenly over the devices, so a
    last batch of 7 examples cannot run on 2 devices. This wrapper appends
    copies of a batch's first example that count for nothing: their `task_id`
    is -1 (`MultiTaskModel` gives such rows no loss), or their sample weight is
    0. For prediction, `strip` drops the padding rows' outputs again.

    Args:
        batches: the stream.
        multiple: pad each batch to a multiple of this many rows.
    """

    def __init__(self, batches, multiple: int, **kwargs):
        super().__init__(**kwargs)
        self.batches = batches
        self.multiple = int(multiple)
        self._rows = {}  # Batch index to its rows before padding, for `strip`.
        self._packed = getattr(batches, "packing", None) is not None
        check_packed_replicas(batches, self.multiple)

    def __len__(self) -> int:
        return len(self.batches)

    def on_epoch_begin(self):
        self.batches.on_epoch_begin()

    def __getitem__(self, index: int):
        batch = self.batches[index]
        if self._packed:  # Packed rows are already a multiple of the replicas.
            return batch
        rows = len(keras.tree.flatten(batch[0])[0])
        self._rows[int(index)] = rows
        extra = -rows % self.multiple
        if not extra:
            return batch
        inputs = _pad_rows(batch[0], extra)
        if len(batch) == 1:
            return (inputs,)
        targets = batch[1]
        if isinstance(targets, dict) and TASK_ID in targets:
            padded = _pad_rows(targets, extra)
            padded[TASK_ID][rows:] = -1
            if len(batch) == 2:
                return inputs, padded
            return inputs, padded, _pad_rows(batch[2], extra)
        weights = batch[2] if len(batch) == 3 else np.ones(rows, np.float32)
        weights = _pad_rows(np.asarray(weights, np.float32), extra)
        weights[rows:] = 0.0
        return inputs, _pad_rows(targets, extra), weights

    def strip(self, outputs):
        """Drops the padding rows from the outputs of `predict` over this stream."""
        if self._packed:
            return outputs
        keep = []
        for index in range(len(self.batches)):
            rows = self._rows.get(index)
            if rows is None:  # Not fetched through this wrapper: count it now.
                rows = len(keras.tree.flatten(self.batches[index][0])[0])
            keep.append(np.ones(rows, bool))
            keep.append(np.zeros(-rows % self.multiple, bool))
        keep = np.concatenate(keep)
        return keras.tree.map_structure(lambda x: np.asarray(x)[keep], outputs)


class ProcessShardedBatches(ReplicaPaddedBatches):
    """This process's rows of each batch of a stream that several processes share.

    Every process builds the same stream (same data, seed and epoch); each
    batch is padded to a multiple of the replicas of all processes (as
    `ReplicaPaddedBatches` does; a packed batch's rows already are) and process
    `index` keeps the `index`-th of `processes` equal, contiguous blocks of
    each of its arrays. Together the processes
    train on every row of every batch exactly once, in one global step, and
    `predict`'s gathered outputs are the padded batches in order (`strip`).

    Args:
        batches: the stream, the same on every process.
        multiple: the replicas of all processes together.
        index: this process's index.
        processes: how many processes share each batch.
    """

    def __init__(self, batches, multiple: int, index: int, processes: int, **kwargs):
        super().__init__(batches, multiple, **kwargs)
        if multiple % processes:
            raise ValueError(
                f"{multiple} replicas cannot be split evenly over "
                f"{processes} processes."
            )
        self.index, self.processes = int(index), int(processes)

    def __getitem__(self, index: int):
        return keras.tree.map_structure(self._block, super().__getitem__(index))

    def _block(self, values):
        # Each array by its own length: a packed batch's targets have one entry
        # per slot, `slots` times its rows (as `tf.distribute` splits them).
        values = np.asarray(values)
        share = len(values) // self.processes
        return values[self.index * share : (self.index + 1) * share]


def _pad_rows(values, extra: int):
    """`values` (an array or dict of arrays) with `extra` copies of row 0 appended."""
    if isinstance(values, dict):
        return {k: _pad_rows(v, extra) for k, v in values.items()}
    values = np.asarray(values)
    return np.concatenate([values, np.repeat(values[:1], extra, axis=0)])


def as_fit_input(batches):
    """The form of a batch stream that `fit`/`predict` consume best.

    On TensorFlow: a `tf.data.Dataset` with a dynamic sequence length (Keras's
    `PyDataset` adapter would fix the shape it sees in the first batches). On JAX:
    a `PyDataset` (no TensorFlow needed) that counts epochs by complete passes. On
    both, `fit`'s `k`-th epoch trains on the stream's order for epoch
    `batches.epoch + k`, so `set_epoch` before `fit` resumes a run exactly. Pass
    `shuffle=False` to `fit` (the stream shuffles, by seed and epoch); with
    Keras's default `shuffle=True` JAX also permutes the batch order.

    Inside `distribution_scope("data_parallel")` (call it there): on
    TensorFlow the dataset accounts for the batch Keras reads before the first
    epoch; on JAX, batches are padded to a multiple of the device count with rows
    that count for nothing (`ReplicaPaddedBatches`; pass the result to
    `strip_padding` after `predict`). In a cluster (`initialize_cluster`),
    each process feeds its own rows of every batch (`ProcessShardedBatches`;
    on TensorFlow through `distribute_datasets_from_function`).

    Example:
    ```python
    model.fit(keras_bam.backend.as_fit_input(batches), epochs=3, shuffle=False)
    ```
    """
    processes = sharding_processes()
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        check_packed_replicas(batches, batch_replicas())
        if processes > 1:
            return _tf_process_dataset(
                ProcessShardedBatches(
                    batches, batch_replicas(), process_index(), processes
                )
            )
        return batches.to_tf_dataset(first_pass_is_build=tf.distribute.has_strategy())
    devices = jax_data_parallel_devices()
    if processes > 1:
        batches = ProcessShardedBatches(batches, devices, process_index(), processes)
    elif devices > 1:
        batches = ReplicaPaddedBatches(batches, devices)
    return PassCountingBatches(batches)


def _tf_process_dataset(local):
    """This worker's rows as the strategy's distributed dataset: split into one
    contiguous block per local replica, in replica order."""
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync // process_count()
    dataset = to_tf_dataset(local, first_pass_is_build=True)
    if replicas > 1:

        def split(*batch):
            pieces = tf.nest.map_structure(
                lambda x: tf.stack(tf.split(x, replicas)), batch
            )
            return tf.data.Dataset.from_tensor_slices(pieces)

        dataset = dataset.flat_map(split)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.OFF
    )
    dataset = dataset.with_options(options)
    distributed = strategy.distribute_datasets_from_function(lambda context: dataset)
    distributed.batches = local  # For `strip_padding`.
    return distributed


def strip_padding(fit_input, outputs):
    """`predict`'s outputs over `as_fit_input(...)` without padding rows."""
    batches = getattr(fit_input, "batches", None)
    if isinstance(batches, ReplicaPaddedBatches):
        return batches.strip(outputs)
    return outputs


def build_batch(model, iterator):
    """The batch TensorFlow's `fit` builds `model` from, as one replica's tensors.

    Under `MultiWorkerMirroredStrategy`, Keras reduces the first distributed
    batch to plain tensors with a cross-worker mean that fails on nested
    inputs; any replica's share has the right shapes and dtypes, so this takes
    the first local one. Returns `None` elsewhere (Keras's own build applies).
    """
    if iterator is None or sharding_processes() == 1:
        return None
    strategy = model.distribute_strategy
    for _, _, distributed in iterator:
        batch = next(distributed)
        return keras.tree.map_structure(
            lambda v: strategy.experimental_local_results(v)[0], batch
        )
    return None


def replica_logs(logs: dict) -> dict:
    """A step's logs in the form Keras can reduce over the current replicas.

    Keras reduces a multi-worker step's logs with a mean over axis 0, which a
    scalar lacks: there each scalar becomes a one-element vector, so the
    reduction averages the replicas' values as it does on one machine.
    """
    if sharding_processes() == 1 or keras.backend.backend() != "tensorflow":
        return logs
    return {
        k: keras.ops.reshape(v, (1,)) if len(keras.ops.shape(v)) == 0 else v
        for k, v in logs.items()
    }


def gathered_predict_function(function):
    """`function` (a JAX trainer's predict step) returning whole batches on
    every process: in a cluster its outputs are sharded over the processes,
    which numpy cannot read, so each is gathered (TensorFlow's trainer already
    gathers). Anything else is returned as is."""
    if (
        keras.backend.backend() != "jax"
        or sharding_processes() == 1
        or getattr(function, "gathers_processes", False)
    ):
        return function
    from jax.experimental import multihost_utils

    def gathered(state, iterator):
        outputs, state = function(state, iterator)
        return multihost_utils.process_allgather(outputs, tiled=True), state

    gathered.gathers_processes = True
    return gathered
