"""Data parallelism on each backend's engine: devices, processes, replicas, sums."""

from __future__ import annotations

import contextlib
import json
import os

import keras
import numpy as np

from keras_bam.backend.kernels import dense

DISTRIBUTIONS = ("none", "data_parallel")


_MIRRORED_STRATEGIES = {}


# This process's place in a cluster of training processes, once joined.
_CLUSTER = {}


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
    with keras_bam.backend.distribution_scope("data_parallel"):
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
    keras_bam.backend.initialize_cluster(["10.0.0.1:2222", "10.0.0.2:2222"], index)
    with keras_bam.backend.distribution_scope("data_parallel"):
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


def sharding_processes() -> int:
    """How many processes share each batch in the current distribution."""
    if process_count() == 1:
        return 1
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.get_strategy()
        return process_count() if strategy is _CLUSTER.get("strategy") else 1
    distribution = keras.distribution.distribution()
    return process_count() if distribution is not None else 1


def jax_data_parallel_devices() -> int:
    """The devices of JAX's current `DataParallel` distribution (1 without)."""
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
    return jax_data_parallel_devices()


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
