"""The `keras-bam` command line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

DEFAULT_DATA_DIR = os.path.join("..", "shared", "glue")


def add_teacher_arguments(parser: argparse.ArgumentParser):
    """The options of a teacher run, shared by the CLI and `examples/glue.py`."""
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
    parser.add_argument("--output-dir", default=os.path.join("runs", "teachers"))
    parser.add_argument("--cache-dir", default=os.path.join(".cache", "encoded"))
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
    )


def run_teachers(args, tasks) -> dict:
    """Trains one teacher per task; returns task name to `TeacherRun.summary()`."""
    import keras

    import keras_bam

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
