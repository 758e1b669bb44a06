"""BAM on GLUE end to end: teachers, their predictions, students, table, export."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile

import keras
import numpy as np

from keras_bam.backbones import new_backbone_and_tokenizer
from keras_bam.backend import is_chief
from keras_bam.data.loading import SplitLoader
from keras_bam.export import export_saved_model
from keras_bam.io_utils import save_dev_outputs
from keras_bam.prediction import predict_outputs
from keras_bam.recipes import FineTuningRecipe
from keras_bam.student import train_student
from keras_bam.submission import write_glue_submission
from keras_bam.tasks import get_task
from keras_bam.teacher import train_teacher

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


def glue_scores(dev_metrics: dict) -> dict:
    """Task name to GLUE score (the mean over its dev splits), and `"average"`.

    Args:
        dev_metrics: task name to split name to `glue_metrics`.

    Example:
    ```python
    keras_bam.glue_scores(run.dev_metrics)  # {"rte": 0.61, ..., "average": 0.7}
    ```
    """
    scores = {
        task: float(np.mean([m["score"] for m in splits.values()]))
        for task, splits in dev_metrics.items()
    }
    scores["average"] = float(np.mean(list(scores.values())))
    return scores


def format_comparison_table(run_scores: dict, dev_metrics: dict, tasks: list) -> str:
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
    header.append("GLUE average")
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


def _teacher_done(teacher_dir: str, task) -> dict | None:
    summary_path = os.path.join(teacher_dir, task.name, f"{task.name}_teacher.json")
    if not os.path.exists(summary_path):
        return None
    with open(summary_path) as f:
        summary = json.load(f)
    paths = summary.get("predictions_paths", {})
    if not paths or not all(os.path.exists(p) for p in paths.values()):
        return None
    return summary


def run_glue(
    tasks,
    data_dir=None,
    output_dir="runs/glue",
    backbone=None,
    tokenizer=None,
    students=("multitask", "bam"),
    teacher_recipe: FineTuningRecipe | None = None,
    student_recipe: FineTuningRecipe | None = None,
    source: str = "tsv",
    tfds_manual_dir=None,
    cache_dir=None,
    train_limit: int | None = None,
    eval_limit: int | None = None,
    train_sample_seed: int | None = None,
    export: bool = True,
    submission: bool = True,
    save_every: int | None = None,
    verbose="auto",
) -> GlueRun:
    """Runs BAM on GLUE tasks: teachers, then students, then the dev table.

    1. One single-task teacher per task (`train_teacher`), which writes its
       predictions over the training set (both text orders for MRPC and STS-B).
       A teacher already in `output_dir/teachers/<task>` is reused.
    2. Each student of `students` (`train_student`): `"multitask"` (gold labels
       only), `"bam"` (teacher annealing), `"distilled"` (fixed teacher weight),
       `"uninformative"` (the control: annealing towards a uniform teacher).
       Students checkpoint into `output_dir/students/<name>/checkpoint`: a run
       started again resumes an interrupted student at the same step, λ and data
       position, and skips finished ones.
    3. For each student: the `.keras` model, a SavedModel with a serving signature
       per task (`export`), and GLUE's test submission files (`submission`).
    4. The dev table of teachers and students, written to `dev_table.md` and
       `results.json`.

    Args:
        tasks: the GLUE tasks.
        data_dir: the GLUE TSV folder (or TFDS's data folder with
            `source="tfds"`).
        output_dir: where everything goes.
        backbone: a backbone spec (see `load_backbone`; the offline MiniLM by
            default), or a function returning a new backbone model (then pass
            `tokenizer`). Each model starts from a fresh copy.
        tokenizer: the tokenizer, with a backbone function.
        students: the students to train, in order.
        teacher_recipe: BAM's single-task recipe by default.
        student_recipe: BAM's multi-task recipe by default.
        source: `"tsv"` or `"tfds"`.
        tfds_manual_dir: TFDS's manual folder.
        cache_dir: the encoded-split cache (`output_dir/cache` by default).
        train_limit: train on the first N examples of each task.
        eval_limit: evaluate on the first N dev examples of each task.
        train_sample_seed: with `train_limit`, train on a random sample of N
            examples of each task drawn with this seed instead of the first N.
        export: write each student's SavedModel.
        submission: write each student's GLUE test predictions.
        save_every: checkpoint students every N steps too (besides epoch ends).
        verbose: `fit`'s verbosity.

    Returns:
        A `GlueRun`.

    Example:
    ```python
    run = keras_bam.run_glue(["rte", "mrpc"], data_dir="../shared/glue",
                             output_dir="runs/glue")
    print(run.table)
    ```
    """
    tasks = [get_task(t) for t in tasks]
    unknown = [s for s in students if s not in STUDENTS]
    if unknown:
        raise ValueError(f"Unknown students {unknown}; use some of {list(STUDENTS)}.")
    output_dir = os.fspath(output_dir)
    cache_dir = cache_dir or os.path.join(output_dir, "cache")
    teacher_dir = os.path.join(output_dir, "teachers")
    teacher_recipe = teacher_recipe or FineTuningRecipe.bam_single_task()
    student_recipe = student_recipe or FineTuningRecipe.bam_multi_task()
    common = dict(
        data_dir=data_dir,
        source=source,
        tfds_manual_dir=tfds_manual_dir,
        cache_dir=cache_dir,
        train_limit=train_limit,
        eval_limit=eval_limit,
        train_sample_seed=train_sample_seed,
        verbose=verbose,
    )

    teachers = {}
    for task in tasks:
        done = _teacher_done(teacher_dir, task)
        if done is not None:
            if done.get("recipe") != teacher_recipe.to_dict():
                raise ValueError(
                    f"The {task.display_name} teacher in {teacher_dir} was trained "
                    "with another recipe; use another output_dir or delete it."
                )
            logger.info("%s teacher: reusing %s.", task.display_name, teacher_dir)
            teachers[task.name] = done
            continue
        backbone_model, task_tokenizer = new_backbone_and_tokenizer(backbone, tokenizer)
        run = train_teacher(
            task,
            backbone=backbone_model,
            tokenizer=task_tokenizer,
            recipe=teacher_recipe,
            output_dir=os.path.join(teacher_dir, task.name),
            **common,
        )
        teachers[task.name] = {**run.summary(), "recipe": teacher_recipe.to_dict()}
        del run
        keras.backend.clear_session()

    student_summaries = {}
    for name in students:
        student_dir = os.path.join(output_dir, "students", name)
        summary_path = os.path.join(student_dir, "summary.json")
        if os.path.exists(summary_path):
            with open(summary_path) as f:
                student_summaries[name] = json.load(f)
            logger.info("Student %s: reusing %s.", name, student_dir)
            continue
        backbone_model, student_tokenizer = new_backbone_and_tokenizer(
            backbone, tokenizer
        )
        run = train_student(
            tasks,
            teacher_dir=teacher_dir,
            backbone=backbone_model,
            tokenizer=student_tokenizer,
            recipe=student_recipe,
            checkpoint_dir=os.path.join(student_dir, "checkpoint"),
            save_every=save_every,
            **STUDENTS[name],
            **common,
        )
        summary = {
            **run.summary(),
            "recipe": student_recipe.to_dict(),
            **STUDENTS[name],
        }
        if not is_chief():
            # In a cluster process 0 writes; the others take part in exporting
            # and predicting, writing into a scratch folder.
            student_dir = tempfile.mkdtemp(prefix="keras-bam-")
            summary_path = os.path.join(student_dir, "summary.json")
        summary["dev_outputs_path"] = save_dev_outputs(
            os.path.join(student_dir, "dev_outputs.npz"), run.dev_outputs
        )
        model_path = os.path.join(student_dir, f"{name}_student.keras")
        run.model.save(model_path)
        summary["model_path"] = model_path
        if export:
            summary["saved_model_path"] = export_saved_model(
                run.model, os.path.join(student_dir, "saved_model")
            )
        if submission:
            loader = SplitLoader(
                student_tokenizer,
                student_recipe.max_length,
                source,
                data_dir,
                tfds_manual_dir,
                cache_dir,
            )
            submission_dir = os.path.join(student_dir, "glue_submission")
            summary["submission_files"] = write_glue_submission(
                run.model, loader, submission_dir, predict_outputs
            )
            summary["submission_dir"] = submission_dir
        with open(summary_path, "w") as f:
            json.dump(summary, f, indent=2)
        if not is_chief():
            shutil.rmtree(student_dir, ignore_errors=True)
        student_summaries[name] = summary
        del run
        keras.backend.clear_session()

    dev_metrics = {"teachers": {t: s["dev_metrics"] for t, s in teachers.items()}}
    dev_metrics.update({n: s["dev_metrics"] for n, s in student_summaries.items()})
    scores = {system: glue_scores(metrics) for system, metrics in dev_metrics.items()}
    result = GlueRun(
        tasks=[t.name for t in tasks],
        teachers=teachers,
        students=student_summaries,
        table=format_comparison_table(scores, dev_metrics, [t.name for t in tasks]),
        output_dir=output_dir,
    )
    if not is_chief():
        return result
    with open(os.path.join(output_dir, "dev_table.md"), "w") as f:
        f.write(result.table + "\n")
    with open(os.path.join(output_dir, "results.json"), "w") as f:
        json.dump(
            {
                "tasks": result.tasks,
                "backend": keras.backend.backend(),
                "scores": scores,
                "dev_metrics": dev_metrics,
                "teacher_recipe": teacher_recipe.to_dict(),
                "student_recipe": student_recipe.to_dict(),
                "train_limit": train_limit,
                "eval_limit": eval_limit,
                "train_sample_seed": train_sample_seed,
                "students": student_summaries,
            },
            f,
            indent=2,
        )
    return result
