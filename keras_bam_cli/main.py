"""`keras-bam`'s parser and dispatch: the backend is imported after parsing."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile

from keras_bam_cli import arguments
from keras_bam_cli.arguments import add_encoding_arguments
from keras_bam_cli.arguments import add_glue_arguments
from keras_bam_cli.arguments import add_model_arguments
from keras_bam_cli.arguments import add_student_arguments
from keras_bam_cli.arguments import add_teacher_arguments
from keras_bam_cli.arguments import positive_int

# Loggers of other libraries that speak at INFO about nothing a user asked for
# (JAX's search for TPUs and GPUs, its compilation cache's resets).
CHATTY_LOGGERS = ("jax", "absl", "tensorflow", "keras_hub")


def build_parser() -> argparse.ArgumentParser:
    """The `keras-bam` parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="keras-bam",
        description="Born-Again Multi-Task Networks for GLUE, in Keras 3.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"keras-bam {arguments.package_version()}",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    teacher = commands.add_parser(
        "teacher", help="fine-tune single-task teachers and write their predictions"
    )
    arguments.add_task_choice(teacher)
    add_teacher_arguments(teacher)
    glue = commands.add_parser(
        "glue",
        help="the whole BAM run: teachers, students, dev table, export, "
        "submission files",
    )
    add_glue_arguments(glue)
    student = commands.add_parser(
        "student",
        help="train a multi-task student from existing teachers (one or several "
        "per task)",
    )
    arguments.add_task_choice(student)
    add_student_arguments(student)
    evaluate = commands.add_parser(
        "evaluate", help="a saved student's or teacher's GLUE metrics on dev"
    )
    add_model_arguments(evaluate)
    add_encoding_arguments(evaluate)
    evaluate.add_argument(
        "--limit", type=positive_int, default=None, help="first N examples"
    )
    evaluate.add_argument("--output", default=None, help="also write them as JSON")
    predict = commands.add_parser(
        "predict",
        help="a saved model's predictions for one task, on a GLUE split or a TSV "
        "of raw texts, in GLUE's submission format",
    )
    add_model_arguments(predict)
    add_encoding_arguments(predict)
    predict.add_argument("--task", required=True, help="the head to predict with")
    predict.add_argument(
        "--split", default="test", help="the GLUE split, without --input"
    )
    predict.add_argument(
        "--input",
        default=None,
        help="a TSV of raw texts laid out as the task's GLUE test file (a header "
        "naming its text columns, e.g. sentence1 and sentence2 for RTE)",
    )
    predict.add_argument(
        "--limit", type=positive_int, default=None, help="first N examples"
    )
    predict.add_argument(
        "--output", required=True, help="the TSV to write (index, prediction)"
    )
    export = commands.add_parser(
        "export", help="a saved model as a TensorFlow SavedModel for serving"
    )
    add_model_arguments(export)
    export.add_argument("--output-dir", required=True, help="the SavedModel folder")
    export.add_argument(
        "--tasks-file",
        default=None,
        metavar="FILE",
        help="a tasks file of the model's own tasks (checked; the model holds "
        "their definitions)",
    )
    tasks = commands.add_parser(
        "tasks", help="list the GLUE tasks (and those of a tasks file)"
    )
    arguments.add_tasks_file_argument(tasks)
    return parser


@contextlib.contextmanager
def native_stderr_captured(enabled: bool = True):
    """Holds back what native libraries write to the process's stderr while the
    backend is imported (CUDA probing on a machine without a GPU), and replays it
    if the import fails: nothing is lost that could explain an error.

    Args:
        enabled: hold it back (else a context that does nothing).

    Example:
    ```python
    with keras_bam_cli.native_stderr_captured():
        import keras_bam
    ```
    """
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode("utf-8", errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def configure_logging(args) -> None:
    """keras-bam's own messages at the level `-q`/`-v` choose; other libraries'
    INFO messages (and TensorFlow's native INFO lines) only with `-v`."""
    verbose = getattr(args, "verbose", 0)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(message)s"
    )
    logging.getLogger("keras_bam").setLevel(arguments.log_level(args))
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
        for name in CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)


def list_tasks(tasks_file=None) -> None:
    import keras_bam

    tasks = list(keras_bam.GLUE_TASKS.values())
    if tasks_file:
        tasks += keras_bam.tasks.load_tasks_file(tasks_file)
    for task in tasks:
        kind = "regression" if task.is_regression else f"{task.num_outputs} classes"
        print(
            f"{task.name:<6} {task.display_name:<6} {kind:<12} "
            f"{', '.join(task.metrics) or '-'}"
        )


def main(argv=None) -> int:
    """Runs `keras-bam` with `argv` (default: the process's arguments); returns the
    exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("teacher", "student") and not (args.tasks or args.tasks_file):
        parser.error("the following arguments are required: --tasks (or --tasks-file)")
    if args.command in ("teacher", "glue", "student") and not args.tasks_file:
        arguments.check_data_dir(parser, args)
    configure_logging(args)
    arguments.set_cpu_allocator(args)
    with native_stderr_captured(not getattr(args, "verbose", 0)):
        from keras_bam_cli import commands
    arguments.check_registered(parser, args, commands.registered_names())
    try:
        return dispatch(parser, args, commands)
    except (commands.keras_bam.data.GlueDataError, FileNotFoundError) as e:
        # Bad or missing data is the user's to fix: the message names the file
        # (and line and field); a traceback would only hide it.
        print(f"keras-bam: {e}", file=sys.stderr)
        return 1


def dispatch(parser, args, commands) -> int:
    """Runs the parsed command; returns the exit status."""
    if args.command == "tasks":
        try:
            list_tasks(args.tasks_file)
        except ValueError as e:
            parser.error(str(e))
        return 0
    if args.command in ("evaluate", "predict", "export"):
        if getattr(args, "tasks_file", None):
            try:  # Checked now: a bad file is one line, not a traceback.
                commands.keras_bam.tasks.load_tasks_file(args.tasks_file)
            except ValueError as e:
                parser.error(str(e))
        run = {
            "evaluate": commands.evaluate_model,
            "predict": commands.predict_model,
            "export": commands.export_model,
        }[args.command]
        run(args)
        return 0
    try:
        default = arguments.DEFAULT_TASKS if args.command == "glue" else ()
        tasks = commands.chosen_tasks(args, default)
    except ValueError as e:
        parser.error(str(e))
    if any(
        isinstance(commands.keras_bam.get_task(t), commands.keras_bam.tasks.GlueTask)
        for t in tasks
    ):
        arguments.check_data_dir(parser, args)
    if args.command == "glue":
        commands.run_glue_from_arguments(args)
        return 0
    if args.command == "student":
        summary = commands.run_student_from_arguments(args, tasks)
        print(
            commands.format_dev_table(
                {t: {"dev_metrics": m} for t, m in summary["dev_metrics"].items()}
            )
        )
        print(f"Everything is in {args.output_dir} (summary.json, student.keras).")
        return 0
    summaries = commands.run_teachers(args, tasks)
    print(commands.format_dev_table(summaries))
    print(commands.json.dumps(summaries, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
