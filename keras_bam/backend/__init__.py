"""The one place where keras-bam does something backend-specific (TensorFlow, JAX),
or below both (the C allocator).

Everything else uses `keras.ops`.
"""

from keras_bam.backend.allocator import limit_malloc_arenas
from keras_bam.backend.allocator import release_freed_memory
from keras_bam.backend.allocator import release_large_buffers
from keras_bam.backend.compilation import bucket_step
from keras_bam.backend.compilation import build_optimizer_before_tracing
from keras_bam.backend.compilation import compiles_each_shape
from keras_bam.backend.compilation import enable_compilation_cache
from keras_bam.backend.compilation import released_gradient_registrations
from keras_bam.backend.determinism import enable_op_determinism
from keras_bam.backend.determinism import op_determinism
from keras_bam.backend.determinism import set_seed
from keras_bam.backend.distribution import DISTRIBUTIONS
from keras_bam.backend.distribution import all_reduce_sum
from keras_bam.backend.distribution import batch_replicas
from keras_bam.backend.distribution import cluster_barrier
from keras_bam.backend.distribution import data_parallel_devices
from keras_bam.backend.distribution import distribution_scope
from keras_bam.backend.distribution import global_sum
from keras_bam.backend.distribution import initialize_cluster
from keras_bam.backend.distribution import is_chief
from keras_bam.backend.distribution import jax_data_parallel_devices
from keras_bam.backend.distribution import loss_replicas
from keras_bam.backend.distribution import process_count
from keras_bam.backend.distribution import process_index
from keras_bam.backend.distribution import sharding_processes
from keras_bam.backend.fit_input import PassCountingBatches
from keras_bam.backend.fit_input import ProcessShardedBatches
from keras_bam.backend.fit_input import ReplicaPaddedBatches
from keras_bam.backend.fit_input import as_fit_input
from keras_bam.backend.fit_input import build_batch
from keras_bam.backend.fit_input import check_packed_replicas
from keras_bam.backend.fit_input import gathered_predict_function
from keras_bam.backend.fit_input import replica_logs
from keras_bam.backend.fit_input import strip_padding
from keras_bam.backend.kernels import dense
from keras_bam.backend.kernels import dropout
from keras_bam.backend.micro_batching import micro_batched_train_step
from keras_bam.backend.supported import check_backend
from keras_bam.backend.tf_data import to_tf_dataset

__all__ = [
    "DISTRIBUTIONS",
    "PassCountingBatches",
    "ProcessShardedBatches",
    "ReplicaPaddedBatches",
    "all_reduce_sum",
    "as_fit_input",
    "batch_replicas",
    "bucket_step",
    "build_batch",
    "build_optimizer_before_tracing",
    "check_backend",
    "check_packed_replicas",
    "cluster_barrier",
    "compiles_each_shape",
    "data_parallel_devices",
    "dense",
    "distribution_scope",
    "dropout",
    "enable_compilation_cache",
    "enable_op_determinism",
    "gathered_predict_function",
    "global_sum",
    "initialize_cluster",
    "is_chief",
    "jax_data_parallel_devices",
    "limit_malloc_arenas",
    "loss_replicas",
    "micro_batched_train_step",
    "op_determinism",
    "process_count",
    "process_index",
    "release_freed_memory",
    "release_large_buffers",
    "released_gradient_registrations",
    "replica_logs",
    "set_seed",
    "sharding_processes",
    "strip_padding",
    "to_tf_dataset",
]
