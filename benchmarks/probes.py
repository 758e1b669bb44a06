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

from probebench.batches import child_autotune
from probebench.batches import child_shapes
from probebench.kernels import XLA_FLAG_SETS
from probebench.kernels import child_kernels
from probebench.kernels import child_tf_ops
from probebench.kernels import child_xla_flags
from probebench.padding import child_padding_bound_keras
from probebench.padding import child_padding_bound_torch
from probebench.padding import child_prediction_layout
from probebench.report import merge_rounds
from probebench.report import report
from provenance import portable
from speed import run_child

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

RESULT = "PROBE_RESULT "


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
        json.dump(portable(result), f, indent=2)
    print(report(result))
    print(f"\nWrote {path}")


if __name__ == "__main__":
    main()
