"""The `keras-bam` command line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

DEFAULT_DATA_DIR = os.path.join("..", "shared", "glue")


def add_data_arguments(parser: argparse.ArgumentParser, output_dir: str):
    """Where data, backbone, cache and outputs are, the backbone's precision and
    the distribution: the options every run shares."""
    parser.add_argument(
        "--data-dir",
        default=DEFAULT_DATA_DIR,
        help="the GLUE TSV folder (or TFDS's data folder with --source tfds)",
    )
    parser.add_argument("--source", choices=("tsv", "tfds"), default="tsv")
    parser.add_argument(
        "--tfds-manual-dir",
        default=None,
        help="folder with the original GLUE archives, for offline TFDS",
    )
    parser.add_argument(
        "--backbone",
        default=None,
        help="KerasHub preset, hf:// handle or local folder "
        "(default: the offline MiniLM)",
    )
    parser.add_argument(
        "--precision",
        choices=("float32", "mixed_bfloat16", "mixed_float16"),
        default="float32",
        help="the backbone's compute precision (heads and losses stay float32)",
    )
    parser.add_argument(
        "--distribution",
        choices=("none", "data_parallel"),
        default="none",
        help="data_parallel: split each batch over every GPU (or every CPU device "
        "configured), with keras.distribution (JAX) or tf.distribute (TensorFlow)",
    )
    parser.add_argument("--output-dir", default=output_dir)
    parser.add_argument("--cache-dir", default=os.path.join(".cache", "encoded"))
    parser.add_argument(
        "--compilation-cache",
        default=os.path.join(".cache", "xla"),
        help="where JAX keeps compiled programs for later runs ('none': off; "
        "TensorFlow has no such cache); JAX runs what it finds there, so keep it "
        "where only you can write",
    )


def use_compilation_cache(args) -> None:
    """Turns on `enable_compilation_cache` as the options say."""
    import keras_bam

    if args.compilation_cache and args.compilation_cache.lower() != "none":
        keras_bam.enable_compilation_cache(args.compilation_cache)


def add_teacher_arguments(parser: argparse.ArgumentParser):
    """The options of a teacher run (`keras-bam teacher`)."""
    add_data_arguments(parser, os.path.join("runs", "teachers"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--layerwise-decay", type=float, default=0.9)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--train-limit",
        type=int,
        default=None,
        help="train on the first N examples only",
    )
    parser.add_argument(
        "--eval-limit",
        type=int,
        default=None,
        help="evaluate on the first N dev examples only",
    )


def recipe_from_arguments(args):
    import keras_bam

    return keras_bam.FineTuningRecipe(
        learning_rate=args.learning_rate,
        epochs=args.epochs,
        batch_size=args.batch_size,
        layerwise_decay=args.layerwise_decay,
        max_length=args.max_length,
        seed=args.seed,
        precision=args.precision,
        distribution=args.distribution,
    )


def run_teachers(args, tasks) -> dict:
    """Trains one teacher per task; returns task name to `TeacherRun.summary()`."""
    import keras

    import keras_bam

    use_compilation_cache(args)
    summaries = {}
    for task in tasks:
        run = keras_bam.train_teacher(
            task,
            data_dir=args.data_dir,
            backbone=args.backbone,
            recipe=recipe_from_arguments(args),
            source=args.source,
            tfds_manual_dir=args.tfds_manual_dir,
            cache_dir=args.cache_dir,
            output_dir=os.path.join(args.output_dir, keras_bam.get_task(task).name),
            train_limit=args.train_limit,
            eval_limit=args.eval_limit,
            verbose=2,
        )
        summaries[run.task.name] = run.summary()
        keras.backend.clear_session()
    return summaries


def format_dev_table(summaries: dict) -> str:
    """A plain-text table of dev metrics, one row per task and split."""
    rows = ["task     split            metrics"]
    for name, summary in summaries.items():
        for split, metrics in summary["dev_metrics"].items():
            values = ", ".join(f"{k} {100 * v:.2f}" for k, v in metrics.items())
            rows.append(f"{name:<8} {split:<16} {values}")
    return "\n".join(rows)


# The quick setting finishes on a 2-core CPU in minutes; --paper is BAM's recipe.
QUICK = {"train_limit": 400, "teacher_epochs": 2, "student_epochs": 2}
DEFAULT_TASKS = ("rte", "mrpc", "stsb", "cola")


def add_glue_arguments(parser: argparse.ArgumentParser):
    """The options of a whole BAM run (`keras-bam glue`, `examples/glue.py`)."""
    import keras_bam

    parser.add_argument(
        "--tasks", nargs="+", default=list(DEFAULT_TASKS), help="GLUE tasks"
    )
    parser.add_argument(
        "--students",
        nargs="+",
        default=["multitask", "bam"],
        choices=list(keras_bam.STUDENTS),
        metavar="STUDENT",
        help=f"students to train after the teachers: {', '.join(keras_bam.STUDENTS)}",
    )
    parser.add_argument(
        "--paper",
        action="store_true",
        help="BAM's recipes on the full training sets: teachers 3 epochs of batch "
        "32 at lr 5e-5, students 6 epochs of batch 128 at lr 1e-4 (hours on a CPU). "
        f"Without it, the quick setting: the first {QUICK['train_limit']} training "
        f"examples per task, {QUICK['teacher_epochs']} teacher and "
        f"{QUICK['student_epochs']} student epochs (minutes on a CPU).",
    )
    add_data_arguments(parser, os.path.join("runs", "glue"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument(
        "--train-limit", type=int, default=None, help="first N training examples"
    )
    parser.add_argument(
        "--eval-limit", type=int, default=None, help="first N dev examples"
    )
    parser.add_argument("--teacher-epochs", type=int, default=None)
    parser.add_argument("--student-epochs", type=int, default=None)
    parser.add_argument("--student-batch-size", type=int, default=None)
    parser.add_argument("--student-learning-rate", type=float, default=None)
    parser.add_argument(
        "--save-every", type=int, default=None, help="checkpoint students every N steps"
    )
    parser.add_argument("--no-export", action="store_true")
    parser.add_argument("--no-submission", action="store_true")


def glue_settings(args) -> dict:
    """`run_glue` arguments from the parsed options (quick unless --paper)."""
    import keras_bam

    train_limit = args.train_limit
    teacher_epochs, student_epochs = args.teacher_epochs, args.student_epochs
    if not args.paper:
        train_limit = train_limit or QUICK["train_limit"]
        teacher_epochs = teacher_epochs or QUICK["teacher_epochs"]
        student_epochs = student_epochs or QUICK["student_epochs"]
    teacher = keras_bam.FineTuningRecipe.bam_single_task(
        seed=args.seed,
        max_length=args.max_length,
        precision=args.precision,
        distribution=args.distribution,
    )
    if teacher_epochs:
        teacher.epochs = teacher_epochs
    student = keras_bam.FineTuningRecipe.bam_multi_task(
        seed=args.seed,
        max_length=args.max_length,
        precision=args.precision,
        distribution=args.distribution,
    )
    for field, value in (
        ("epochs", student_epochs),
        ("batch_size", args.student_batch_size),
        ("learning_rate", args.student_learning_rate),
    ):
        if value:
            setattr(student, field, value)
    return dict(
        tasks=[keras_bam.get_task(t).name for t in args.tasks],
        data_dir=args.data_dir,
        output_dir=args.output_dir,
        backbone=args.backbone,
        students=tuple(args.students),
        teacher_recipe=teacher,
        student_recipe=student,
        source=args.source,
        tfds_manual_dir=args.tfds_manual_dir,
        cache_dir=args.cache_dir,
        train_limit=train_limit,
        eval_limit=args.eval_limit,
        export=not args.no_export,
        submission=not args.no_submission,
        save_every=args.save_every,
        verbose=2,
    )


def run_glue_from_arguments(args):
    """Runs `run_glue` with the parsed options and prints the dev table."""
    import keras_bam

    use_compilation_cache(args)
    run = keras_bam.run_glue(**glue_settings(args))
    print(run.table)
    print(f"Everything is in {run.output_dir} (dev_table.md, results.json).")
    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="keras-bam",
        description="Born-Again Multi-Task Networks for GLUE, in Keras 3.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    teacher = commands.add_parser(
        "teacher", help="fine-tune single-task teachers and write their predictions"
    )
    teacher.add_argument(
        "--tasks", nargs="+", required=True, help="GLUE tasks, e.g. rte mrpc stsb cola"
    )
    add_teacher_arguments(teacher)
    glue = commands.add_parser(
        "glue",
        help="the whole BAM run: teachers, students, dev table, export, "
        "submission files",
    )
    add_glue_arguments(glue)
    commands.add_parser("tasks", help="list the GLUE tasks")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import keras_bam

    if args.command == "tasks":
        for task in keras_bam.GLUE_TASKS.values():
            kind = "regression" if task.is_regression else f"{task.num_outputs} classes"
            print(
                f"{task.name:<6} {task.display_name:<6} {kind:<12} "
                f"{', '.join(task.metrics) or '-'}"
            )
        return 0
    if args.command == "glue":
        try:
            [keras_bam.get_task(t) for t in args.tasks]
        except ValueError as e:
            parser.error(str(e))
        run_glue_from_arguments(args)
        return 0
    try:
        tasks = [keras_bam.get_task(t).name for t in args.tasks]
    except ValueError as e:
        parser.error(str(e))
    summaries = run_teachers(args, tasks)
    print(format_dev_table(summaries))
    print(json.dumps(summaries, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
