"""BAM on GLUE end to end: teachers, their predictions, students, table, export."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import shutil

import keras

from keras_bam.backend.allocator import release_freed_memory
from keras_bam.backend.distribution import is_chief
from keras_bam.data.io_utils import save_dev_outputs
from keras_bam.data.io_utils import written_by_chief
from keras_bam.data.task_reader import check_task_data
from keras_bam.evaluation.prediction import predict_outputs
from keras_bam.evaluation.scoring import glue_scores
from keras_bam.evaluation.submission import write_glue_submission
from keras_bam.models.backbones import new_backbone_and_tokenizer
from keras_bam.models.export import export_saved_model
from keras_bam.tasks.glue_tasks import GlueTask
from keras_bam.tasks.registry import get_task
from keras_bam.tasks.registry import resolve_tasks
from keras_bam.training.recipes import FineTuningRecipe
from keras_bam.training.run_folder import RunFolder
from keras_bam.training.run_folder import StudentFolder
from keras_bam.training.run_folder import TeacherFolder
from keras_bam.training.settings import DataSettings
from keras_bam.training.settings import check_all_used
from keras_bam.training.settings import with_keywords
from keras_bam.training.student import train_student
from keras_bam.training.task_weighting import WEIGHTINGS
from keras_bam.training.teacher import train_teacher

logger = logging.getLogger(__name__)

# The students a run can train: `train_student` arguments of each.
STUDENTS = {
    "multitask": {"distillation": "gold", "teachers": "none"},
    "bam": {"distillation": "annealed", "teachers": "given"},
    "distilled": {"distillation": "fixed", "teachers": "given"},
    "uninformative": {"distillation": "annealed", "teachers": "uninformative"},
}
STUDENT_LABELS = {
    "teachers": "single-task teachers",
    "multitask": "multi-task (gold labels only)",
    "bam": "BAM (teacher annealing)",
    "distilled": "distillation, fixed teacher weight 0.5",
    "uninformative": "annealing with an uninformative teacher",
}


@dataclasses.dataclass
class GlueRun:
    """What `run_glue` produced.

    Args:
        tasks: the task names.
        teachers: task name to the teacher's summary (`TeacherRun.summary()`).
        students: student name to its summary (`StudentRun.summary()` plus the
            paths of its model, SavedModel and submission files).
        table: the dev-set table (Markdown).
        output_dir: where everything was written.
    """

    tasks: list
    teachers: dict
    students: dict
    table: str
    output_dir: str

    def scores(self) -> dict:
        """System name to task name to GLUE score (and `"average"`)."""
        rows = {
            "teachers": glue_scores(
                {t: s["dev_metrics"] for t, s in self.teachers.items()}
            )
        }
        for name, summary in self.students.items():
            rows[name] = glue_scores(summary["dev_metrics"])
        return rows


def _format_comparison_table(run_scores: dict, dev_metrics: dict, tasks: list) -> str:
    """A Markdown table: one row per system, one column per task, the average.

    Args:
        run_scores: system name to task name to score (see `GlueRun.scores`).
        dev_metrics: system name to task name to split name to metrics.
        tasks: the task names, in column order.
    """
    header = ["system"]
    for name in tasks:
        task = get_task(name)
        metrics = "/".join(task.metrics)
        header.append(f"{task.display_name} ({metrics})")
    every_glue = all(isinstance(get_task(name), GlueTask) for name in tasks)
    header.append("GLUE average" if every_glue else "average")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for system, scores in run_scores.items():
        cells = [STUDENT_LABELS.get(system, system)]
        for name in tasks:
            splits = dev_metrics[system][name]
            values = [
                "/".join(f"{100 * m[k]:.1f}" for k in get_task(name).metrics)
                for m in splits.values()
            ]
            cells.append(", ".join(values))
        cells.append(f"{100 * scores['average']:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_glue(
    tasks,
    output_dir="runs/glue",
    backbone=None,
    tokenizer=None,
    students=("multitask", "bam"),
    teacher_recipe: FineTuningRecipe | None = None,
    student_recipe: FineTuningRecipe | None = None,
    data: DataSettings | None = None,
    weighting: str = "bam",
    export: bool = True,
    submission: bool = True,
    save_optimizer: bool = True,
    save_every: int | None = None,
    verbose="auto",
    **data_fields,
) -> GlueRun:
    """Runs BAM on GLUE tasks (or yours): teachers, then students, then the dev table.

    1. One teacher per task (`train_teacher`) and its training-set predictions;
       a teacher already in `output_dir/teachers/<task>` is reused.
    2. Each student of `students` (`train_student`; see `STUDENTS`), checkpointed
       in `output_dir/students/<name>/checkpoint`: a run started again resumes
       an interrupted student and skips finished ones.
    3. For each student: the `.keras` model, a SavedModel with a serving
       signature per task (`export`), GLUE's test files (`submission`); its
       checkpoints, spent, are deleted.
    4. The dev table of all systems, in `dev_table.md` and `results.json`.

    Args:
        tasks: GLUE task names and `Task`s of your own (`keras_bam.tasks.Task`);
            every split of every task is read and checked before any training.
        output_dir: where everything goes.
        backbone: a backbone spec (see `load_backbone`; the offline MiniLM by
            default), or a function returning a new backbone model (then pass
            `tokenizer`). Each model starts from a fresh copy.
        tokenizer: the tokenizer, with a backbone function.
        students: the students to train, in order.
        teacher_recipe: BAM's single-task recipe by default.
        student_recipe: BAM's multi-task recipe by default.
        data: where and how GLUE is read (`DataSettings`); its `cache_dir` is
            `output_dir/cache` unless given.
        weighting: how much each task counts in the students' training
            (`keras_bam.training.task_multiples_and_weights`): BAM's by default;
            `"bam_trained"` applies BAM's formula to the sizes trained on, as a
            run on samples of GLUE should (BAM's table is of GLUE's full sizes).
        export: write each student's SavedModel.
        submission: write each student's GLUE test predictions.
        save_optimizer: keep the optimizer's state in the teachers' and
            students' `.keras` files, to train on from them; without, each is a
            third of the size.
        save_every: checkpoint students every N steps too (besides epoch ends).
        verbose: `fit`'s verbosity.
        **data_fields: `DataSettings` fields as keywords (`data_dir`,
            `train_limit`, ...), replacing `data`'s.

    Returns:
        A `GlueRun`.

    Example:
    ```python
    run = keras_bam.run_glue(["rte", "mrpc"], data_dir="../shared/glue",
                             output_dir="runs/glue")
    print(run.table)
    ```
    """
    tasks = resolve_tasks(tasks)
    for task in tasks:  # Every task's data is checked before any training.
        check_task_data(task)
    if weighting not in WEIGHTINGS:
        raise ValueError(f"Unknown weighting {weighting!r}; use one of {WEIGHTINGS}.")
    unknown = [s for s in students if s not in STUDENTS]
    if unknown:
        raise ValueError(f"Unknown students {unknown}; use some of {list(STUDENTS)}.")
    folder = RunFolder(output_dir)
    data = with_keywords(data or DataSettings(), data_fields)
    check_all_used(data_fields, "run_glue")
    if data.cache_dir is None:
        data = dataclasses.replace(data, cache_dir=folder.cache)
    teacher_recipe = teacher_recipe or FineTuningRecipe.bam_single_task()
    student_recipe = student_recipe or FineTuningRecipe.bam_multi_task()
    teachers = {
        t.name: _glue_teacher(
            t,
            folder,
            data,
            backbone,
            tokenizer,
            teacher_recipe,
            verbose,
            save_optimizer,
        )
        for t in tasks
    }
    outputs = dict(export=export, submission=submission, save_optimizer=save_optimizer)
    options = dict(
        outputs=outputs, weighting=weighting, save_every=save_every, verbose=verbose
    )
    student_summaries = {
        name: _glue_student(
            name, tasks, folder, data, backbone, tokenizer, student_recipe, **options
        )
        for name in students
    }
    recipes = (teacher_recipe, student_recipe)
    return glue_run(tasks, folder, teachers, student_summaries, recipes, data)


def glue_run(tasks, folder, teachers: dict, students: dict, recipes, data) -> GlueRun:
    """`run_glue`'s result from its teachers' and students' summaries, its dev
    table and results written into `folder` (by process 0 of a cluster)."""
    dev_metrics = {"teachers": {t: s["dev_metrics"] for t, s in teachers.items()}}
    dev_metrics.update({n: s["dev_metrics"] for n, s in students.items()})
    scores = {system: glue_scores(metrics) for system, metrics in dev_metrics.items()}
    result = GlueRun(
        tasks=[t.name for t in tasks],
        teachers=teachers,
        students=students,
        table=_format_comparison_table(scores, dev_metrics, [t.name for t in tasks]),
        output_dir=folder.path,
    )
    if is_chief():
        _write_glue_results(folder, result, scores, dev_metrics, recipes, data)
    return result


def _write_glue_results(folder, result, scores, dev_metrics, recipes, data) -> None:
    """`run_glue`'s dev table (`dev_table.md`) and `results.json` in `folder`:
    the scores and dev metrics of every system, the teacher and student
    recipes, the data sample and the students' summaries."""
    teacher_recipe, student_recipe = recipes
    with open(folder.dev_table, "w") as f:
        f.write(result.table + "\n")
    with open(folder.results, "w") as f:
        results = {
            "tasks": result.tasks,
            "backend": keras.backend.backend(),
            "scores": scores,
            "dev_metrics": dev_metrics,
            "teacher_recipe": teacher_recipe.to_dict(),
            "student_recipe": student_recipe.to_dict(),
            "train_limit": data.train_limit,
            "eval_limit": data.eval_limit,
            "train_sample_seed": data.train_sample_seed,
            "students": result.students,
        }
        json.dump(results, f, indent=2)


def _releasing_memory(function):
    """`function`, then a fresh Keras session and the freed memory given back
    to the system: for each model of a run's sequence (teachers, students),
    whose result is its summary, not the model."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        result = function(*args, **kwargs)
        keras.backend.clear_session()
        release_freed_memory()
        return result

    return wrapper


def _finished_teacher(folder: TeacherFolder) -> dict | None:
    """A teacher's summary when its folder holds a finished teacher (its
    summary and every predictions file), else `None`."""
    if not os.path.exists(folder.summary):
        return None
    with open(folder.summary) as f:
        summary = json.load(f)
    paths = summary.get("predictions_paths", {})
    if not paths or not all(os.path.exists(p) for p in paths.values()):
        return None
    return summary


@_releasing_memory
def _glue_teacher(
    task, folder, data, backbone, tokenizer, recipe, verbose, save_optimizer
) -> dict:
    """`run_glue`'s teacher of `task`: reused from `folder` when finished
    there with the same recipe, else trained into it.

    Returns:
        The teacher's summary, with its recipe.
    """
    teacher_folder = folder.teacher(task)
    done = _finished_teacher(teacher_folder)
    if done is not None:
        if done.get("recipe") != recipe.to_dict():
            raise ValueError(
                f"The {task.display_name} teacher in {folder.teachers} was trained "
                "with another recipe; use another output_dir or delete it."
            )
        logger.info("%s teacher: reusing %s.", task.display_name, folder.teachers)
        return done
    backbone_model, task_tokenizer = new_backbone_and_tokenizer(backbone, tokenizer)
    run = train_teacher(
        task,
        backbone=backbone_model,
        tokenizer=task_tokenizer,
        recipe=recipe,
        output_dir=teacher_folder.path,
        data=data,
        save_optimizer=save_optimizer,
        verbose=verbose,
    )
    return {**run.summary(), "recipe": recipe.to_dict()}


@_releasing_memory
def _glue_student(
    name,
    tasks,
    folder,
    data,
    backbone,
    tokenizer,
    recipe,
    outputs,
    weighting,
    save_every,
    verbose,
) -> dict:
    """`run_glue`'s student `name`: its summary when finished in `folder` with
    the same recipe, tasks and `weighting`, else trained (resuming from its
    checkpoint) and written there.

    Args:
        outputs: `export` (a SavedModel), `submission` (GLUE's test files) and
            `save_optimizer` (in the `.keras` file), each `True` or `False`.

    Returns:
        The student's summary (`StudentRun.summary()`, its recipe, its
        `STUDENTS` settings, its weighting and the paths of the files written).
    """
    student_folder = folder.student(name)
    if os.path.exists(student_folder.summary):
        with open(student_folder.summary) as f:
            done = json.load(f)
        if (
            done.get("recipe") != recipe.to_dict()
            or sorted(done.get("dev_metrics", {})) != sorted(t.name for t in tasks)
            or done.get("weighting", "bam") != weighting
        ):
            raise ValueError(
                f"The {name} student in {student_folder.path} was trained with "
                "another recipe, other tasks or another weighting; use another "
                "output_dir or delete it."
            )
        logger.info("Student %s: reusing %s.", name, student_folder.path)
        return done
    backbone_model, student_tokenizer = new_backbone_and_tokenizer(backbone, tokenizer)
    run = train_student(
        tasks,
        teacher_dir=folder.teachers,
        backbone=backbone_model,
        tokenizer=student_tokenizer,
        recipe=recipe,
        checkpoint_dir=student_folder.checkpoint,
        save_every=save_every,
        data=data,
        verbose=verbose,
        weighting=weighting,
        **STUDENTS[name],
    )
    summary = {
        **run.summary(),
        "recipe": recipe.to_dict(),
        **STUDENTS[name],
        "weighting": weighting,
    }
    with written_by_chief(student_folder.path) as path:
        files = StudentFolder(path, name)
        summary["dev_outputs_path"] = save_dev_outputs(
            files.dev_outputs, run.dev_outputs
        )
        summary["model_path"] = files.model
        run.model.save(files.model, include_optimizer=outputs["save_optimizer"])
        if outputs["export"]:
            summary["saved_model_path"] = export_saved_model(
                run.model, files.saved_model
            )
        if outputs["submission"]:
            loader = data.loader(student_tokenizer, recipe.max_length)
            summary["submission_files"] = write_glue_submission(
                run.model, loader, files.submission, predict_outputs, data.eval_limit
            )
            summary["submission_dir"] = files.submission
        with open(files.summary, "w") as f:
            json.dump(summary, f, indent=2)
        # Finished, the student is reused from its summary: its checkpoints,
        # kept only to resume it, are spent.
        shutil.rmtree(student_folder.checkpoint, ignore_errors=True)
    return summary
