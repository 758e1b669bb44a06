"""BAM on GLUE, end to end: teachers, their predictions, students, dev table, export.

For each task a single-task teacher is fine-tuned and writes its predictions over
the training set; then a plain multi-task student (gold labels only) and a BAM
student (teacher annealing) are trained on all tasks together. Each student is
scored on dev, saved as `.keras`, exported as a SavedModel with one serving
signature per task, and writes GLUE's test submission files. The dev table of
teachers and students is printed and written to `<output-dir>/dev_table.md`.

    KERAS_BACKEND=jax python examples/glue.py
    KERAS_BACKEND=tensorflow python examples/glue.py --tasks rte mrpc stsb cola --paper

By default the quick setting runs: 96 training examples of each task (a random
sample drawn with seed 0), 1 teacher and 1 student epoch, BAM's weighting formula
over the sampled sizes, the dev table and submission files on the first 200 dev
and test examples, models kept without optimizer state. Every phase runs, in
minutes on a 2-core CPU; its scores are far below the paper's and it has too few
steps to show BAM's effect. `--paper` runs BAM's recipes on the full training
sets. An interrupted
run started again with the same command reuses finished teachers and students and
resumes a student from its last checkpoint. `keras-bam glue` runs the same job
with every option of the library (`keras-bam glue --help`).
"""

import argparse
import logging
import os
import sys

import keras_bam_cli

# TensorFlow's and JAX's start-up lines (CUDA probing on a machine without a
# GPU, when they load and when they first look for devices) are held back, and
# shown only if this fails.
with keras_bam_cli.native_stderr_captured():
    import keras
    import tensorflow as tf  # Reads the data and serves the export, on any backend.

    import keras_bam

    keras.distribution.list_devices()
    tf.config.list_physical_devices()


def positive_int(text: str) -> int:
    """A count of 1 or more (argparse's error otherwise)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def seed(text: str) -> int:
    """A seed from 0 to 2**32 - 1, as NumPy takes (argparse's error otherwise)."""
    value = int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be from 0 to 2**32 - 1, not {value}")
    return value


def parse_arguments(argv: list | None = None) -> argparse.Namespace:
    """This script's options (`keras-bam glue` has all of the library's).

    Args:
        argv: the arguments; the process's by default.

    Returns:
        The parsed options.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["rte", "mrpc", "stsb", "cola"])
    parser.add_argument(
        "--students",
        nargs="+",
        default=["multitask", "bam"],
        help="any of keras_bam.training.glue_run.STUDENTS",
    )
    parser.add_argument(
        "--paper", action="store_true", help="BAM's recipes on the full training sets"
    )
    parser.add_argument(
        "--data-dir", default=os.environ.get("KERAS_BAM_DATA_DIR") or "../shared/glue"
    )
    parser.add_argument("--output-dir", default="runs/glue")
    parser.add_argument("--cache-dir", default=".cache/encoded")
    parser.add_argument(
        "--train-limit", type=positive_int, help="N training examples per task"
    )
    parser.add_argument("--train-sample-seed", type=seed)
    parser.add_argument(
        "--eval-limit",
        type=positive_int,
        help="N dev and test examples per task (the submission files' too)",
    )
    parser.add_argument("--teacher-epochs", type=positive_int)
    parser.add_argument("--student-epochs", type=positive_int)
    parser.add_argument(
        "--save-every", type=positive_int, help="checkpoint every N steps"
    )
    args = parser.parse_args(argv)
    if not os.path.isdir(args.data_dir):
        parser.error(f"no GLUE folder at {os.path.abspath(args.data_dir)}")
    return args


def run_glue_arguments(args: argparse.Namespace) -> dict:
    """`keras_bam.run_glue`'s arguments: the quick setting, or with `--paper`
    BAM's recipes on the full training sets.

    Args:
        args: the options (`parse_arguments`).

    Returns:
        The keyword arguments of `keras_bam.run_glue`.
    """
    train_limit, sample_seed = args.train_limit, args.train_sample_seed
    eval_limit = args.eval_limit
    if args.paper:
        teacher = keras_bam.FineTuningRecipe.bam_single_task()
        student = keras_bam.FineTuningRecipe.bam_multi_task()
    else:  # Minutes on a 2-core CPU, on a random sample of each training set.
        teacher = keras_bam.FineTuningRecipe.bam_single_task(epochs=1)
        # The student's batch of 128 in 4 slices of 32: a laptop's memory.
        student = keras_bam.FineTuningRecipe.bam_multi_task(epochs=1, micro_batches=4)
        train_limit = 96 if train_limit is None else train_limit
        sample_seed = 0 if sample_seed is None else sample_seed
        # The dev table and the submission files on the first 200 examples.
        eval_limit = 200 if eval_limit is None else eval_limit
    if args.teacher_epochs is not None:
        teacher.epochs = args.teacher_epochs
    if args.student_epochs is not None:
        student.epochs = args.student_epochs
    return dict(
        tasks=args.tasks,
        students=tuple(args.students),
        teacher_recipe=teacher,
        student_recipe=student,
        data_dir=args.data_dir,
        output_dir=args.output_dir,
        cache_dir=args.cache_dir,
        train_limit=train_limit,
        eval_limit=eval_limit,
        train_sample_seed=sample_seed if train_limit else None,
        save_every=args.save_every,
        # A quick run's models are looked at, not trained on: a third of the disk.
        save_optimizer=args.paper,
        # BAM's table of multiples is of GLUE's full sizes; on samples, BAM's
        # formula over the sizes sampled.
        weighting="bam" if args.paper else "bam_trained",
        verbose=1 if sys.stdout.isatty() else 2,  # In a log: a line per epoch.
    )


def main(argv: list | None = None) -> None:
    args = parse_arguments(argv)
    # keras-bam's progress; other libraries' warnings only.
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("keras_bam").setLevel(logging.INFO)
    # As `keras-bam glue` does: one C-allocator heap per CPU core (less memory),
    # and JAX's compiled programs kept for the next run.
    keras_bam.backend.limit_malloc_arenas()
    keras_bam.backend.enable_compilation_cache(".cache/xla")

    run = keras_bam.run_glue(**run_glue_arguments(args))

    if not args.paper:
        print("Quick setting: a smoke run, too small to show BAM's effect.")
    print(run.table)
    print(f"Everything is in {run.output_dir} (dev_table.md, results.json).")


if __name__ == "__main__":
    main()
