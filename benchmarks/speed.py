"""Training and prediction throughput: keras-bam against KerasHub and HF + PyTorch.

Measures, on real GLUE training data (a fixed slice of each task: the first
`--limit` examples, 1024 by default, of MRPC and CoLA), batch 32, length 128, the
MiniLM-L6-H384 backbone:

- **keras-bam single-task** (`keras-bam-tf`, `keras-bam-jax`): `SingleTaskModel`,
  BAM's random batches packed into rows (`RandomBatches(packing=True)`; with
  `--no-packing`, padded to each batch's longest example),
  `keras_bam.backend.as_fit_input`, compiled with
  `keras_bam.training.make_optimizer`, `keras_bam.training.teacher.task_loss` and
  `FineTuningRecipe.bam_single_task()`, as `keras_bam.train_teacher` builds it; and
  `keras_bam.evaluation.predict_outputs` for prediction.
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
(`keras_bam.models.ClassTokenEncoder`, about 14% fewer FLOPs than the formula), so its
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
import datetime
import json
import os
import re
import subprocess
import sys
import time

from provenance import portable
from speedbench.flops import encoder_shape
from speedbench.hf_child import child_hf
from speedbench.keras_bam_child import child_keras_bam
from speedbench.keras_hub_child import child_keras_hub
from speedbench.machine import default_model_dir
from speedbench.machine import machine_info
from speedbench.peak_child import child_peak
from speedbench.tables import README_MARKER
from speedbench.tables import add_sums
from speedbench.tables import derive
from speedbench.tables import show
from speedbench.tables import targets
from speedbench.timing import RESULT

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SYSTEMS = {
    # name: (kind, KERAS_BACKEND)
    "keras-bam-tf": ("keras-bam", "tensorflow"),
    "keras-bam-jax": ("keras-bam", "jax"),
    # The same with `keras_bam.backend.enable_op_determinism()`: its cost.
    "keras-bam-tf-deterministic": ("keras-bam", "tensorflow"),
    "keras-bam-jax-deterministic": ("keras-bam", "jax"),
    "keras-hub-tf": ("keras-hub", "tensorflow"),
    "keras-hub-jax": ("keras-hub", "jax"),
    # Keras is imported only for keras-bam's TSV reader; its torch backend adds
    # nothing that the peer does not load anyway.
    "hf-torch": ("hf", "torch"),
}


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
    goals = targets(rows, args.tasks, SYSTEMS)

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
    result = portable(result)  # Its paths relative to the checkout.
    path = os.path.join(args.results_dir, f"speed_{args.label}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    show(result, args.readme, args.readme_marker)
    print(f"\nWrote {path} ({result['total_seconds']:.0f} s in all)")


if __name__ == "__main__":
    main()
