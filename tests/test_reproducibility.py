"""The same run in two processes gives the same numbers (the backend of this suite)."""

import os
import subprocess
import sys

import numpy as np

from tests.conftest import ROOT

# The main job's path (`run_glue`: teachers, their predictions, a BAM student),
# tiny. Its backbone is built, like a caller's, from an unseeded global state
# (Python's generator seeded from the system): its dropout layers draw
# different seeds in each process; the run's seed must decide them anyway.
SCRIPT = """
import random, sys
import keras, keras_hub, numpy as np
import keras_bam
from tests.conftest import make_tiny_backbone

glue_dir, out = sys.argv[1], sys.argv[2]
weights = make_tiny_backbone(seed=0).get_weights()

def backbone():
    random.seed()
    model = keras_hub.models.BertBackbone(
        vocabulary_size=30522, num_layers=2, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=128)
    model.set_weights(weights)
    return model

run = keras_bam.run_glue(
    ["rte", "stsb"], data_dir=glue_dir, output_dir=out, backbone=backbone,
    tokenizer=keras_bam.load_tokenizer(), students=("bam",),
    teacher_recipe=keras_bam.FineTuningRecipe(epochs=1, batch_size=8, seed=3),
    student_recipe=keras_bam.FineTuningRecipe.bam_multi_task(
        epochs=1, batch_size=16, seed=3),
    train_limit=16, eval_limit=8, export=False, submission=False, verbose=0)
student = keras.saving.load_model(run.students["bam"]["model_path"])
np.savez(out + "/student_weights.npz", *student.get_weights())
"""


def arrays(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def test_two_processes_give_identical_teachers_students_and_dev_outputs(
    glue_dir, tmp_path
):
    outs = [tmp_path / "first", tmp_path / "second"]
    for out in outs:
        subprocess.run(
            [sys.executable, "-c", SCRIPT, glue_dir, str(out)],
            cwd=ROOT,
            check=True,
            timeout=600,
            env={**os.environ, "PYTHONHASHSEED": "random"},
        )
    files = [
        "teachers/rte/rte_train_teacher.npz",
        "teachers/stsb/stsb_train_teacher.npz",
        "teachers/stsb/stsb_train_swapped_teacher.npz",
        "teachers/rte/rte_dev_outputs.npz",
        "students/bam/dev_outputs.npz",
        "student_weights.npz",
    ]
    for name in files:
        first, second = (arrays(out / name) for out in outs)
        assert first.keys() == second.keys()
        for key in first:
            np.testing.assert_array_equal(first[key], second[key], err_msg=name)
