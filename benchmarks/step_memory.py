"""Peak memory and time of a BAM student's training step, against micro-batches.

The worst case of a student step: BAM's batch of 128 examples, every row a full
128 tokens (random tokens; memory and time do not depend on which), the four
tasks' heads of `make demo`, padded batches (packing cannot shrink full rows).
Each `--micro-batches` value (with each `--release-large-buffers` setting of the
C allocator, `keras_bam.backend.release_large_buffers`) trains `--steps` steps
in its own child process (`MultiTaskModel.compile(micro_batches=N)`,
AdamWeightDecay as in BAM's recipe);
the child reports its peak resident memory (`getrusage`), its memory before
the first step, and the mean time of the steps after the first (which traces
or compiles).

Usage:
    KERAS_BACKEND=tensorflow python benchmarks/step_memory.py --micro-batches 1 2 4 \
        --readme benchmarks/README.md
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from docs_tables import write_between_markers
from provenance import code_version
from provenance import machine
from provenance import portable

TASKS = ("rte", "mrpc", "stsb", "cola")


def child(args):
    import keras
    import numpy as np

    import keras_bam

    if args.release_large_buffers:
        if not keras_bam.backend.release_large_buffers(
            args.release_large_buffers * 2**20
        ):
            raise SystemExit("release_large_buffers had no effect here (not glibc).")
    keras.utils.set_random_seed(0)
    model = keras_bam.MultiTaskModel(keras_bam.load_backbone(), TASKS)
    model.compile(
        optimizer=keras_bam.training.AdamWeightDecay(1e-4, weight_decay=0.01),
        micro_batches=args.micro_batches,
    )
    rng = np.random.default_rng(0)
    shape = (args.batch_size, args.length)
    x = {
        "token_ids": rng.integers(1000, 20000, shape).astype("int32"),
        "segment_ids": np.zeros(shape, "int32"),
        "padding_mask": np.ones(shape, "int32"),
    }
    y = {
        "task_id": rng.integers(0, len(TASKS), args.batch_size).astype("int32"),
        "label": rng.integers(0, 2, args.batch_size).astype("float32"),
        "teacher": rng.normal(size=(args.batch_size, 3)).astype("float32"),
    }
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ends = []
    timer = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: ends.append(time.perf_counter())
    )
    model.fit(
        {k: np.tile(v, (args.steps, 1)) for k, v in x.items()},
        {k: np.concatenate([v] * args.steps) for k, v in y.items()},
        batch_size=args.batch_size,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[keras_bam.TeacherAnnealing(), timer],
    )
    print(
        json.dumps(
            {
                "micro_batches": args.micro_batches,
                "release_large_buffers_mib": args.release_large_buffers,
                "rss_before_fit_mib": round(before, 1),
                "peak_rss_mib": round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
                ),
                "seconds_per_step": round((ends[-1] - ends[0]) / (len(ends) - 1), 2),
            }
        ),
        flush=True,
    )


def table(result) -> str:
    """The runs as a Markdown table; `time vs first` is against the first run."""
    rows = [
        "| micro-batches | freed buffers ≥ MiB released | peak RSS MiB | "
        "before the first step MiB | s/step | time vs first |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    base = result["runs"][0]["seconds_per_step"] if result["runs"] else None
    for run in result["runs"]:
        released = run.get("release_large_buffers_mib", 0) or "-"
        rows.append(
            f"| {run['micro_batches']} | {released} | {run['peak_rss_mib']:,.0f} | "
            f"{run['rss_before_fit_mib']:,.0f} | {run['seconds_per_step']:.2f} | "
            f"{run['seconds_per_step'] / base:.3f} |"
        )
    return "\n".join(rows)


def render_readme(result, readme: str, marker: str | None = None):
    body = (
        f"\n**{result['label']}**, {result['machine']}, backend {result['backend']}, "
        f"commit {result['commit']}, batch {result['batch_size']} × "
        f"{result['length']} tokens: `KERAS_BACKEND={result['backend']} python "
        f"benchmarks/step_memory.py {' '.join(result['argv'])}`\n\n{table(result)}\n"
    )
    marker = marker or f"step-memory-table-{result['backend']}"
    write_between_markers(readme, f"<!-- {marker} -->", body)


def parent(args):
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    result = {
        "label": args.label,
        "machine": machine(),
        "backend": backend,
        "commit": code_version(),
        "argv": portable(sys.argv[1:]),
        "batch_size": args.batch_size,
        "length": args.length,
        "steps": args.steps,
        "runs": [],
    }
    output = (
        args.output or f"benchmarks/results/step_memory_{args.label}_{backend}.json"
    )
    settings = [
        (count, mib)
        for mib in args.release_large_buffers
        for count in args.micro_batches
    ]
    for count, mib in settings:
        command = [
            sys.executable,
            __file__,
            "--child",
            "--micro-batches",
            str(count),
            "--batch-size",
            str(args.batch_size),
            "--length",
            str(args.length),
            "--steps",
            str(args.steps),
            "--release-large-buffers",
            str(mib),
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(
                f"micro-batches {count}, release {mib}:\n{done.stderr[-3000:]}"
            )
        result["runs"].append(json.loads(done.stdout.strip().splitlines()[-1]))
        with open(output, "w") as f:
            json.dump(result, f, indent=1)
        print(table(result), flush=True)
    if args.readme:
        render_readme(result, args.readme, args.readme_marker)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--micro-batches", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument(
        "--release-large-buffers",
        type=int,
        nargs="+",
        default=[0],
        metavar="MIB",
        help="keras_bam.backend.release_large_buffers(MIB MiB) in the child (0: the C "
        "allocator's default); each value with each --micro-batches",
    )
    parser.add_argument("--label", default="cpu2")
    parser.add_argument("--output", default=None)
    parser.add_argument("--readme", default=None)
    parser.add_argument(
        "--readme-marker",
        default=None,
        help="the table's marker in --readme (default: step-memory-table-BACKEND)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if len(args.micro_batches) != 1 or len(args.release_large_buffers) != 1:
            raise SystemExit("A child measures one setting.")
        args.micro_batches = args.micro_batches[0]
        args.release_large_buffers = args.release_large_buffers[0]
        child(args)
    else:
        parent(args)


if __name__ == "__main__":
    main()
