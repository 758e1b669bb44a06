"""Probes behind the speed analysis: tf.data autotuning, JAX batch shapes, and
what prediction would gain with no padding.

Small measurements the speed analysis in benchmarks/README.md rests on, each in
its own process (MiniLM, the first 256 MRPC training examples, batch 32):

- `autotune` (TensorFlow): the same `predict_outputs` batches and the same `fit`
  epoch over keras-bam's batch stream, through `to_tf_dataset` with `tf.data`'s
  autotuning off (its default) and on. With it on, about one call in
  two ends 1 s late and about one epoch in two starts 5 s late on 2 cores.
- `shapes` (JAX): the time of one prediction batch `(rows, length)` for lengths
  just under and at multiples of 8, and for rows of 128, to show what finer
  buckets or packing would buy.
- `padding-bound-keras` (JAX) and `padding-bound-torch` (the peer): prediction
  over the first 256 MRPC and CoLA training examples, the same token ids in
  both. keras-bam with its default buckets and with a bucket per length (each
  batch of length-sorted examples padded to its own longest: the least padding
  batches of 32 allow); the peer in dataset order, as `speed.py` measures it,
  and length-sorted, in the very batches of keras-bam's bucket-per-length plan.
  Their processes alternate (`--rounds`), so the machine's drift falls on both.
- `kernels` (JAX, with PyTorch in the same process): the products of a MiniLM
  forward at a (32, 64) batch in XLA and in PyTorch, keras-bam's jitted JAX
  forward of such a batch, and the seconds one more prediction shape takes to
  compile; in `--rounds` processes.
- `xla-flags` (JAX): that forward in its own process under each of
  `XLA_FLAG_SETS` (plain first and last, to show the drift).
- `tf-ops` (TensorFlow): keras-bam's forward of a (32, 64) batch, with
  `jit_compile=True` too, and its op time by op type from TensorFlow's profiler.
- `prediction-layout-tf` and `prediction-layout-jax`: `predict_outputs` over the
  first 256 MRPC and CoLA training examples with packed rows and with length
  buckets (on TensorFlow also with `jit_compile=True`), to choose
  `prediction_batches`'s default per backend.

    python benchmarks/probes.py --label cpu2

writes `benchmarks/results/probes_<label>.json` and prints a table per probe.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from speed import run_child
from speedbench.timing import calls_timed
from speedbench.timing import keras_pass_timer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

RESULT = "PROBE_RESULT "
SHAPES = [(32, 13), (32, 16), (32, 45), (32, 48), (32, 61), (32, 64), (12, 128)]


def load(task: str, limit: int, data_dir: str):
    import keras_bam

    tokenizer = keras_bam.load_tokenizer()
    loader = keras_bam.data.SplitLoader(tokenizer, 128, data_dir=data_dir)
    return loader.load(task, "train", limit)


def child_autotune(cfg: dict) -> dict:
    """Seconds of `predict_outputs` calls and `fit` epochs, autotuning off and on."""
    import keras

    import keras_bam
    from keras_bam.backend import set_seed
    from keras_bam.data.streams import to_tf_dataset
    from keras_bam.prediction import prediction_batches
    from keras_bam.teacher import task_loss
    from keras_bam.teacher import training_targets
    from keras_bam.training import make_optimizer

    examples, encoded = load("mrpc", cfg["limit"], cfg["data_dir"])
    out = {}
    for autotune in (False, True):  # On: what `tf.data` does unless told.
        set_seed(0)
        model = keras_bam.SingleTaskModel(keras_bam.load_backbone(), "mrpc")
        calls = []
        for _ in range(cfg["calls"] + 1):  # The first call traces.
            start = time.perf_counter()
            # `predict_outputs`'s batches and dataset, with autotuning chosen.
            batches = prediction_batches(model, encoded, 32, None, None)
            model.predict(to_tf_dataset(batches, autotune=autotune), verbose=0)
            calls.append(time.perf_counter() - start)
        recipe = keras_bam.FineTuningRecipe.bam_single_task(batch_size=32)
        model.compile(
            optimizer=make_optimizer(recipe, 1000, 6),
            loss=task_loss(model.task, recipe.loss_reduction),
        )
        batches = keras_bam.data.BucketedBatches(
            encoded,
            training_targets(examples.task, examples.labels),
            batch_size=32,
            shuffle=True,
        )

        class FirstBatch(keras.callbacks.Callback):
            ends = []

            def on_train_batch_end(self, batch, logs=None):
                if batch == 0:
                    FirstBatch.ends.append(time.perf_counter())

        FirstBatch.ends = []
        timer = keras_pass_timer()
        model.fit(
            to_tf_dataset(batches, autotune=autotune),  # as `as_fit_input` makes it
            epochs=cfg["epochs"] + 1,  # The first epoch traces.
            shuffle=False,
            verbose=0,
            callbacks=[timer, FirstBatch()],
        )
        out["on" if autotune else "off"] = {
            "predict_seconds": calls[1:],
            "epoch_seconds": [e - b for b, e in zip(timer.begins, timer.ends)][1:],
            "first_batch_seconds": [
                e - b for b, e in zip(timer.begins, FirstBatch.ends)
            ][1:],
        }
    return out


def child_shapes(cfg: dict) -> dict:
    """Median milliseconds of one prediction batch per `(rows, length)`."""
    import numpy as np

    import keras_bam

    model = keras_bam.SingleTaskModel(keras_bam.load_backbone(), "mrpc")
    rng = np.random.default_rng(0)
    out = {}
    for rows, length in SHAPES:
        batch = {
            "token_ids": rng.integers(1000, 30000, (rows, length)).astype("int32"),
            "segment_ids": np.zeros((rows, length), "int32"),
            "padding_mask": np.ones((rows, length), "int32"),
        }
        model.predict_on_batch(batch)  # Compiles.
        seconds = []
        for _ in range(cfg["reps"]):
            start = time.perf_counter()
            model.predict_on_batch(batch)
            seconds.append(time.perf_counter() - start)
        out[f"{rows}x{length}"] = {
            "rows": rows,
            "length": length,
            "median_ms": 1000 * float(np.median(seconds)),
            "seconds": seconds,
        }
    return out


def timed_plan(predict, warmup: int, passes: int) -> dict:
    """Seconds of whole prediction passes: the warm-up (compilation) and the rest."""
    warmup_seconds, seconds = calls_timed(predict, warmup, passes)
    return {"warmup_seconds": warmup_seconds, "seconds": seconds}


def child_padding_bound_keras(cfg: dict) -> dict:
    """keras-bam's JAX prediction with its default buckets and with a bucket per
    length (each batch of length-sorted examples padded to its longest only)."""
    import keras_bam

    model = keras_bam.SingleTaskModel(keras_bam.load_backbone(), "mrpc")
    out = {}
    for task in ("mrpc", "cola"):
        _, encoded = load(task, cfg["limit"], cfg["data_dir"])
        for plan, buckets in (("default", None), ("every length", range(1, 129))):
            buckets = tuple(buckets) if buckets else None
            batches = keras_bam.data.BucketedBatches(
                encoded, batch_size=32, buckets=buckets
            )
            timing = timed_plan(
                lambda encoded=encoded, buckets=buckets: (
                    keras_bam.evaluation.predict_outputs(
                        model, encoded, batch_size=32, buckets=buckets
                    )
                ),
                warmup=2,
                passes=cfg["passes"],
            )
            out[f"{task}/{plan}"] = {
                "system": "keras-bam (jax)",
                "task": task,
                "plan": plan,
                "shapes": len(batches.shapes),
                "real_tokens": int(encoded.row_lengths.sum()),
                "padded_tokens": batches.padded_tokens,
                **timing,
            }
    return out


def child_padding_bound_torch(cfg: dict) -> dict:
    """The peer's forward (transformers + PyTorch) on the same token ids, in
    dataset order (as `speed.py` predicts) and length-sorted."""
    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification

    from keras_bam.backbones import resolve_preset

    torch.set_num_threads(os.cpu_count())
    path = resolve_preset("minilm")
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    model.eval()
    out = {}
    for task in ("mrpc", "cola"):
        _, encoded = load(task, cfg["limit"], cfg["data_dir"])
        lengths = encoded.row_lengths
        orders = {
            "dataset order": np.arange(len(lengths)),
            "length-sorted": np.argsort(lengths, kind="stable"),
        }
        for plan, order in orders.items():
            chunks = [order[s : s + 32] for s in range(0, len(order), 32)]
            batches = []
            for chunk in chunks:
                padded = encoded.pad_batch(chunk, int(lengths[chunk].max()))
                batches.append(
                    {
                        "input_ids": torch.from_numpy(padded["token_ids"]).long(),
                        "token_type_ids": torch.from_numpy(
                            padded["segment_ids"]
                        ).long(),
                        "attention_mask": torch.from_numpy(
                            padded["padding_mask"]
                        ).long(),
                    }
                )

            def predict(batches=batches):
                with torch.inference_mode():
                    return [model(**b).logits for b in batches]

            timing = timed_plan(predict, warmup=2, passes=cfg["passes"])
            out[f"{task}/{plan}"] = {
                "system": "transformers + PyTorch",
                "task": task,
                "plan": plan,
                "shapes": len({tuple(b["input_ids"].shape) for b in batches}),
                "real_tokens": int(lengths.sum()),
                "padded_tokens": int(sum(b["input_ids"].numel() for b in batches)),
                **timing,
            }
    return out


KERNEL_ROWS = 32 * 64  # The token positions of a (32, 64) batch.
COMPILE_SHAPES = [(32, 40), (32, 41), (32, 57), (32, 90), (17, 64), (32, 120)]
XLA_FLAG_SETS = [
    "",
    "--xla_cpu_use_onednn=true",
    "--xla_cpu_enable_concurrency_optimized_scheduler=false",
    "--xla_cpu_experimental_ynn_fusion_type=",
    "",
]


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


def child_prediction_layout(cfg: dict) -> dict:
    """`predict_outputs` with packed rows and with length buckets, per task (on
    TensorFlow also under `jit_compile=True`)."""
    import keras

    import keras_bam

    model = keras_bam.SingleTaskModel(keras_bam.load_backbone(), "mrpc")
    tensorflow = keras.backend.backend() == "tensorflow"
    out = {}
    for task in ("mrpc", "cola"):
        _, encoded = load(task, cfg["limit"], cfg["data_dir"])
        for jit_compile in (False, True) if tensorflow else (True,):
            model.compile(jit_compile=jit_compile)
            default = keras_bam.evaluation.prediction_batches(
                model, encoded, batch_size=32
            )
            default_packs = default.packing is not None
            for layout in ("packed", "bucketed"):
                packing = layout == "packed"
                plan = keras_bam.evaluation.prediction_batches(
                    model, encoded, batch_size=32, packing=packing
                )
                timing = timed_plan(
                    lambda encoded=encoded, packing=packing: (
                        keras_bam.evaluation.predict_outputs(
                            model, encoded, batch_size=32, packing=packing
                        )
                    ),
                    warmup=2,
                    passes=cfg["passes"],
                )
                out[f"{task}/{layout}/jit={jit_compile}"] = {
                    "backend": keras.backend.backend(),
                    "task": task,
                    "layout": layout,
                    "jit_compile": jit_compile,
                    "default": packing == default_packs,
                    "shapes": len(plan.shapes),
                    "real_tokens": int(encoded.row_lengths.sum()),
                    "padded_tokens": plan.padded_tokens,
                    **timing,
                }
    return out


CHILDREN = {
    "autotune": ("tensorflow", child_autotune),
    "shapes": ("jax", child_shapes),
    "padding-bound-keras": ("jax", child_padding_bound_keras),
    "padding-bound-torch": ("jax", child_padding_bound_torch),
    "kernels": ("jax", child_kernels),
    "xla-flags": ("jax", child_xla_flags),
    "tf-ops": ("tensorflow", child_tf_ops),
    "prediction-layout-tf": ("tensorflow", child_prediction_layout),
    "prediction-layout-jax": ("jax", child_prediction_layout),
}


PAIRED = ("padding-bound-keras", "padding-bound-torch")


def merge_rounds(before: dict | None, now: dict) -> dict:
    """One round's results added to the earlier rounds' (seconds appended)."""
    if before is None:
        return {
            k: {**v, "warmup_seconds": [v["warmup_seconds"]]} for k, v in now.items()
        }
    for key, value in now.items():
        before[key]["seconds"] += value["seconds"]
        before[key]["warmup_seconds"].append(value["warmup_seconds"])
    return before


def spread(values) -> str:
    return f"{min(values):.2f}–{max(values):.2f}"


def report(result: dict) -> str:
    lines = [f"**{result['label']}**: `{result['command']}`", ""]
    autotune = result["probes"].get("autotune")
    if autotune:
        lines += [
            "| tf.data autotuning | predict calls (s) | slow calls | fit epochs (s) "
            "| slow epochs | first batch (s) |",
            "|---|---|---|---|---|---|",
        ]
        for key in ("off", "on"):
            p = autotune[key]
            fast = min(p["predict_seconds"])
            slow_calls = sum(s > 1.4 * fast for s in p["predict_seconds"])
            fastest_epoch = min(p["epoch_seconds"])
            slow_epochs = sum(s > 1.4 * fastest_epoch for s in p["epoch_seconds"])
            lines.append(
                f"| {key} | {spread(p['predict_seconds'])} | "
                f"{slow_calls} of {len(p['predict_seconds'])} | "
                f"{spread(p['epoch_seconds'])} | "
                f"{slow_epochs} of {len(p['epoch_seconds'])} | "
                f"{spread(p['first_batch_seconds'])} |"
            )
        lines.append("")
    shapes = result["probes"].get("shapes")
    if shapes:
        lines += [
            "| JAX prediction batch | ms (median) | padded tokens/s |",
            "|---|---|---|",
        ]
        for p in shapes.values():
            rate = p["rows"] * p["length"] / (p["median_ms"] / 1000)
            lines.append(
                f"| ({p['rows']}, {p['length']}) | {p['median_ms']:.1f} | {rate:,.0f} |"
            )
    kernels = result["probes"].get("kernels")
    if kernels:
        lines += [
            "",
            "| product at a (32, 64) batch | XLA (JAX) ms | PyTorch ms |",
            "|---|---|---|",
        ]
        for op in kernels[0]["xla"]:
            xla_ms = [k["xla"][op] for k in kernels]
            torch_ms = [k["torch"][op] for k in kernels]
            lines.append(f"| {op} | {spread(xla_ms)} | {spread(torch_ms)} |")
        forward = [k["forward_ms"] for k in kernels]
        compile_s = [c["compile_s"] for k in kernels for c in k["compile"].values()]
        lines += [
            "",
            f"Ranges over {len(kernels)} processes. keras-bam's jitted JAX forward of "
            f"a (32, 64) batch: {spread(forward)} ms; one more prediction shape "
            f"compiles in {spread(compile_s)} s ({', '.join(kernels[0]['compile'])}).",
        ]
    flags = result["probes"].get("xla-flags")
    if flags:
        lines += [
            "",
            "| XLA_FLAGS (own process, in run order) | JAX forward (32, 64) ms |",
        ]
        lines.append("|---|---|")
        for p in flags:
            lines.append(f"| `{p['xla_flags'] or '(none)'}` | {p['forward_ms']:.1f} |")
    tf_ops = result["probes"].get("tf-ops")
    if tf_ops:
        ops = tf_ops["op_ms_by_type"]
        products = sum(v for k, v in ops.items() if "MatMul" in k)
        lines += [
            "",
            f"TensorFlow forward of a (32, 64) batch: {tf_ops['forward_ms']:.1f} ms "
            f"(`jit_compile=True`: {tf_ops['jit_compile_forward_ms']:.1f} ms); op time "
            f"summed over its threads: products {products:.1f} ms, everything else "
            f"{sum(ops.values()) - products:.1f} ms ("
            + ", ".join(
                f"{k} {v:.1f}" for k, v in list(ops.items())[:12] if "MatMul" not in k
            )
            + ").",
        ]
    layouts = [
        p
        for name in ("prediction-layout-tf", "prediction-layout-jax")
        for p in result["probes"].get(name, {}).values()
    ]
    if layouts:
        lines += [
            "",
            "| prediction | task | layout | jit_compile | default | shapes "
            "| padding | s per pass (min) | tokens/s |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for p in layouts:
            seconds = min(p["seconds"])
            padding = 1 - p["real_tokens"] / p["padded_tokens"]
            lines.append(
                f"| {p['backend']} | {p['task']} | {p['layout']} | {p['jit_compile']} "
                f"| {'yes' if p['default'] else ''} | {p['shapes']} | {padding:.0%} "
                f"| {seconds:.2f} | {p['real_tokens'] / seconds:,.0f} |"
            )
    bound = {
        **result["probes"].get("padding-bound-keras", {}),
        **result["probes"].get("padding-bound-torch", {}),
    }
    if bound:
        lines += ["", padding_bound_table(bound)]
    return "\n".join(lines)


def padding_bound_table(bound: dict) -> str:
    """Prediction tokens/s per system and plan, per task and summed, against
    the peer in dataset order."""
    import numpy as np

    rows = {}
    for p in bound.values():
        key = (p["system"], p["plan"])
        row = rows.setdefault(key, {"real": 0, "padded": 0, "seconds": 0.0})
        seconds = float(np.median(p["seconds"]))
        row[p["task"]] = (p["real_tokens"] / seconds, p["padded_tokens"], p["shapes"])
        row["real"] += p["real_tokens"]
        row["padded"] += p["padded_tokens"]
        row["seconds"] += seconds
    peer = rows.get(("transformers + PyTorch", "dataset order"))
    lines = [
        "| prediction | plan | mrpc tokens/s | cola tokens/s | mrpc+cola tokens/s "
        "| padding | shapes | x peer |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (system, plan), row in rows.items():
        rate = row["real"] / row["seconds"]
        ratio = rate / (peer["real"] / peer["seconds"]) if peer else float("nan")
        shapes = sum(row[t][2] for t in ("mrpc", "cola"))
        lines.append(
            f"| {system} | {plan} | {row['mrpc'][0]:,.0f} | {row['cola'][0]:,.0f} "
            f"| {rate:,.0f} | {1 - row['real'] / row['padded']:.0%} | {shapes} "
            f"| {ratio:.2f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--label", default="cpu2")
    parser.add_argument("--probes", nargs="+", default=list(CHILDREN))
    parser.add_argument("--limit", type=int, default=256)
    parser.add_argument("--calls", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--data-dir", default=os.path.join(ROOT, "..", "shared", "glue")
    )
    parser.add_argument(
        "--results-dir", default=os.path.join(ROOT, "benchmarks", "results")
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-config", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        out = CHILDREN[args.child][1](json.loads(args.child_config))
        print(RESULT + json.dumps(out), flush=True)
        return
    cfg = {k: getattr(args, k) for k in ("limit", "calls", "epochs", "reps", "passes")}
    cfg["data_dir"] = args.data_dir
    result = {
        "label": args.label,
        "command": "python benchmarks/probes.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cores": os.cpu_count(),
        "config": cfg,
        "probes": {},
    }
    # The paired probes' processes alternate, so the machine's drift hits both.
    paired = [name for name in args.probes if name in PAIRED]
    runs = [name for name in args.probes if name not in PAIRED] + paired * args.rounds
    log_dir = os.path.join(ROOT, "runs", "probes", args.label)
    os.makedirs(log_dir, exist_ok=True)
    for name in runs:
        backend, _ = CHILDREN[name]
        # Repeated in their own processes: XLA's timings differ from one process
        # to the next (it schedules independent products side by side or not).
        if name == "xla-flags":
            settings = [{"xla_flags": flags} for flags in XLA_FLAG_SETS]
        elif name == "kernels":
            settings = [{"round": i} for i in range(args.rounds)]
        else:
            settings = [None]
        for i, extra in enumerate(settings):
            records, _ = run_child(
                name if extra is None else f"{name}-{i}",
                name,
                backend,
                {**cfg, **(extra or {})},
                log_dir,
                script=__file__,
                prefix=RESULT,
            )
            if not records or "error" in records[-1]:
                raise SystemExit(f"probe {name} failed; its log is in {log_dir}.")
            out = records[-1]
            if name in PAIRED:
                out = merge_rounds(result["probes"].get(name), out)
            if extra is None:
                result["probes"][name] = out
            else:
                result["probes"].setdefault(name, []).append(out)
    os.makedirs(args.results_dir, exist_ok=True)
    path = os.path.join(args.results_dir, f"probes_{args.label}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    print(report(result))
    print(f"\nWrote {path}")


if __name__ == "__main__":
    main()
