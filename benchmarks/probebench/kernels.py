"""The kernels behind a MiniLM forward: XLA's products against PyTorch's, the
forward under XLA's CPU options, and TensorFlow's op time by type."""

from __future__ import annotations

import os
import time

from probebench.common import jax_forward_ms
from probebench.common import median_ms
from probebench.common import random_batch

KERNEL_ROWS = 32 * 64  # The token positions of a (32, 64) batch.
COMPILE_SHAPES = [(32, 40), (32, 41), (32, 57), (32, 90), (17, 64), (32, 120)]
XLA_FLAG_SETS = [
    "",
    "--xla_cpu_use_onednn=true",
    "--xla_cpu_enable_concurrency_optimized_scheduler=false",
    "--xla_cpu_experimental_ynn_fusion_type=",
    "",
]


def child_kernels(cfg: dict) -> dict:
    """The products of a MiniLM forward at a (32, 64) batch in XLA (JAX) and in
    PyTorch, and the seconds one more prediction shape takes to compile."""
    import jax
    import jax.numpy as jnp
    import torch

    import keras_bam

    reps = cfg["reps"] * 3
    x = jnp.ones((KERNEL_ROWS, 384))
    h = jnp.ones((KERNEL_ROWS, 1536))
    # Three different weights: XLA would merge three products by one matrix.
    wq, wk, wv = (jnp.full((384, 384), v) for v in (1.0, 2.0, 3.0))
    w384, w1152 = wq, jnp.ones((384, 1152))
    w1536, w_out = jnp.ones((384, 1536)), jnp.ones((1536, 384))
    heads = jnp.ones((32, 12, 64, 32))
    product = jax.jit(lambda a, b: a @ b)
    three = jax.jit(lambda x, a, b, c: (x @ a, x @ b, x @ c))
    scores = jax.jit(lambda q, k: jnp.einsum("bhqd,bhkd->bhqk", q, k))

    def xla(call, *args):
        return median_ms(lambda: jax.block_until_ready(call(*args)), reps)

    out = {"xla": {}, "torch": {}}
    out["xla"]["(2048,384)x(384,1536)"] = xla(product, x, w1536)
    out["xla"]["(2048,1536)x(1536,384)"] = xla(product, h, w_out)
    out["xla"]["(2048,384)x(384,384)"] = xla(product, x, w384)
    out["xla"]["3 x (2048,384)x(384,384)"] = xla(three, x, wq, wk, wv)
    out["xla"]["(2048,384)x(384,1152)"] = xla(product, x, w1152)
    out["xla"]["attention scores, 32x12 heads (64,32)x(32,64)"] = xla(
        scores, heads, heads
    )

    # keras-bam's own forward and compilation, before PyTorch's threads start.
    out["forward_ms"] = jax_forward_ms(reps)
    model = keras_bam.SingleTaskModel(keras_bam.load_backbone(), "mrpc")
    model.predict_on_batch(random_batch(32, 16))  # Makes the predict function.
    out["compile"] = {}
    for rows, length in COMPILE_SHAPES:
        batch = random_batch(rows, length)
        start = time.perf_counter()
        model.predict_on_batch(batch)
        first = time.perf_counter() - start
        steady = median_ms(lambda batch=batch: model.predict_on_batch(batch), 5)
        out["compile"][f"{rows}x{length}"] = {
            "first_s": first,
            "steady_s": steady / 1000,
            "compile_s": first - steady / 1000,
        }

    torch.set_num_threads(os.cpu_count())
    tx, th = torch.ones(KERNEL_ROWS, 384), torch.ones(KERNEL_ROWS, 1536)
    tw = {
        "384": torch.ones(384, 384),
        "1152": torch.ones(384, 1152),
        "1536": torch.ones(384, 1536),
        "out": torch.ones(1536, 384),
    }
    tqkv = [torch.full((384, 384), v) for v in (1.0, 2.0, 3.0)]
    theads = torch.ones(32, 12, 64, 32)
    with torch.inference_mode():
        out["torch"]["(2048,384)x(384,1536)"] = median_ms(lambda: tx @ tw["1536"], reps)
        out["torch"]["(2048,1536)x(1536,384)"] = median_ms(lambda: th @ tw["out"], reps)
        out["torch"]["(2048,384)x(384,384)"] = median_ms(lambda: tx @ tw["384"], reps)
        out["torch"]["3 x (2048,384)x(384,384)"] = median_ms(
            lambda: [tx @ w for w in tqkv], reps
        )
        out["torch"]["(2048,384)x(384,1152)"] = median_ms(lambda: tx @ tw["1152"], reps)
        out["torch"]["attention scores, 32x12 heads (64,32)x(32,64)"] = median_ms(
            lambda: theads @ theads.transpose(-1, -2), reps
        )

    return out


def child_xla_flags(cfg: dict) -> dict:
    """keras-bam's JAX forward of a (32, 64) batch under `cfg["xla_flags"]`
    (set before JAX starts)."""
    os.environ["XLA_FLAGS"] = cfg["xla_flags"]
    return {
        "xla_flags": cfg["xla_flags"],
        "forward_ms": jax_forward_ms(cfg["reps"] * 3),
    }


def child_tf_ops(cfg: dict) -> dict:
    """keras-bam's TensorFlow forward of a (32, 64) batch: its time, with
    `jit_compile=True` too, and its op time by op type from TensorFlow's profiler."""
    import collections
    import glob
    import tempfile

    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    import keras_bam

    model = keras_bam.SingleTaskModel(keras_bam.load_backbone(), "mrpc")
    batch = {k: tf.constant(v) for k, v in random_batch(32, 64).items()}
    forward = tf.function(lambda x: model(x, training=False))
    compiled = tf.function(lambda x: model(x, training=False), jit_compile=True)
    reps = cfg["reps"] * 3
    out = {
        "forward_ms": median_ms(lambda: forward(batch).numpy(), reps),
        "jit_compile_forward_ms": median_ms(lambda: compiled(batch).numpy(), reps),
    }
    calls = 5
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for _ in range(calls):
            forward(batch).numpy()
        tf.profiler.experimental.stop()
        path = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)[0]
        space = xplane_pb2.XSpace()
        with open(path, "rb") as f:
            space.ParseFromString(f.read())
    op_ms = collections.Counter()
    for plane in space.planes:
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = names.get(event.metadata_id, "")
                if ":" in name.replace("::", ""):  # "<op name>:<op type>"
                    op_ms[name.rsplit(":", 1)[1]] += event.duration_ps / 1e9 / calls
    out["op_ms_by_type"] = dict(op_ms.most_common())
    return out
