"""The probes of `benchmarks/probes.py`, each run in a child process: tf.data's
autotuning and JAX's batch shapes (`batches`), prediction's padding bound and
layouts (`padding`), the kernels behind a MiniLM forward (`kernels`), and the
tables they print (`report`)."""
