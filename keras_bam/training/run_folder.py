"""The file names of a run's folder: one place that knows where each file goes."""

from __future__ import annotations

import dataclasses
import os

from keras_bam.data.teacher_predictions import teacher_predictions_file
from keras_bam.tasks.registry import task_name


@dataclasses.dataclass(frozen=True)
class TeacherFolder:
    """The files a teacher of one task writes (`train_teacher`'s `output_dir`).

    Args:
        path: the folder.
        task: the task's name.

    Example:
    ```python
    folder = keras_bam.training.TeacherFolder("runs/glue/teachers/rte", "rte")
    folder.predictions("train")  # 'runs/glue/teachers/rte/rte_train_teacher.npz'
    ```
    """

    path: str
    task: str

    def __post_init__(self):
        object.__setattr__(self, "path", os.fspath(self.path))
        object.__setattr__(self, "task", task_name(self.task))

    def predictions(self, split: str = "train") -> str:
        """The teacher's predictions over a training split."""
        return os.path.join(self.path, teacher_predictions_file(self.task, split))

    @property
    def dev_outputs(self) -> str:
        return os.path.join(self.path, f"{self.task}_dev_outputs.npz")

    @property
    def model(self) -> str:
        return os.path.join(self.path, f"{self.task}_teacher.keras")

    @property
    def summary(self) -> str:
        return os.path.join(self.path, f"{self.task}_teacher.json")

    @property
    def cross_fit_summary(self) -> str:
        return os.path.join(self.path, f"{self.task}_cross_fit.json")

    def fold(self, fold: int) -> TeacherFolder:
        """The folder of cross-fitting's teacher of fold `fold`."""
        return TeacherFolder(os.path.join(self.path, f"fold{fold}"), self.task)


@dataclasses.dataclass(frozen=True)
class StudentFolder:
    """The files `run_glue` writes for one student.

    Args:
        path: the folder.
        name: the student's name (`"bam"`, `"multitask"`, ...).

    Example:
    ```python
    folder = keras_bam.training.RunFolder("runs/glue").student("bam")
    folder.model  # 'runs/glue/students/bam/bam_student.keras'
    ```
    """

    path: str
    name: str

    @property
    def summary(self) -> str:
        return os.path.join(self.path, "summary.json")

    @property
    def dev_outputs(self) -> str:
        return os.path.join(self.path, "dev_outputs.npz")

    @property
    def model(self) -> str:
        return os.path.join(self.path, f"{self.name}_student.keras")

    @property
    def saved_model(self) -> str:
        return os.path.join(self.path, "saved_model")

    @property
    def submission(self) -> str:
        return os.path.join(self.path, "glue_submission")

    @property
    def checkpoint(self) -> str:
        return os.path.join(self.path, "checkpoint")


@dataclasses.dataclass(frozen=True)
class RunFolder:
    """The layout of `run_glue`'s output folder.

    `teachers/<task>/` (a `TeacherFolder` each), `students/<name>/` (a
    `StudentFolder` each), `cache/` (encoded splits), `dev_table.md` and
    `results.json`.

    Args:
        path: the run's output folder.

    Example:
    ```python
    folder = keras_bam.training.RunFolder("runs/glue")
    folder.teacher("rte").summary  # 'runs/glue/teachers/rte/rte_teacher.json'
    ```
    """

    path: str

    def __post_init__(self):
        object.__setattr__(self, "path", os.fspath(self.path))

    @property
    def teachers(self) -> str:
        """The folder of all teachers: a student's `teacher_dir`."""
        return os.path.join(self.path, "teachers")

    def teacher(self, task) -> TeacherFolder:
        name = task_name(task)
        return TeacherFolder(os.path.join(self.teachers, name), name)

    def student(self, name: str) -> StudentFolder:
        return StudentFolder(os.path.join(self.path, "students", name), name)

    @property
    def cache(self) -> str:
        return os.path.join(self.path, "cache")

    @property
    def dev_table(self) -> str:
        return os.path.join(self.path, "dev_table.md")

    @property
    def results(self) -> str:
        return os.path.join(self.path, "results.json")
