"""What each `keras-bam` command does, once its options are parsed."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os

import keras
import numpy as np

import keras_bam
from keras_bam.evaluation.submission import write_submission_file
from keras_bam.models.task_models import BackboneTaskModel
from keras_bam_cli.arguments import DEFAULT_TASKS
from keras_bam_cli.arguments import QUICK
from keras_bam_cli.arguments import QUICK_NOTE
from keras_bam_cli.arguments import fit_verbosity

# The options that set `FineTuningRecipe` fields of the same names: those every
# run has, then those of one model's run (`teacher`, `student`).
SEQUENCE_OPTIONS = (
    "max_length",
    "seed",
    "precision",
    "distribution",
    "batching",
    "packing",
)
RECIPE_OPTIONS = SEQUENCE_OPTIONS + (
    "learning_rate",
    "epochs",
    "batch_size",
    "layerwise_decay",
    "micro_batches",
)
# `keras-bam glue`'s recipe options: option name to the recipe's field.
GLUE_TEACHER_OPTIONS = {"teacher_epochs": "epochs"}
GLUE_STUDENT_OPTIONS = {
    "student_epochs": "epochs",
    "student_batch_size": "batch_size",
    "student_learning_rate": "learning_rate",
    "micro_batches": "micro_batches",
}
# The options that set `DistillationSettings` fields of the same names.
DISTILLATION_OPTIONS = (
    "distillation",
    "teachers",
    "teacher_weight",
    "distillation_temperature",
    "teacher_combination",
    "mixing",
    "weighting",
    "weighting_temperature",
)


def given(args: argparse.Namespace, options: tuple | dict) -> dict:
    """The options that were given: those not left at their `None` default.

    Args:
        args: the parsed options.
        options: the option names (each also the field it sets), or option
            name to the field it sets.

    Returns:
        Field name to the option's value, for the options given.

    Example:
    ```python
    given(args, {"student_epochs": "epochs"})  # {"epochs": 3} or {}
    ```
    """
    names = options if isinstance(options, dict) else {n: n for n in options}
    values = {field: getattr(args, option, None) for option, field in names.items()}
    return {field: value for field, value in values.items() if value is not None}


def registered_names() -> dict:
    """The names the library knows for the options that name registered things.

    Read when a command runs, not when the options are parsed, so that a mode
    the caller's code registered counts (`arguments.check_registered`).

    Returns:
        Option destination (`"distillation"`, `"teacher_combination"`,
        `"students"`) to the names registered now.

    Example:
    ```python
    registered_names()["distillation"]  # ("annealed", "fixed", "gold", ...)
    ```
    """
    return {
        "distillation": keras_bam.distillation.distillation_mode_names(),
        "teacher_combination": keras_bam.distillation.teacher_combination_names(),
        "students": tuple(keras_bam.training.glue_run.STUDENTS),
    }


def prepare_run(args) -> None:
    """Sets the C allocator's heaps (`limit_malloc_arenas`) and threshold
    (`release_large_buffers`), turns on op determinism and joins the cluster
    the options name (before the backend runs anything), then
    `enable_compilation_cache`."""
    if args.malloc_arenas != 0:
        keras_bam.backend.limit_malloc_arenas(args.malloc_arenas)
    if args.release_large_buffers > 0:
        keras_bam.backend.release_large_buffers(args.release_large_buffers * 2**20)
    if args.deterministic:
        keras_bam.backend.enable_op_determinism()
    if args.workers or os.environ.get("TF_CONFIG"):
        if args.distribution != "data_parallel":
            raise SystemExit(
                "keras-bam: several processes (--workers or TF_CONFIG) train "
                "with --distribution data_parallel."
            )
        keras_bam.backend.initialize_cluster(args.workers, args.worker_index)
    if args.compilation_cache and args.compilation_cache.lower() != "none":
        keras_bam.backend.enable_compilation_cache(args.compilation_cache)


def recipe_from_arguments(
    args: argparse.Namespace, task_count: int
) -> keras_bam.FineTuningRecipe:
    """BAM's recipe for a model of `task_count` tasks with the options given.

    Args:
        args: the parsed options of `teacher` or `student`.
        task_count: the model's tasks (a teacher: 1).

    Returns:
        `FineTuningRecipe.bam_for_tasks(task_count)` with the recipe fields
        the options set; those left out keep the recipe's values.

    Example:
    ```python
    recipe_from_arguments(args, 1) == keras_bam.FineTuningRecipe.bam_single_task()
    ```
    """
    return keras_bam.FineTuningRecipe.bam_for_tasks(
        task_count, **given(args, RECIPE_OPTIONS)
    )


def chosen_tasks(args, default: tuple = ()) -> list:
    """The names of the tasks a run trains: `--tasks` (GLUE's, and those of
    `--tasks-file`, which is read and its tasks registered), else every task of
    `--tasks-file`, else `default` (`keras-bam glue`'s GLUE tasks).

    Raises:
        ValueError: a bad tasks file, an unknown task, or no tasks at all.
    """
    own = []
    if args.tasks_file:
        own = keras_bam.tasks.load_tasks_file(args.tasks_file)
    if args.tasks:
        return [keras_bam.get_task(t).name for t in args.tasks]
    if own:
        return [t.name for t in own]
    if default:
        return list(default)
    raise ValueError("the following arguments are required: --tasks (or --tasks-file)")


def run_teachers(args, tasks) -> dict:
    """Trains one teacher per task; returns task name to `TeacherRun.summary()`."""
    prepare_run(args)
    summaries = {}
    for task in tasks:
        run = keras_bam.train_teacher(
            task,
            data_dir=args.data_dir,
            backbone=args.backbone,
            recipe=recipe_from_arguments(args, 1),
            source=args.source,
            tfds_manual_dir=args.tfds_manual_dir,
            cache_dir=args.cache_dir,
            output_dir=os.path.join(args.output_dir, keras_bam.get_task(task).name),
            train_limit=args.train_limit,
            eval_limit=args.eval_limit,
            save_optimizer=not args.no_optimizer_state,
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


def glue_settings(args) -> dict:
    """`run_glue` arguments from the parsed options (quick unless --paper):
    BAM's recipes with the options given, and `run_glue`'s own students unless
    `--students` names some."""
    shared = given(args, SEQUENCE_OPTIONS)
    teacher = {**shared, **given(args, GLUE_TEACHER_OPTIONS)}
    student = {**shared, **given(args, GLUE_STUDENT_OPTIONS)}
    train_limit, sample_seed = args.train_limit, args.train_sample_seed
    eval_limit = args.eval_limit
    save_optimizer, weighting = args.optimizer_state, args.weighting
    if save_optimizer is None:
        save_optimizer = args.paper or QUICK["save_optimizer"]
    if weighting is None:
        weighting = "bam" if args.paper else QUICK["weighting"]
    if not args.paper:
        teacher.setdefault("epochs", QUICK["teacher_epochs"])
        student.setdefault("epochs", QUICK["student_epochs"])
        student.setdefault("micro_batches", QUICK["student_micro_batches"])
        if train_limit is None:
            train_limit = QUICK["train_limit"]
        if sample_seed is None:
            sample_seed = QUICK["train_sample_seed"]
        if eval_limit is None:
            eval_limit = QUICK["eval_limit"]
    students = {"students": tuple(args.students)} if args.students else {}
    return dict(
        tasks=chosen_tasks(args, DEFAULT_TASKS),
        data_dir=args.data_dir,
        output_dir=args.output_dir,
        backbone=args.backbone,
        **students,
        teacher_recipe=keras_bam.FineTuningRecipe.bam_single_task(**teacher),
        student_recipe=keras_bam.FineTuningRecipe.bam_multi_task(**student),
        source=args.source,
        tfds_manual_dir=args.tfds_manual_dir,
        cache_dir=args.cache_dir,
        train_limit=train_limit,
        eval_limit=eval_limit,
        train_sample_seed=sample_seed if train_limit else None,
        export=not args.no_export,
        submission=not args.no_submission,
        save_optimizer=save_optimizer,
        weighting=weighting,
        save_every=args.save_every,
        verbose=fit_verbosity(args),
    )


def run_glue_from_arguments(args):
    """Runs `run_glue` with the parsed options and prints the dev table."""
    prepare_run(args)
    settings = glue_settings(args)
    run = keras_bam.run_glue(**settings)
    if not args.paper:
        print(
            QUICK_NOTE.format(
                train_limit=settings["train_limit"],
                teacher_epochs=settings["teacher_recipe"].epochs,
                student_epochs=settings["student_recipe"].epochs,
                eval_limit=settings["eval_limit"],
            )
        )
    print(run.table)
    print(f"Everything is in {run.output_dir} (dev_table.md, results.json).")
    return run


def student_recipe(args, task_count: int) -> keras_bam.FineTuningRecipe:
    """A student's recipe from the options: a born-again single-task student
    gets a seed of its own (`FineTuningRecipe.born_again`) unless `--seed`
    is given."""
    recipe = recipe_from_arguments(args, task_count)
    if task_count == 1 and args.seed is None:
        recipe = keras_bam.FineTuningRecipe.born_again(recipe)
    return recipe


def run_student_from_arguments(args, tasks) -> dict:
    """Trains one student from the parsed options; returns its summary."""
    prepare_run(args)
    settings = keras_bam.training.DistillationSettings(
        **given(args, DISTILLATION_OPTIONS)
    )
    if args.teachers is None and settings.distillation == "gold":
        settings = dataclasses.replace(settings, teachers="none")
    if settings.teachers == "given" and not args.teacher_dir:
        raise SystemExit(
            "keras-bam student: --teacher-dir is needed for teachers 'given'."
        )
    run = keras_bam.train_student(
        tasks,
        data_dir=args.data_dir,
        teacher_dir=args.teacher_dir,
        backbone=args.backbone,
        recipe=student_recipe(args, len(tasks)),
        distillation=settings,
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


def load_model(path: str) -> keras.Model:
    """A saved `.keras` student or teacher, with a clear error if it is not one."""
    if not os.path.isfile(path):
        raise SystemExit(f"keras-bam: no model file at {os.path.abspath(path)}.")
    model = keras.saving.load_model(path)
    if not isinstance(model, BackboneTaskModel):
        raise SystemExit(
            f"keras-bam: {path} holds a {type(model).__name__}, not a keras-bam "
            "student or teacher."
        )
    return model


def model_tasks(model, names=None, tasks_file=None) -> list:
    """The model's tasks, or those of `names` (each must be one of its heads);
    its own tasks as `tasks_file` defines them now (their data's places),
    when given."""
    tasks = list(getattr(model, "tasks", None) or [model.task])
    if tasks_file:
        defined = {t.name: t for t in keras_bam.tasks.load_tasks_file(tasks_file)}
        for i, task in enumerate(tasks):
            new = defined.get(task.name)
            if new is None:
                continue
            if (new.label_names, new.score_range) != (
                task.label_names,
                task.score_range,
            ):
                raise SystemExit(
                    f"keras-bam: {tasks_file} defines '{task.name}' with other "
                    "labels or another score range than the model was trained on."
                )
            tasks[i] = new
    if not names:
        return tasks
    by_name = {t.name: t for t in tasks}
    chosen = []
    for name in names:
        try:
            task = keras_bam.get_task(name)
        except ValueError as e:
            raise SystemExit(f"keras-bam: {e}") from None
        if task.name not in by_name:
            raise SystemExit(
                f"keras-bam: the model has no {task.display_name} head; its tasks: "
                f"{', '.join(by_name)}."
            )
        chosen.append(task)
    return chosen


def model_encoding(model, args) -> tuple:
    """`(tokenizer, max_length)` for a saved model's inputs: its own tokenizer
    when it has one (models saved by keras-bam runs do), else `--backbone`'s."""
    tokenizer = model.tokenizer
    if tokenizer is None or args.backbone:
        tokenizer = keras_bam.load_tokenizer(args.backbone)
    return tokenizer, args.max_length or model.max_length


def task_outputs(model, task, encoded, batch_size: int) -> np.ndarray:
    """One task head's outputs for `encoded`, in example order."""
    outputs = keras_bam.evaluation.predict_outputs(model, encoded, batch_size)
    return outputs[task.name] if isinstance(outputs, dict) else outputs


def evaluate_model(args) -> dict:
    """GLUE metrics of a saved model on its tasks' dev splits; prints a table and
    returns task name to split name to metrics."""
    model = load_model(args.model)
    tasks = model_tasks(model, args.tasks, args.tasks_file)
    tokenizer, max_length = model_encoding(model, args)
    loader = keras_bam.data.SplitLoader(tokenizer, max_length, data_dir=args.data_dir)
    dev_metrics = {}
    for task in tasks:
        for split in task.eval_split:
            examples, encoded = loader.load(task, split, args.limit)
            outputs = task_outputs(model, task, encoded, args.batch_size)
            predictions = keras_bam.evaluation.predictions_from_outputs(task, outputs)
            dev_metrics.setdefault(task.name, {})[split] = (
                keras_bam.evaluation.glue_metrics(task, examples.labels, predictions)
            )
    print(format_dev_table({t: {"dev_metrics": m} for t, m in dev_metrics.items()}))
    if args.output:
        with open(args.output, "w") as f:
            json.dump({"model": args.model, "dev_metrics": dev_metrics}, f, indent=2)
    return dev_metrics


def unlabeled_split(task) -> str:
    """The task's first test split, whose layout `--input` files follow."""
    return next(s for s in task.splits if s.startswith("test"))


def predict_model(args) -> dict:
    """Writes a saved model's predictions for one task, on a GLUE split or on a
    TSV of raw texts, as `index<TAB>prediction` (GLUE's submission format);
    returns the path written to the number of predictions."""
    model = load_model(args.model)
    (task,) = model_tasks(model, [args.task], args.tasks_file)
    tokenizer, max_length = model_encoding(model, args)
    if args.input and isinstance(task, keras_bam.tasks.GlueTask):
        examples = keras_bam.data.read_glue_tsv(
            task, unlabeled_split(task), None, path=args.input
        )
        encoded = keras_bam.data.encode_examples(examples, tokenizer, max_length)
    elif args.input:  # A file of the task's text columns, as its own files are.
        given = dataclasses.replace(task, splits={"test": args.input})
        examples = keras_bam.data.read_task_split(given, "test")
        encoded = keras_bam.data.encode_examples(examples, tokenizer, max_length)
    else:
        loader = keras_bam.data.SplitLoader(
            tokenizer, max_length, data_dir=args.data_dir
        )
        examples, encoded = loader.load(task, args.split, args.limit)
    outputs = task_outputs(model, task, encoded, args.batch_size)
    rows = keras_bam.evaluation.format_predictions(task, outputs)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    path = write_submission_file(args.output, rows)
    print(f"Wrote {len(rows)} {task.display_name} predictions to {path}.")
    return {path: len(rows)}


def export_model(args) -> str:
    """Exports a saved model as a SavedModel for serving; returns its folder."""
    model = load_model(args.model)
    path = keras_bam.export_saved_model(model, args.output_dir)
    endpoints = ["serve"] + [
        f"serve_{t.name}" for t in getattr(model, "tasks", None) or []
    ]
    print(f"Exported {args.model} to {path} (endpoints: {', '.join(endpoints)}).")
    return path
