"""The one place where keras-bam does something backend-specific."""

from __future__ import annotations

import contextlib
import json
import os
import sys

import keras
import numpy as np
from keras.utils import PyDataset

DISTRIBUTIONS = ("none", "data_parallel")
_MIRRORED_STRATEGIES = {}
# This process's place in a cluster of training processes, once joined.
_CLUSTER = {}


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
        if self._fetched or not _inside_symbolic_build():
            self._fetched.add(int(index))
        return self.batches[index]

    def on_epoch_begin(self):
        if self._passes == 0 or len(self._fetched) >= len(self.batches):
            self.batches.on_epoch_begin()
            self._passes += 1
        self._fetched = set()

    def on_epoch_end(self):
        pass


def _inside_symbolic_build() -> bool:
    """Whether Keras's trainer is fetching a batch only to build the model.

    That fetch looks like any other to the stream: with one batch per epoch it
    would complete a pass. Keras exposes no flag for it, so this looks for its
    `Trainer._symbolic_build` frame on the stack.
    """
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "_symbolic_build" and "keras" in code.co_filename:
            return True
        frame = frame.f_back
    return False


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
        if isinstance(targets, dict) and "task_id" in targets:
            padded = _pad_rows(targets, extra)
            padded["task_id"][rows:] = -1
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
    model.fit(keras_bam.as_fit_input(batches), epochs=3, shuffle=False)
    ```
    """
    processes = _sharding_processes()
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
    devices = _jax_data_parallel_devices()
    if processes > 1:
        batches = ProcessShardedBatches(batches, devices, process_index(), processes)
    elif devices > 1:
        batches = ReplicaPaddedBatches(batches, devices)
    return PassCountingBatches(batches)


def _tf_process_dataset(local):
    """This worker's rows as the strategy's distributed dataset: split into one
    contiguous block per local replica, in replica order."""
    import tensorflow as tf

    from keras_bam.data.batching import to_tf_dataset

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


def compiles_each_shape(model) -> bool:
    """Whether `model`'s steps are compiled per input shape (XLA): when it runs
    with `jit_compile`, whose default ("auto") Keras resolves to on for JAX,
    and for TensorFlow on a machine with an accelerator."""
    return bool(getattr(model, "jit_compile", False))


def strip_padding(fit_input, outputs):
    """`predict`'s outputs over `as_fit_input(...)` without padding rows."""
    batches = getattr(fit_input, "batches", None)
    if isinstance(batches, ReplicaPaddedBatches):
        return batches.strip(outputs)
    return outputs


def data_parallel_devices() -> list:
    """The devices `distribution_scope("data_parallel")` trains on.

    Every accelerator when there are any; otherwise every CPU device the
    backend shows (several only when configured: JAX's
    `XLA_FLAGS=--xla_force_host_platform_device_count=N`, TensorFlow's logical
    CPU devices).
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        return [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    return keras.distribution.list_devices()


@contextlib.contextmanager
def distribution_scope(distribution: str = "none"):
    """Where models are built, trained and used for one kind of distribution.

    `"none"`: one device. `"data_parallel"`: every batch is split over
    `data_parallel_devices()`, each holding a replica of the weights, through
    the backend's own engine: `keras.distribution.DataParallel` on JAX,
    `tf.distribute.MirroredStrategy` on TensorFlow. In a cluster of processes
    (`initialize_cluster`), the devices are every process's:
    `tf.distribute.MultiWorkerMirroredStrategy` on TensorFlow, `DataParallel`
    over `jax.distributed`'s global devices on JAX. Gradients are summed over the whole
    batch before clipping, so a run computes what it would on one device, up to
    the order of floating-point sums.

    Args:
        distribution: one of `DISTRIBUTIONS`.

    Yields:
        The `tf.distribute.Strategy` or `keras.distribution.Distribution`
        (`None` for `"none"`).

    Example:
    ```python
    with keras_bam.distribution_scope("data_parallel"):
        run = keras_bam.train_student(["rte", "mrpc"], ...)
    ```
    """
    if distribution not in DISTRIBUTIONS:
        raise ValueError(
            f"Unknown distribution {distribution!r}; use one of {DISTRIBUTIONS}."
        )
    if distribution == "none":
        yield None
        return
    if keras.backend.backend() == "tensorflow" and "strategy" in _CLUSTER:
        with _CLUSTER["strategy"].scope():
            yield _CLUSTER["strategy"]
        return
    devices = data_parallel_devices()
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        # One strategy per process and device set: the collective operations
        # of a second MirroredStrategy reuse the first one's keys and fail.
        key = tuple(devices)
        if key not in _MIRRORED_STRATEGIES:
            _MIRRORED_STRATEGIES[key] = tf.distribute.MirroredStrategy(devices)
        strategy = _MIRRORED_STRATEGIES[key]
        with strategy.scope():
            yield strategy
        return
    # Several processes: each feeds its own rows of every batch (`as_fit_input`).
    data_parallel = keras.distribution.DataParallel(
        devices=devices, auto_shard_dataset=process_count() == 1
    )
    with data_parallel.scope():
        yield data_parallel


def initialize_cluster(workers: list | None = None, index: int | None = None):
    """Joins this process to a cluster of processes that train one model.

    Each process runs the same program with the same arguments but its own
    `index`; inside `distribution_scope("data_parallel")` they then train as
    one data-parallel replica set over every process's devices: each process
    feeds its own rows of every batch (`as_fit_input`), gradients are summed
    over all of them, λ advances once per global step, and only process 0
    writes files (`is_chief`). Call it at program start, before the backend
    has run anything (TensorFlow configures its collective operations then).

    On TensorFlow this creates a `tf.distribute.MultiWorkerMirroredStrategy`
    from `TF_CONFIG` (written from `workers` and `index` when given); on JAX it
    calls `keras.distribution.initialize` (`jax.distributed.initialize`, the
    first address being the coordinator; without `workers`, from Keras's
    `KERAS_DISTRIBUTION_JOB_ADDRESSES`, `KERAS_DISTRIBUTION_NUM_PROCESSES` and
    `KERAS_DISTRIBUTION_PROCESS_ID`), with Gloo collectives on CPUs.

    Args:
        workers: every process's `host:port`, in index order; `None` to read
            the backend's own environment variables.
        index: this process's position in `workers`.

    Returns:
        `(process_count, process_index)`.

    Example:
    ```python
    # On each of two machines, with its own index (0 or 1):
    keras_bam.initialize_cluster(["10.0.0.1:2222", "10.0.0.2:2222"], index)
    with keras_bam.distribution_scope("data_parallel"):
        keras_bam.train_student(["rte", "mrpc"], ...)
    ```
    """
    if _CLUSTER:
        return _CLUSTER["count"], _CLUSTER["index"]
    if workers is not None:
        workers = [str(w) for w in workers]
        if index is None or not 0 <= int(index) < len(workers):
            raise ValueError(
                f"index must be this process's position in the {len(workers)} "
                f"workers {workers}, got {index!r}."
            )
        index = int(index)
    if keras.backend.backend() == "tensorflow":
        _initialize_tf_cluster(workers, index)
    elif keras.backend.backend() == "jax":
        _initialize_jax_cluster(workers, index)
    else:
        raise ValueError(
            f"Several processes are supported on TensorFlow and JAX, not on "
            f"{keras.backend.backend()!r}."
        )
    return _CLUSTER["count"], _CLUSTER["index"]


def _initialize_tf_cluster(workers, index):
    import tensorflow as tf

    if workers is not None:
        os.environ["TF_CONFIG"] = json.dumps(
            {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        )
    if "TF_CONFIG" not in os.environ:
        raise ValueError("Give the workers, or set TF_CONFIG on each process.")
    config = json.loads(os.environ["TF_CONFIG"])
    cluster, task = config.get("cluster", {}), config.get("task", {})
    chiefs = list(cluster.get("chief", []))
    count = len(chiefs) + len(cluster.get("worker", []))
    position = int(task.get("index", 0))
    if task.get("type") == "worker":
        position += len(chiefs)
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as error:
        raise RuntimeError(
            "initialize_cluster must be called before TensorFlow runs any "
            f"operation in this process (TensorFlow: {error})."
        ) from error
    _CLUSTER.update(count=count, index=position, strategy=strategy)


def _initialize_jax_cluster(workers, index):
    import jax

    # XLA's CPU client has no cross-process collectives without Gloo.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if workers is None:
        keras.distribution.initialize()
    else:
        keras.distribution.initialize(",".join(workers), len(workers), index)
    _CLUSTER.update(count=jax.process_count(), index=jax.process_index())


def process_count() -> int:
    """How many processes train together (1 outside `initialize_cluster`)."""
    return int(_CLUSTER.get("count", 1))


def process_index() -> int:
    """This process's index in the cluster (0 outside `initialize_cluster`)."""
    return int(_CLUSTER.get("index", 0))


def is_chief() -> bool:
    """Whether this process writes the run's files: process 0, the only one
    outside a cluster. The others compute the same weights and write nothing."""
    return process_index() == 0


def _sharding_processes() -> int:
    """How many processes share each batch in the current distribution."""
    if process_count() == 1:
        return 1
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.get_strategy()
        return process_count() if strategy is _CLUSTER.get("strategy") else 1
    distribution = keras.distribution.distribution()
    return process_count() if distribution is not None else 1


def _jax_data_parallel_devices() -> int:
    distribution = keras.distribution.distribution()
    if isinstance(distribution, keras.distribution.DataParallel):
        return int(np.prod(distribution.device_mesh.shape))
    return 1


def batch_replicas() -> int:
    """How many replicas split each batch in the current distribution: the
    `tf.distribute` strategy's replicas on TensorFlow, the `DataParallel`
    devices on JAX; 1 outside `distribution_scope`."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return int(tf.distribute.get_strategy().num_replicas_in_sync)
    return _jax_data_parallel_devices()


def loss_replicas() -> int:
    """How many replicas each compute a share of one step's loss.

    Under `tf.distribute`, each replica computes the loss of its part of the
    batch and the gradients are summed: a loss averaged over the batch is
    divided by this count (as Keras's own losses are), and a logged value is
    multiplied by it. JAX's data parallelism computes one loss over the global
    batch: 1.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return int(tf.distribute.get_strategy().num_replicas_in_sync)
    return 1


def all_reduce_sum(values: list) -> list:
    """Sums per-replica values (e.g. gradients) over the replicas of a
    `tf.distribute` step; anything else is returned as is."""
    if keras.backend.backend() != "tensorflow":
        return values
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return values
    present = [i for i, v in enumerate(values) if v is not None]
    reduced = context.all_reduce(
        tf.distribute.ReduceOp.SUM, [dense(values[i]) for i in present]
    )
    values = list(values)
    for i, value in zip(present, reduced):
        values[i] = value
    return values


def global_sum(value):
    """A per-replica scalar summed over the replicas of a `tf.distribute` step
    (as is anywhere else, JAX's global batch included)."""
    return all_reduce_sum([value])[0]


def bucket_step() -> int | None:
    """The padding granularity `BucketedBatches` uses by default on this backend.

    TensorFlow runs every length through one traced step (`as_fit_input` gives
    it a dynamic length), so lengths cost nothing: 1, a bucket per length (a
    batch is padded to its longest example). JAX compiles a program per shape
    (seconds each for a BERT model), so `None`: few shapes.
    """
    return 1 if keras.backend.backend() == "tensorflow" else None


def enable_compilation_cache(
    directory: str | os.PathLike, min_compile_seconds: float = 1.0
) -> bool:
    """Keeps JAX's compiled XLA programs on disk, so a later run reuses them.

    JAX compiles one program per step and batch shape, seconds to tens of
    seconds each for a BERT model (compile times in `benchmarks/README.md`);
    a filled cache skips them. A program is
    looked up by a hash of its computation, shapes, devices, XLA flags and JAX
    version, so a changed model or machine compiles anew and never reuses a
    stale program. TensorFlow traces its steps in every process and has no such
    cache: there this does nothing.

    The folder holds machine code that JAX runs, like Python's `__pycache__`:
    keep it where only you can write (whoever can write there can run code in
    your process); never share or download one.

    Args:
        directory: where the programs are kept (created if needed).
        min_compile_seconds: programs that compiled faster are not kept.

    Returns:
        Whether the cache is on (`True` on JAX).

    Example:
    ```python
    keras_bam.enable_compilation_cache(".cache/xla")
    ```
    """
    if keras.backend.backend() != "jax":
        return False
    import jax

    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update(
        "jax_persistent_cache_min_compile_time_secs", float(min_compile_seconds)
    )
    # A cache JAX already opened (another folder, or none) is reopened at the next
    # compilation with these settings.
    from jax.experimental.compilation_cache import compilation_cache

    compilation_cache.reset_cache()
    return True


@contextlib.contextmanager
def released_gradient_registrations():
    """Frees, on exit, the gradient functions TensorFlow registered inside.

    On TensorFlow, each trace of Keras's train step all-reduces the gradients
    through `tf.custom_gradient`, which registers a gradient function under a
    new name in TensorFlow's global registry and never removes it; its closure
    keeps the whole traced step alive, so every `fit` of a new model leaks its
    train graph. The traced step no longer needs them (gradients are built at
    trace time), so they are removed when the block ends. TensorFlow offers no
    public call for this; on other backends, or if TensorFlow's registry
    changes form, this does nothing.

    Example:
    ```python
    with keras_bam.backend_utils.released_gradient_registrations():
        model.fit(x, y)
    ```
    """
    registry = None
    if keras.backend.backend() == "tensorflow":
        from tensorflow.python.framework import ops as tf_ops

        registry = getattr(
            getattr(tf_ops, "_gradient_registry", None), "_registry", None
        )
    if not isinstance(registry, dict):
        yield
        return
    before = set(registry)
    try:
        yield
    finally:
        for name in [n for n in registry if n not in before]:
            if name.startswith("CustomGradient-"):
                del registry[name]


def set_seed(seed: int):
    """Seeds Python, numpy and the backend's random generators."""
    keras.utils.set_random_seed(int(seed))


def dense(tensor):
    """`tensor` as a dense tensor: TensorFlow's sparse gradients of embeddings
    (`tf.IndexedSlices`) are densified; anything else is returned as is."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if isinstance(tensor, tf.IndexedSlices):
            return tf.convert_to_tensor(tensor)
    return tensor


def dropout(inputs, rate: float, seed_generator, noise_shape=None):
    """Inverted dropout: a fraction `rate` of `inputs` zeroed, the rest scaled
    by `1 / (1 - rate)`, as `keras.random.dropout` does.

    On JAX the keep mask comes from XLA's `RngBitGenerator` (Threefry, keyed by
    the seed generator's next seed): one uint32 per entry compared with
    `round((1 - rate) * 2**32)`: one random draw and one comparison per entry,
    several times cheaper than `jax.random.bernoulli` (what Keras uses; timings
    in `benchmarks/README.md`). Other backends use `keras.random.dropout`
    (TensorFlow's stateless Philox is as cheap as a bit generator there).

    Args:
        inputs: the tensor.
        rate: the fraction dropped, in `[0, 1)`.
        seed_generator: a `keras.random.SeedGenerator`, advanced once per call.
        noise_shape: the mask's shape (`None` entries: the input's), as in
            `keras.layers.Dropout`.

    Returns:
        The tensor with dropout applied.
    """
    if keras.backend.backend() != "jax" or rate == 0.0:
        return keras.random.dropout(
            inputs, rate, noise_shape=noise_shape, seed=seed_generator
        )
    import jax
    import jax.numpy as jnp

    shape = tuple(inputs.shape)
    if noise_shape is not None:
        shape = tuple(s if d is None else d for s, d in zip(shape, noise_shape))
    seed = jnp.asarray(seed_generator.next(), jnp.uint32)
    key = jnp.concatenate([seed, jnp.zeros((2,), jnp.uint32)])
    _, bits = jax.lax.rng_bit_generator(
        key, shape, dtype=jnp.uint32, algorithm=jax.lax.RandomAlgorithm.RNG_THREE_FRY
    )
    keep = bits < np.uint32(min(round((1.0 - rate) * 2**32), 2**32 - 1))
    scaled = inputs / jnp.asarray(1.0 - rate, inputs.dtype)
    return jnp.where(keep, scaled, jnp.zeros((), inputs.dtype))


def build_batch(model, iterator):
    """The batch TensorFlow's `fit` builds `model` from, as one replica's tensors.

    Under `MultiWorkerMirroredStrategy`, Keras reduces the first distributed
    batch to plain tensors with a cross-worker mean that fails on nested
    inputs; any replica's share has the right shapes and dtypes, so this takes
    the first local one. Returns `None` elsewhere (Keras's own build applies).
    """
    if iterator is None or _sharding_processes() == 1:
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
    if _sharding_processes() == 1 or keras.backend.backend() != "tensorflow":
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
        or _sharding_processes() == 1
        or getattr(function, "gathers_processes", False)
    ):
        return function
    from jax.experimental import multihost_utils

    def gathered(state, iterator):
        outputs, state = function(state, iterator)
        return multihost_utils.process_allgather(outputs, tiled=True), state

    gathered.gathers_processes = True
    return gathered


def cluster_barrier(name: str):
    """Waits until every process of the cluster has reached this point (e.g.
    until process 0 has written files the others read next); nothing outside
    a cluster."""
    if process_count() == 1:
        return
    if keras.backend.backend() == "jax":
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
        return
    import tensorflow as tf

    # A collective all-reduce completes only once every worker has joined it.
    strategy = _CLUSTER["strategy"]
    ones = strategy.run(lambda: tf.constant(1.0))
    strategy.reduce(tf.distribute.ReduceOp.SUM, ones, axis=None).numpy()


def enable_op_determinism():
    """Makes the backend's kernels deterministic, at some cost in speed.

    keras-bam's own randomness already follows the run's seed (initialization,
    dropout, data order; two processes give bit-identical runs on CPUs). What
    remains are kernels whose floating-point sums run in a scheduling-dependent
    order, mostly on GPUs (atomic additions in scatters and reductions): on
    TensorFlow this calls `tf.config.experimental.enable_op_determinism()`
    (process-wide; ops without a deterministic kernel then raise); on JAX it
    adds XLA's `--xla_gpu_deterministic_ops=true` to `XLA_FLAGS`, which XLA
    reads when the backend starts, so call it before JAX runs anything (it
    raises otherwise). JAX's CPU kernels are deterministic already.

    Example:
    ```python
    keras_bam.enable_op_determinism()  # At program start.
    ```
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        return
    if keras.backend.backend() != "jax":
        raise ValueError(
            f"Op determinism is supported on TensorFlow and JAX, not on "
            f"{keras.backend.backend()!r}."
        )
    flag = "--xla_gpu_deterministic_ops=true"
    if flag in os.environ.get("XLA_FLAGS", ""):
        return
    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized():
        raise RuntimeError(
            "enable_op_determinism must be called before JAX starts its backend "
            "(XLA reads XLA_FLAGS once); call it at program start."
        )
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flag).strip()


def op_determinism() -> dict:
    """What this process guarantees about repeating a run: for a run's record.

    Returns:
        `backend`, `devices` (the accelerator kind, or `"cpu"`),
        `op_determinism` (whether `enable_op_determinism` is in force) and
        `bit_identical` (whether two processes repeat a seeded run bit for
        bit: on CPUs always, elsewhere only with op determinism).
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        from tensorflow.python.framework import config as tf_config

        # TensorFlow has no public getter for `enable_op_determinism`'s state.
        enabled = bool(tf_config.is_op_determinism_enabled())
        gpus = tf.config.list_logical_devices("GPU")
        devices = "gpu" if gpus else "cpu"
    else:
        enabled = "--xla_gpu_deterministic_ops=true" in os.environ.get("XLA_FLAGS", "")
        import jax

        devices = jax.default_backend()
    return {
        "backend": backend,
        "devices": devices,
        "op_determinism": enabled,
        "bit_identical": devices == "cpu" or enabled,
    }
