"""RunFolder, TeacherFolder and StudentFolder: one owner of a run's file names."""

import os

import keras_bam
from keras_bam.training import RunFolder
from keras_bam.training import TeacherFolder


def test_run_folder_layout():
    folder = RunFolder(os.path.join("runs", "glue"))
    teacher = folder.teacher("RTE")
    student = folder.student("bam")
    assert folder.teachers == os.path.join("runs", "glue", "teachers")
    assert teacher == TeacherFolder(os.path.join(folder.teachers, "rte"), "rte")
    assert teacher.predictions("train_swapped") == os.path.join(
        folder.teachers, "rte", "rte_train_swapped_teacher.npz"
    )
    assert teacher.predictions() == keras_bam.data.teacher_predictions_path(
        folder.teachers, "rte"
    )
    assert os.path.basename(teacher.summary) == "rte_teacher.json"
    assert os.path.basename(teacher.model) == "rte_teacher.keras"
    assert os.path.basename(teacher.dev_outputs) == "rte_dev_outputs.npz"
    assert teacher.fold(2).predictions() == os.path.join(
        folder.teachers, "rte", "fold2", "rte_train_teacher.npz"
    )
    assert student.model == os.path.join(
        "runs", "glue", "students", "bam", "bam_student.keras"
    )
    assert os.path.basename(student.checkpoint) == "checkpoint"
    assert os.path.basename(folder.results) == "results.json"
    assert os.path.basename(folder.dev_table) == "dev_table.md"
