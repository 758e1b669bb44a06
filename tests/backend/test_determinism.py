"""Deterministic kernels as a setting, and what a process reports."""

import keras
import numpy as np

import keras_bam

DETERMINISTIC_RUN = """
import sys
import keras_bam
keras_bam.backend.enable_op_determinism()
from tests.conftest import make_tiny_backbone
glue_dir, out, cache_dir = sys.argv[1:4]
common = dict(data_dir=glue_dir, tokenizer=keras_bam.load_tokenizer(),
              cache_dir=cache_dir, train_limit=16, eval_limit=8, verbose=0)
teacher = keras_bam.train_teacher(
    "rte", output_dir=out + "/teachers/rte", backbone=make_tiny_backbone(),
    recipe=keras_bam.FineTuningRecipe(epochs=1, batch_size=8), save_model=False,
    **common)
student = keras_bam.train_student(
    ["rte"], teacher_dir=out + "/teachers", backbone=make_tiny_backbone(),
    recipe=keras_bam.FineTuningRecipe.bam_multi_task(epochs=1, batch_size=8),
    **common)
state = keras_bam.backend.op_determinism()
assert state["op_determinism"], state
print("LOSS", teacher.history["loss"][-1], student.history["loss"][-1])
"""


def test_training_runs_under_op_determinism(glue_dir, encoded_cache, tmp_path):
    # TensorFlow raises for an op without a deterministic kernel; none may be
    # on a teacher's or student's path (embedding gradients, segment sums).
    # (The encoded splits come from the session's cache: the fresh process
    # does not tokenize.)
    import subprocess
    import sys

    from tests.conftest import ROOT

    cache_dir = encoded_cache(["rte"], 128, 16)
    done = subprocess.run(
        [sys.executable, "-c", DETERMINISTIC_RUN, glue_dir, str(tmp_path), cache_dir],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    losses = [float(x) for x in done.stdout.split("LOSS")[-1].split()]
    assert all(np.isfinite(losses))


def test_op_determinism_is_reported():
    report = keras_bam.backend.op_determinism()
    assert report["backend"] == keras.backend.backend()
    assert report["devices"] == "cpu" and report["bit_identical"]
