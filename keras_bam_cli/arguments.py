"""The command line's options; light to import (no backend).

Nothing here copies the library. An option that sets a `FineTuningRecipe`,
`DistillationSettings` or `run_glue` value defaults to `None`, meaning the
library's own default. An option that names something the library registers
(a distillation mode, a teacher combination, a student of `run_glue`) is
parsed as a free string and checked against the registry once `keras_bam` is
imported (`check_registered`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

DEFAULT_DATA_DIR = os.path.join("..", "shared", "glue")
DATA_DIR_VARIABLE = "KERAS_BAM_DATA_DIR"

# The help of an option left to the library, and each command's note on whose.
RECIPE_DEFAULT = "default: the recipe's"
SETTINGS_DEFAULT = "default: DistillationSettings'"
TEACHER_RECIPE = (
    "The recipe's values are BAM's single-task recipe's "
    "(keras_bam.FineTuningRecipe.bam_single_task)."
)
STUDENT_RECIPE = (
    "The recipe's values are BAM's multi-task recipe's "
    "(keras_bam.FineTuningRecipe.bam_multi_task; with one task, bam_single_task's); "
    "DistillationSettings' are those of keras_bam.training.DistillationSettings."
)
GLUE_RECIPES = (
    "The recipe's values are BAM's: the teachers' single-task recipe's and the "
    "students' multi-task recipe's (keras_bam.FineTuningRecipe.bam_single_task, "
    "bam_multi_task)."
)
# Options whose names the library registers cannot list them in `--help`.
LISTED_IN_ERRORS = "an unknown name's error lists the known ones"


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


def check_registered(
    parser: argparse.ArgumentParser, args: argparse.Namespace, registered: dict
) -> None:
    """Stops with argparse's error (exit status 2) when an option names
    something the library has not registered.

    Why after parsing: the registries live beside Keras code, so reading them
    would import a backend, and `--help` and argument errors answer without one.

    Args:
        parser: the parser whose `error` reports it.
        args: the parsed options.
        registered: option destination (`"distillation"`, ...) to the names
            registered now; an option `args` lacks, or left at `None`, passes.

    Example:
    ```python
    check_registered(parser, args, {"distillation": ("annealed", "fixed", "gold")})
    ```
    """
    for dest, names in registered.items():
        value = getattr(args, dest, None)
        for name in [value] if isinstance(value, str) else value or ():
            if name not in names:
                option = "--" + dest.replace("_", "-")
                parser.error(
                    f"argument {option}: invalid choice: {name!r} (choose from "
                    f"{', '.join(names)})"
                )


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's help with each option's default, but for a `None` default,
    which means the library's own (the option's help says whose)."""

    def _get_help_string(self, action):
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


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


def add_verbosity_arguments(parser: argparse.ArgumentParser, verbose_help: str):
    """`-v` (what one `-v` adds; `-vv`: debug logging) and `-q`."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help=f"{verbose_help}; -vv: debug logging",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="warnings and results only"
    )


CPU_ALLOCATORS = ("bfc", "system")
# `keras_bam.training.task_weighting.WEIGHTINGS`, without importing Keras to parse
# (a test checks they agree).
WEIGHTINGS = ("bam", "bam_trained", "proportional", "uniform", "temperature")


def positive_int(text: str) -> int:
    """An option's whole number of 1 or more (argparse's error otherwise)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def positive_float(text: str) -> float:
    """An option's number above 0 (argparse's error otherwise)."""
    value = float(text)
    if not value > 0:  # NaN too.
        raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
    return value


def weight_float(text: str) -> float:
    """An option's weight from 0 to 1 (argparse's error otherwise)."""
    value = float(text)
    if not 0 <= value <= 1:  # NaN too.
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, not {text}")
    return value


def decay_float(text: str) -> float:
    """An option's decay factor above 0 and at most 1 (argparse's error
    otherwise)."""
    value = float(text)
    if not 0 < value <= 1:  # NaN too.
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 1, not {text}")
    return value


def non_negative_int(text: str) -> int:
    """An option's whole number of 0 or more (argparse's error otherwise)."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def seed_int(text: str) -> int:
    """A seed: a whole number from 0 to 2**32 - 1, as NumPy's generators take
    (argparse's error otherwise)."""
    value = int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be from 0 to 2**32 - 1, not {value}")
    return value


def set_cpu_allocator(args) -> None:
    """Chooses TensorFlow's CPU allocator (`--cpu-allocator`) through
    `TF_CPU_ALLOCATOR_USE_BFC`, which TensorFlow reads once, when it starts: so
    before anything imports it. Without the option the environment is left
    as it is. JAX ignores it."""
    choice = getattr(args, "cpu_allocator", None)
    if choice is not None:
        os.environ["TF_CPU_ALLOCATOR_USE_BFC"] = str(choice == "bfc").lower()


def add_data_arguments(parser: argparse.ArgumentParser, output_dir: str, recipe: str):
    """Where data, backbone, cache and outputs are, the backbone's precision and
    the distribution: the options every run shares (`recipe`: the note, after
    the options, on where the recipe's defaults come from)."""
    parser.formatter_class = HelpFormatter
    parser.epilog = recipe
    add_verbosity_arguments(parser, "a progress bar within epochs")
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
        default=None,
        help="the backbone's compute precision (heads and losses stay float32); "
        + RECIPE_DEFAULT,
    )
    parser.add_argument(
        "--distribution",
        choices=("none", "data_parallel"),
        default=None,
        help="data_parallel: split each batch over every GPU (or every CPU device "
        "configured), with keras.distribution (JAX) or tf.distribute "
        f"(TensorFlow); {RECIPE_DEFAULT}",
    )
    parser.add_argument(
        "--deterministic",
        action="store_true",
        help="deterministic kernels (keras_bam.backend.enable_op_determinism): runs "
        "repeat bit for bit on GPUs too, at some cost in speed (CPU runs "
        "already do)",
    )
    parser.add_argument(
        "--release-large-buffers",
        type=non_negative_int,
        default=0,
        metavar="MIB",
        help="make the C allocator return freed buffers of at least MIB MiB to the "
        "system at once (keras_bam.backend.release_large_buffers): a lower peak "
        "for slower steps (on TensorFlow; see benchmarks/README.md, Peak memory); "
        "0, the default: the allocator's own behaviour",
    )
    parser.add_argument(
        "--malloc-arenas",
        type=non_negative_int,
        default=None,
        metavar="N",
        help="the C allocator's heaps shared by the backend's threads "
        "(keras_bam.backend.limit_malloc_arenas): fewer hold less memory; "
        "default: one per CPU core; 0: glibc's own (8 per core)",
    )
    parser.add_argument(
        "--cpu-allocator",
        choices=CPU_ALLOCATORS,
        default=None,
        help="TensorFlow's CPU memory allocator: bfc (its best-fit pool: a "
        "steadier peak for one shape of step, but it keeps what it grew to, which "
        "made the demo's peak higher; see benchmarks/README.md, Peak memory) or "
        "system (malloc); default: TensorFlow's own choice (TF_CPU_ALLOCATOR_USE_BFC "
        "if set, else system)",
    )
    parser.add_argument(
        "--workers",
        nargs="+",
        metavar="HOST:PORT",
        help="several processes training as one (with --distribution "
        "data_parallel): every process's address, the same list on each, the "
        "first being JAX's coordinator; without it, TensorFlow reads TF_CONFIG",
    )
    parser.add_argument(
        "--worker-index",
        type=non_negative_int,
        help="this process's position in --workers (0 writes the files)",
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


def add_recipe_arguments(parser: argparse.ArgumentParser):
    """The `FineTuningRecipe` fields of one model's run (`teacher`, `student`),
    each `None` (the recipe's value) unless given."""
    for option, kind in (
        ("--epochs", positive_int),
        ("--batch-size", positive_int),
        ("--learning-rate", positive_float),
        ("--layerwise-decay", decay_float),
    ):
        parser.add_argument(option, type=kind, default=None, help=RECIPE_DEFAULT)
    add_sequence_arguments(parser)


def add_sequence_arguments(parser: argparse.ArgumentParser):
    """The recipe fields every run has (the sequence length, the seed, how
    batches are made), each `None` (the recipe's value) unless given."""
    parser.add_argument(
        "--max-length", type=positive_int, default=None, help=RECIPE_DEFAULT
    )
    parser.add_argument("--seed", type=seed_int, default=None, help=RECIPE_DEFAULT)
    add_batching_argument(parser, None, None, f"; {RECIPE_DEFAULT}")


def add_batching_argument(
    parser: argparse.ArgumentParser,
    packing_default: bool | None = True,
    batching_default: str | None = "random",
    default_help: str = "",
):
    """`--batching` and `--packing` (benchmarks/quality.py's too): the
    command's own use them with `None` defaults, the recipe's values."""
    parser.add_argument(
        "--batching",
        choices=("random", "length_grouped"),
        default=batching_default,
        help="random: BAM's batches (examples shuffled); length_grouped: batches "
        "of similar lengths, faster but not BAM's (and fewer tasks per batch)"
        + default_help,
    )
    parser.add_argument(
        "--packing",
        action=argparse.BooleanOptionalAction,
        default=packing_default,
        help="pack each batch's examples into rows of --max-length tokens, each "
        "attending only to itself (the same batches, almost no padding computed)"
        + default_help,
    )


def add_tasks_file_argument(parser: argparse.ArgumentParser):
    """`--tasks-file`: tasks of your own (`keras_bam.tasks.load_tasks_file`)."""
    parser.add_argument(
        "--tasks-file",
        default=None,
        metavar="FILE",
        help="a TOML, YAML or JSON file defining tasks of your own (their files, "
        "columns, labels or score range, metrics); --tasks may then name them",
    )


def add_task_choice(parser: argparse.ArgumentParser):
    """`--tasks` of a run that trains them (`teacher`, `student`) and
    `--tasks-file`; one of the two is needed."""
    parser.add_argument(
        "--tasks",
        nargs="+",
        default=None,
        help="GLUE tasks (e.g. rte mrpc stsb cola) and tasks of --tasks-file "
        "(default with --tasks-file: all of its tasks)",
    )
    add_tasks_file_argument(parser)


def add_teacher_arguments(parser: argparse.ArgumentParser):
    """The options of a teacher run (`keras-bam teacher`)."""
    add_data_arguments(parser, os.path.join("runs", "teachers"), TEACHER_RECIPE)
    add_recipe_arguments(parser)
    parser.add_argument(
        "--train-limit",
        type=positive_int,
        default=None,
        help="train on the first N examples only",
    )
    parser.add_argument(
        "--no-optimizer-state",
        action="store_true",
        help="write the .keras teacher without the optimizer's state (a third "
        "of the size, loaded uncompiled)",
    )
    parser.add_argument(
        "--eval-limit",
        type=positive_int,
        default=None,
        help="evaluate on the first N dev examples only",
    )


# The quick setting finishes on a 2-core CPU in minutes; --paper is BAM's recipe.
QUICK = {
    "train_limit": 96,
    "train_sample_seed": 0,
    # The dev table and submission files on the first 200 examples of each split.
    "eval_limit": 200,
    # One epoch of each model: every phase runs, within minutes on a CPU.
    "teacher_epochs": 1,
    "student_epochs": 1,
    # A laptop's memory: the student's batch of 128 in 4 slices of 32.
    "student_micro_batches": 4,
    # BAM's table of multiples is of GLUE's full sizes: on samples, its
    # formula over the sizes sampled.
    "weighting": "bam_trained",
    # A smoke run's models are looked at, not trained on: a third of the disk.
    "save_optimizer": False,
}
QUICK_NOTE = (
    "Quick setting ({train_limit} random training examples per task, "
    "epochs: {teacher_epochs} per teacher, {student_epochs} per student; the first "
    "{eval_limit} dev and test examples): a smoke run, "
    "too small to show BAM's effect (its students need the full training sets). "
    "The measured comparison at BAM's recipe is in the README's results."
)
DEFAULT_TASKS = ("rte", "mrpc", "stsb", "cola")


def add_micro_batches_argument(parser: argparse.ArgumentParser, default_help: str):
    parser.add_argument(
        "--micro-batches",
        type=positive_int,
        default=None,
        help="compute each student step in this many slices of its batch: the "
        "same steps in less memory (MultiTaskModel.compile); default: " + default_help,
    )


def add_glue_arguments(parser: argparse.ArgumentParser):
    """The options of a whole BAM run (`keras-bam glue`)."""
    parser.add_argument(
        "--tasks",
        nargs="+",
        default=None,
        help="GLUE tasks and tasks of --tasks-file (default: "
        f"{' '.join(DEFAULT_TASKS)}; with --tasks-file, its tasks)",
    )
    add_tasks_file_argument(parser)
    parser.add_argument(
        "--students",
        nargs="+",
        default=None,
        metavar="STUDENT",
        help="students to train after the teachers, named as in "
        f"keras_bam.training.glue_run.STUDENTS ({LISTED_IN_ERRORS}); default: "
        "run_glue's",
    )
    parser.add_argument(
        "--paper",
        action="store_true",
        help="BAM's recipes (FineTuningRecipe.bam_single_task for the teachers, "
        "bam_multi_task for the students) on the full training sets (hours on a "
        "CPU). "
        f"Without it, the quick setting: {QUICK['train_limit']} training "
        "examples per task (a random sample drawn with --train-sample-seed), "
        f"epochs: {QUICK['teacher_epochs']} per teacher, "
        f"{QUICK['student_epochs']} per student; the first "
        f"{QUICK['eval_limit']} dev and test examples (minutes on a CPU).",
    )
    add_data_arguments(parser, os.path.join("runs", "glue"), GLUE_RECIPES)
    add_sequence_arguments(parser)
    parser.add_argument(
        "--train-limit",
        type=positive_int,
        default=None,
        help="N training examples per task",
    )
    parser.add_argument(
        "--train-sample-seed",
        type=seed_int,
        default=None,
        help="with a train limit, a random sample drawn with this seed instead of "
        f"the first N rows (quick setting: {QUICK['train_sample_seed']})",
    )
    parser.add_argument(
        "--eval-limit",
        type=positive_int,
        default=None,
        help="first N dev examples (and test examples, in the submission files); "
        f"quick setting: {QUICK['eval_limit']}",
    )
    quick = "{} in the quick setting, else the recipe's"
    parser.add_argument(
        "--teacher-epochs",
        type=positive_int,
        default=None,
        help="default: " + quick.format(QUICK["teacher_epochs"]),
    )
    parser.add_argument(
        "--student-epochs",
        type=positive_int,
        default=None,
        help="default: " + quick.format(QUICK["student_epochs"]),
    )
    parser.add_argument(
        "--student-batch-size", type=positive_int, default=None, help=RECIPE_DEFAULT
    )
    add_micro_batches_argument(parser, quick.format(QUICK["student_micro_batches"]))
    parser.add_argument(
        "--student-learning-rate",
        type=positive_float,
        default=None,
        help=RECIPE_DEFAULT,
    )
    parser.add_argument(
        "--save-every",
        type=positive_int,
        default=None,
        help="checkpoint students every N steps",
    )
    parser.add_argument("--no-export", action="store_true")
    parser.add_argument("--no-submission", action="store_true")
    parser.add_argument(
        "--weighting",
        choices=WEIGHTINGS,
        default=None,
        help="how much each task counts in the students' training; default: "
        f"{QUICK['weighting']} (BAM's formula over the sampled sizes) in the quick "
        "setting, with --paper bam (BAM's table of GLUE's sizes)",
    )
    parser.add_argument(
        "--optimizer-state",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="keep the optimizer's state in the .keras files, to train on from "
        "them (without: a third of the size, loaded uncompiled); default: "
        "without in the quick setting, with --paper with",
    )


def add_student_arguments(parser: argparse.ArgumentParser):
    """The options of a student run from existing teachers (`keras-bam student`)."""
    add_data_arguments(parser, os.path.join("runs", "student"), STUDENT_RECIPE)
    parser.add_argument(
        "--teacher-dir",
        nargs="+",
        default=None,
        help="folders of teachers as `keras-bam teacher` writes them "
        "(<dir>/<task>/<task>_train_teacher.npz); several: an ensemble per task",
    )
    settings = SETTINGS_DEFAULT
    parser.add_argument(
        "--distillation",
        default=None,
        metavar="MODE",
        help="how the student weighs the gold labels against its teachers: a mode "
        "registered with keras_bam.distillation.register_distillation_mode "
        f"({LISTED_IN_ERRORS}); {settings}",
    )
    parser.add_argument(
        "--teachers",
        choices=("given", "uninformative", "none"),
        default=None,
        help="default: none with --distillation gold, else given",
    )
    parser.add_argument(
        "--teacher-weight",
        type=weight_float,
        default=None,
        help=f"the teachers' weight with --distillation fixed; {settings}",
    )
    parser.add_argument(
        "--teacher-combination",
        default=None,
        metavar="COMBINATION",
        help="how several teachers of a task are combined: a combination "
        "registered with keras_bam.distillation.register_teacher_combination "
        f"({LISTED_IN_ERRORS}); {settings}",
    )
    parser.add_argument(
        "--distillation-temperature",
        type=positive_float,
        default=None,
        help=f"softmax temperature on the teachers' logits; {settings}",
    )
    parser.add_argument(
        "--mixing", choices=("mixed", "per_task"), default=None, help=settings
    )
    parser.add_argument(
        "--weighting",
        choices=WEIGHTINGS,
        default=None,
        help=settings,
    )
    parser.add_argument(
        "--weighting-temperature",
        type=positive_float,
        default=None,
        help=f"the temperature of --weighting temperature; {settings}",
    )
    add_recipe_arguments(parser)
    add_micro_batches_argument(parser, "the recipe's")
    parser.add_argument("--train-limit", type=positive_int, default=None)
    parser.add_argument("--train-sample-seed", type=seed_int, default=None)
    parser.add_argument("--eval-limit", type=positive_int, default=None)
    parser.add_argument(
        "--save-every", type=positive_int, default=None, help="checkpoint every N steps"
    )


def add_model_arguments(parser: argparse.ArgumentParser):
    """The options of the commands that use a saved model (`evaluate`, `predict`,
    `export`)."""
    parser.formatter_class = HelpFormatter
    parser.add_argument(
        "model", help="a saved student or teacher (`.keras`, as the runs write them)"
    )
    add_verbosity_arguments(parser, "other libraries' messages too")


def add_encoding_arguments(parser: argparse.ArgumentParser):
    """How a saved model's inputs are read and encoded (`evaluate`, `predict`)."""
    parser.add_argument(
        "--tasks",
        nargs="+",
        default=None,
        help="the model's tasks to use (default: all of its heads)",
    )
    parser.add_argument(
        "--tasks-file",
        default=None,
        metavar="FILE",
        help="the tasks file defining the model's own tasks: where their data "
        "is now (default: where it was when the model was trained)",
    )
    parser.add_argument(
        "--backbone",
        default=None,
        help="encode with this KerasHub preset's, hf:// handle's or folder's "
        "tokenizer (default: the model's own, else the offline MiniLM's)",
    )
    parser.add_argument(
        "--max-length",
        type=positive_int,
        default=None,
        help="the encoded length (default: the model's own, 128 by default)",
    )
    parser.add_argument(
        "--data-dir",
        default=default_data_dir(),
        help=f"the GLUE TSV folder (${DATA_DIR_VARIABLE}, else ../shared/glue)",
    )
    parser.add_argument("--batch-size", type=positive_int, default=128)
