"""The `keras-bam` command line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

DEFAULT_DATA_DIR = os.path.join("..", "shared", "glue")
DATA_DIR_VARIABLE = "KERAS_BAM_DATA_DIR"


def package_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("keras-bam")
    except metadata.PackageNotFoundError:
        return "unknown"


def default_data_dir() -> str:
    """`$KERAS_BAM_DATA_DIR`, else `../shared/glue` (beside the checkout)."""
    return os.environ.get(DATA_DIR_VARIABLE) or DEFAULT_DATA_DIR


def check_data_dir(parser: argparse.ArgumentParser, args) -> None:
    """Stops with where it looked when the GLUE folder is missing."""
    if args.source == "tsv" and not os.path.isdir(args.data_dir):
        parser.error(
            f"no GLUE folder at {os.path.abspath(args.data_dir)} (--data-dir "
            f"{args.data_dir}); pass --data-dir or set {DATA_DIR_VARIABLE}."
        )


def fit_verbosity(args) -> int:
    """`fit`'s verbosity from `-q`/`-v`: none, a progress bar within each epoch
    (the default at a terminal), or a line per epoch (the default in a log)."""
    if getattr(args, "quiet", False):
        return 0
    if getattr(args, "verbose", 0) or sys.stdout.isatty():
        return 1
    return 2


def log_level(args) -> int:
    if getattr(args, "quiet", False):
        return logging.WARNING
    return logging.DEBUG if getattr(args, "verbose", 0) > 1 else logging.INFO


def add_data_arguments(parser: argparse.ArgumentParser, output_dir: str):
    """Where data, backbone, cache and outputs are, the backbone's precision and
    the distribution: the options every run shares."""
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="a progress bar within epochs; -vv: debug logging",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="warnings and results only"
    )
    parser.add_argument(
        "--data-dir",
        default=default_data_dir(),
        help="the GLUE TSV folder (or TFDS's data folder with --source tfds); "
        f"default: ${DATA_DIR_VARIABLE}, else ../shared/glue",
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
    parser.add_argument("--epochs", type=int, default=TEACHER_DEFAULTS["epochs"])
    parser.add_argument(
        "--batch-size", type=int, default=TEACHER_DEFAULTS["batch_size"]
    )
    parser.add_argument(
        "--learning-rate", type=float, default=TEACHER_DEFAULTS["learning_rate"]
    )
    parser.add_argument("--layerwise-decay", type=float, default=0.9)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    add_batching_argument(parser)
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


def add_batching_argument(parser: argparse.ArgumentParser, packing_default=True):
    parser.add_argument(
        "--batching",
        choices=("random", "length_grouped"),
        default="random",
        help="random: BAM's batches (examples shuffled); length_grouped: batches "
        "of similar lengths, faster but not BAM's (and fewer tasks per batch)",
    )
    parser.add_argument(
        "--packing",
        action=argparse.BooleanOptionalAction,
        default=packing_default,
        help="pack each batch's examples into rows of --max-length tokens, each "
        "attending only to itself (the same batches, almost no padding computed)",
    )


def recipe_from_arguments(args, **defaults):
    import keras_bam

    return keras_bam.FineTuningRecipe(
        learning_rate=args.learning_rate or defaults["learning_rate"],
        epochs=args.epochs or defaults["epochs"],
        batch_size=args.batch_size or defaults["batch_size"],
        layerwise_decay=args.layerwise_decay,
        max_length=args.max_length,
        seed=args.seed,
        precision=args.precision,
        distribution=args.distribution,
        batching=args.batching,
        packing=args.packing,
    )


TEACHER_DEFAULTS = {"learning_rate": 5e-5, "epochs": 3, "batch_size": 32}


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
            recipe=recipe_from_arguments(args, **TEACHER_DEFAULTS),
            source=args.source,
            tfds_manual_dir=args.tfds_manual_dir,
            cache_dir=args.cache_dir,
            output_dir=os.path.join(args.output_dir, keras_bam.get_task(task).name),
            train_limit=args.train_limit,
            eval_limit=args.eval_limit,
            verbose=fit_verbosity(args),
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
QUICK = {
    "train_limit": 400,
    "train_sample_seed": 0,
    "teacher_epochs": 2,
    "student_epochs": 2,
}
QUICK_NOTE = (
    "Quick setting ({train_limit} random training examples per task, "
    "{teacher_epochs} teacher and {student_epochs} student epochs): a smoke run, "
    "too small to show BAM's effect (its students need the full training sets). "
    "The measured comparison at BAM's recipe is in the README's results."
)
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
        f"Without it, the quick setting: {QUICK['train_limit']} training "
        "examples per task (a random sample drawn with --train-sample-seed), "
        f"{QUICK['teacher_epochs']} teacher and "
        f"{QUICK['student_epochs']} student epochs (minutes on a CPU).",
    )
    add_data_arguments(parser, os.path.join("runs", "glue"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-length", type=int, default=128)
    add_batching_argument(parser)
    parser.add_argument(
        "--train-limit", type=int, default=None, help="N training examples per task"
    )
    parser.add_argument(
        "--train-sample-seed",
        type=int,
        default=None,
        help="with a train limit, a random sample drawn with this seed instead of "
        f"the first N rows (quick setting: {QUICK['train_sample_seed']})",
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
    sample_seed = args.train_sample_seed
    teacher_epochs, student_epochs = args.teacher_epochs, args.student_epochs
    if not args.paper:
        train_limit = train_limit or QUICK["train_limit"]
        if sample_seed is None:
            sample_seed = QUICK["train_sample_seed"]
        teacher_epochs = teacher_epochs or QUICK["teacher_epochs"]
        student_epochs = student_epochs or QUICK["student_epochs"]
    teacher = keras_bam.FineTuningRecipe.bam_single_task(
        seed=args.seed,
        max_length=args.max_length,
        precision=args.precision,
        distribution=args.distribution,
        batching=args.batching,
        packing=args.packing,
    )
    if teacher_epochs:
        teacher.epochs = teacher_epochs
    student = keras_bam.FineTuningRecipe.bam_multi_task(
        seed=args.seed,
        max_length=args.max_length,
        precision=args.precision,
        distribution=args.distribution,
        batching=args.batching,
        packing=args.packing,
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
        train_sample_seed=sample_seed if train_limit else None,
        export=not args.no_export,
        submission=not args.no_submission,
        save_every=args.save_every,
        verbose=fit_verbosity(args),
    )


def run_glue_from_arguments(args):
    """Runs `run_glue` with the parsed options and prints the dev table."""
    import keras_bam

    use_compilation_cache(args)
    settings = glue_settings(args)
    run = keras_bam.run_glue(**settings)
    if not args.paper:
        print(
            QUICK_NOTE.format(
                train_limit=settings["train_limit"],
                teacher_epochs=settings["teacher_recipe"].epochs,
                student_epochs=settings["student_recipe"].epochs,
            )
        )
    print(run.table)
    print(f"Everything is in {run.output_dir} (dev_table.md, results.json).")
    return run


def add_student_arguments(parser: argparse.ArgumentParser):
    """The options of a student run from existing teachers (`keras-bam student`)."""
    add_data_arguments(parser, os.path.join("runs", "student"))
    parser.add_argument(
        "--teacher-dir",
        nargs="+",
        default=None,
        help="folders of teachers as `keras-bam teacher` writes them "
        "(<dir>/<task>/<task>_train_teacher.npz); several: an ensemble per task",
    )
    parser.add_argument(
        "--distillation", choices=("annealed", "fixed", "gold"), default="annealed"
    )
    parser.add_argument(
        "--teachers", choices=("given", "uninformative", "none"), default=None
    )
    parser.add_argument("--teacher-weight", type=float, default=0.5)
    parser.add_argument(
        "--teacher-combination",
        choices=("probabilities", "logits"),
        default="probabilities",
        help="how several teachers of a task are combined",
    )
    parser.add_argument(
        "--distillation-temperature",
        type=float,
        default=1.0,
        help="softmax temperature on the teachers' logits",
    )
    parser.add_argument("--mixing", choices=("mixed", "per_task"), default="mixed")
    parser.add_argument(
        "--weighting",
        choices=("bam", "bam_trained", "proportional", "uniform", "temperature"),
        default="bam",
    )
    parser.add_argument(
        "--weighting-temperature",
        type=float,
        default=2.0,
        help="the temperature of --weighting temperature",
    )
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--layerwise-decay", type=float, default=0.9)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    add_batching_argument(parser)
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--train-sample-seed", type=int, default=None)
    parser.add_argument("--eval-limit", type=int, default=None)
    parser.add_argument(
        "--save-every", type=int, default=None, help="checkpoint every N steps"
    )


def run_student_from_arguments(args, tasks) -> dict:
    """Trains one student from the parsed options; returns its summary."""
    import keras_bam

    use_compilation_cache(args)
    teachers = args.teachers or ("none" if args.distillation == "gold" else "given")
    if teachers == "given" and not args.teacher_dir:
        raise SystemExit(
            "keras-bam student: --teacher-dir is needed for teachers 'given'."
        )
    single = len(tasks) == 1
    defaults = (
        TEACHER_DEFAULTS
        if single
        else {"learning_rate": 1e-4, "epochs": 6, "batch_size": 128}
    )
    run = keras_bam.train_student(
        tasks,
        data_dir=args.data_dir,
        teacher_dir=args.teacher_dir,
        backbone=args.backbone,
        recipe=recipe_from_arguments(args, **defaults),
        distillation=args.distillation,
        teachers=teachers,
        teacher_weight=args.teacher_weight,
        mixing=args.mixing,
        weighting=args.weighting,
        weighting_temperature=args.weighting_temperature,
        distillation_temperature=args.distillation_temperature,
        teacher_combination=args.teacher_combination,
        source=args.source,
        tfds_manual_dir=args.tfds_manual_dir,
        cache_dir=args.cache_dir,
        train_limit=args.train_limit,
        eval_limit=args.eval_limit,
        train_sample_seed=args.train_sample_seed,
        checkpoint_dir=os.path.join(args.output_dir, "checkpoint"),
        save_every=args.save_every,
        verbose=fit_verbosity(args),
    )
    summary = {**run.summary(), "teacher_dirs": args.teacher_dir}
    os.makedirs(args.output_dir, exist_ok=True)
    model_path = os.path.join(args.output_dir, "student.keras")
    run.model.save(model_path)
    summary["model_path"] = model_path
    with open(os.path.join(args.output_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="keras-bam",
        description="Born-Again Multi-Task Networks for GLUE, in Keras 3.",
    )
    parser.add_argument(
        "--version", action="version", version=f"keras-bam {package_version()}"
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
    student = commands.add_parser(
        "student",
        help="train a multi-task student from existing teachers (one or several "
        "per task)",
    )
    student.add_argument("--tasks", nargs="+", required=True, help="GLUE tasks")
    add_student_arguments(student)
    commands.add_parser("tasks", help="list the GLUE tasks")
    args = parser.parse_args(argv)
    if args.command != "tasks":
        check_data_dir(parser, args)

    logging.basicConfig(level=log_level(args), format="%(message)s")
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
    if args.command == "student":
        summary = run_student_from_arguments(args, tasks)
        print(
            format_dev_table(
                {t: {"dev_metrics": m} for t, m in summary["dev_metrics"].items()}
            )
        )
        print(f"Everything is in {args.output_dir} (summary.json, student.keras).")
        return 0
    summaries = run_teachers(args, tasks)
    print(format_dev_table(summaries))
    print(json.dumps(summaries, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
