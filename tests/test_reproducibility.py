"""The same run in two processes gives the same numbers (the backend of this suite).

The runs (`tests/glue_runs.py`): the main job's path (`run_glue`: teachers,
their predictions, a BAM student), tiny, once in the test process (`glue_run`)
and once in a fresh process (`glue_run_again`), whose backbones were built from
an unseeded global state: their dropout layers draw other seeds, and the run's
seed must decide them anyway.
"""

import keras
import numpy as np


def arrays(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def test_two_processes_give_identical_teachers_students_and_dev_outputs(
    glue_run, glue_run_again
):
    first, second = glue_run.output_dir, str(glue_run_again)
    files = [
        "teachers/rte/rte_train_teacher.npz",
        "teachers/stsb/stsb_train_teacher.npz",
        "teachers/stsb/stsb_train_swapped_teacher.npz",
        "teachers/rte/rte_dev_outputs.npz",
        "students/bam/dev_outputs.npz",
    ]
    for name in files:
        a, b = arrays(f"{first}/{name}"), arrays(f"{second}/{name}")
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=name)
    student = keras.saving.load_model(glue_run.students["bam"]["model_path"])
    a = student.get_weights()
    saved = arrays(f"{second}/student_weights.npz")
    b = [saved[f"arr_{i}"] for i in range(len(saved))]
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y, err_msg="student_weights.npz")
