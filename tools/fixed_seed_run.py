"""A short fixed-seed run whose every output a refactor must leave bit for bit.

Runs `run_glue` (RTE and STS-B teachers, a multi-task and a BAM student, with
checkpoints) and a 2-fold `cross_fit_teacher` on a tiny random BERT, then stores
every array it wrote (teacher predictions, dev outputs, both students' weights,
out-of-fold predictions) in `<out>/arrays.npz`. Run it at the commit before a
refactor and after it, then compare:

    git worktree add ../before HEAD
    PYTHONPATH=../before python tools/fixed_seed_run.py run ../fixed-before
    python tools/fixed_seed_run.py run ../fixed-after
    python tools/fixed_seed_run.py compare ../fixed-before ../fixed-after \
        --json benchmarks/results/fixed_seed_<before>-<after>_<backend>.json

(`PYTHONPATH` picks the worktree's `keras_bam` over the installed one.)
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.append(os.path.join(ROOT, "benchmarks"))  # provenance.py, shared with them
from provenance import portable  # noqa: E402

DEFAULT_GLUE = os.path.join(ROOT, "..", "shared", "glue")


def tiny_backbone():
    """A 2-layer random BERT with MiniLM's vocabulary, the same each call."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(0)
    return keras_hub.models.BertBackbone(
        vocabulary_size=30522,
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=128,
    )


def run(glue_dir: str, out: str) -> None:
    """The fixed-seed run into `out`; its arrays in `out/arrays.npz`."""
    import keras

    import keras_bam

    tokenizer = keras_bam.load_tokenizer()
    glue = keras_bam.run_glue(
        ["rte", "stsb"],
        data_dir=glue_dir,
        output_dir=out,
        backbone=tiny_backbone,
        tokenizer=tokenizer,
        students=("multitask", "bam"),
        teacher_recipe=keras_bam.FineTuningRecipe(epochs=1, batch_size=8, seed=3),
        student_recipe=keras_bam.FineTuningRecipe.bam_multi_task(
            epochs=2, batch_size=16, seed=3
        ),
        train_limit=24,
        eval_limit=8,
        export=False,
        submission=False,
        save_every=2,
        verbose=0,
    )
    keras_bam.cross_fit_teacher(
        "rte",
        os.path.join(out, "cross_fit", "rte"),
        folds=2,
        backbone=tiny_backbone,
        tokenizer=tokenizer,
        recipe=keras_bam.FineTuningRecipe(epochs=1, batch_size=8, seed=1),
        data_dir=glue_dir,
        train_limit=20,
        eval_limit=8,
        verbose=0,
    )
    arrays = {}
    for name in ("multitask", "bam"):
        student = keras.saving.load_model(glue.students[name]["model_path"])
        for index, weight in enumerate(student.get_weights()):
            arrays[f"{name} weight {index}"] = weight
    for root, _, files in os.walk(out):
        for file in sorted(files):
            if file.endswith(".npz") and file != "arrays.npz":
                path = os.path.join(root, file)
                with np.load(path) as stored:
                    for key in stored.files:
                        arrays[f"{os.path.relpath(path, out)}:{key}"] = stored[key]
    np.savez(os.path.join(out, "arrays.npz"), **arrays)
    print(glue.table)
    print(f"{len(arrays)} arrays in {os.path.join(out, 'arrays.npz')}")


def compare(before: str, after: str, json_path: str | None = None) -> int:
    """0 when the two runs' arrays are bit for bit equal, else 1 (and what
    differs); with `json_path`, the comparison is also written there."""
    with np.load(os.path.join(before, "arrays.npz")) as a:
        with np.load(os.path.join(after, "arrays.npz")) as b:
            only = sorted(set(a.files) ^ set(b.files))
            differ = [
                k for k in a.files if k in b.files and not np.array_equal(a[k], b[k])
            ]
            count = len(a.files)
    for key in only:
        print(f"in one run only: {key}")
    for key in differ:
        print(f"differs: {key}")
    equal = not only and not differ
    print(f"{count} arrays compared: {'equal' if equal else 'NOT equal'}")
    if json_path:
        record = {
            "command": "python tools/fixed_seed_run.py "
            + portable(" ".join(sys.argv[1:])),
            "backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
            "before": portable(os.path.abspath(before)),
            "after": portable(os.path.abspath(after)),
            "arrays": count,
            "equal": equal,
            "only_in_one": only,
            "differ": differ,
        }
        with open(json_path, "w") as f:
            json.dump(record, f, indent=2)
    return 0 if equal else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="run into a folder")
    run_parser.add_argument("out")
    run_parser.add_argument("--data-dir", default=DEFAULT_GLUE)
    compare_parser = commands.add_parser("compare", help="compare two runs")
    compare_parser.add_argument("before")
    compare_parser.add_argument("after")
    compare_parser.add_argument("--json", help="write the comparison here too")
    args = parser.parse_args(argv)
    if args.command == "run":
        run(args.data_dir, args.out)
        return 0
    return compare(args.before, args.after, args.json)


if __name__ == "__main__":
    sys.exit(main())
