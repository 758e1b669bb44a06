"""What the probes share: MiniLM's encoded training examples, random batches,
and timing helpers."""

from __future__ import annotations

import time

from speedbench.timing import calls_timed


def load(task: str, limit: int, data_dir: str):
    import keras_bam

    tokenizer = keras_bam.load_tokenizer()
    loader = keras_bam.data.SplitLoader(tokenizer, 128, data_dir=data_dir)
    return loader.load(task, "train", limit)


def timed_plan(predict, warmup: int, passes: int) -> dict:
    """Seconds of whole prediction passes: the warm-up (compilation) and the rest."""
    warmup_seconds, seconds = calls_timed(predict, warmup, passes)
    return {"warmup_seconds": warmup_seconds, "seconds": seconds}


def median_ms(call, reps: int) -> float:
    """Median milliseconds of `call()` after one untimed call."""
    import numpy as np

    call()
    seconds = []
    for _ in range(reps):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return 1000 * float(np.median(seconds))


def random_batch(rows: int, length: int, seed: int = 0) -> dict:
    import numpy as np

    rng = np.random.default_rng(seed)
    return {
        "token_ids": rng.integers(1000, 30000, (rows, length)).astype("int32"),
        "segment_ids": np.zeros((rows, length), "int32"),
        "padding_mask": np.ones((rows, length), "int32"),
    }


def jax_forward_ms(reps: int) -> float:
    """keras-bam's JAX forward of a (32, 64) batch, jitted, in milliseconds."""
    import jax

    import keras_bam

    model = keras_bam.SingleTaskModel(keras_bam.load_backbone(), "mrpc")
    trainable = [v.value for v in model.trainable_variables]
    other = [v.value for v in model.non_trainable_variables]
    batch = random_batch(32, 64)

    @jax.jit
    def forward(trainable, other, batch):
        return model.stateless_call(trainable, other, batch, training=False)[0]

    return median_ms(lambda: forward(trainable, other, batch).block_until_ready(), reps)
