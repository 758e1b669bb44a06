"""Data parallelism on 2 virtual CPU devices computes what one device does."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.backend.matching import assert_student_matches
from tests.conftest import ROOT

# Runs in a fresh process: the device count must be set before the backend
# starts. Trains a teacher per task (rte, stsb), then a BAM student on their
# predictions (those of the one-device run, so that both students start from
# the same targets); 36 training examples per task and batch 16, so that
# batches of odd size are split over the devices too.
SCRIPT = r"""
import json, os, sys
glue_dir, out, distribution, student_teachers = sys.argv[1:5]
backend = os.environ["KERAS_BACKEND"]
if distribution == "data_parallel" and backend == "jax":
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    )
if distribution == "data_parallel" and backend == "tensorflow":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
import keras
import keras_hub
import numpy as np
import keras_bam

def backbone():  # A fresh one for each run: a run trains its backbone in place.
    keras.utils.set_random_seed(0)
    return keras_hub.models.BertBackbone(
        vocabulary_size=30522, num_layers=2, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=64, dropout=0.0,
    )
tokenizer = keras_bam.load_tokenizer()
recipe = keras_bam.FineTuningRecipe(
    epochs=2, batch_size=16, learning_rate=1e-3, dropout=0.0, max_length=64,
    distribution=distribution,
)
common = dict(data_dir=glue_dir, tokenizer=tokenizer,
              train_limit=36, eval_limit=20, verbose=0)
result = {"devices": len(keras_bam.backend.data_parallel_devices())}
for task in ("rte", "stsb"):
    run = keras_bam.train_teacher(
        task, recipe=recipe, output_dir=os.path.join(out, "teachers", task),
        backbone=backbone(), save_model=False, **common)
    result[f"teacher_{task}_loss"] = run.history["loss"]
    result[f"teacher_{task}_dev"] = run.dev_outputs["dev"].tolist()
    result[f"teacher_{task}_metrics"] = run.dev_metrics["dev"]
    result[f"teacher_{task}_train"] = keras_bam.data.TeacherPredictions.load(
        run.predictions_paths["train"]).outputs.tolist()

class StepLog(keras.callbacks.Callback):
    steps = []
    def on_train_batch_end(self, batch, logs=None):
        StepLog.steps.append({k: float(v) for k, v in logs.items()})

student = keras_bam.train_student(
    ["rte", "stsb"], teacher_dir=student_teachers,
    recipe=keras_bam.FineTuningRecipe.bam_multi_task(
        epochs=2, batch_size=16, learning_rate=1e-3, dropout=0.0, max_length=64,
        distribution=distribution),
    backbone=backbone(), callbacks=[StepLog()], weighting="proportional", **common)
result["student_history"] = student.history
result["student_steps"] = StepLog.steps
result["student_dev"] = {t: o["dev"].tolist() for t, o in student.dev_outputs.items()}
result["student_metrics"] = student.dev_metrics
result["student_weights"] = [
    float(np.abs(w).sum()) for w in student.model.get_weights()]
with open(os.path.join(out, "result.json"), "w") as f:
    json.dump(result, f)
"""


def _run(glue_dir, directory, distribution, student_teachers):
    os.makedirs(directory)
    subprocess.run(
        [
            sys.executable,
            "-c",
            SCRIPT,
            glue_dir,
            str(directory),
            distribution,
            str(student_teachers),
        ],
        cwd=ROOT,
        check=True,
        timeout=600,
    )
    with open(os.path.join(directory, "result.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def runs(glue_dir, tmp_path_factory):
    base = tmp_path_factory.mktemp("distribution")
    teachers = base / "none" / "teachers"
    return {
        name: _run(glue_dir, base / name, name, teachers)
        for name in ("none", "data_parallel")
    }


def test_data_parallel_runs_on_two_devices(runs):
    assert runs["none"]["devices"] == 1
    assert runs["data_parallel"]["devices"] == 2


@pytest.mark.parametrize("task", ["rte", "stsb"])
def test_teacher_matches_one_device(runs, task):
    one, two = runs["none"], runs["data_parallel"]
    for key in ("loss", "dev", "train"):
        np.testing.assert_allclose(
            two[f"teacher_{task}_{key}"],
            one[f"teacher_{task}_{key}"],
            rtol=1e-3,
            atol=1e-4,
            err_msg=key,
        )
    _assert_same_metrics(two[f"teacher_{task}_metrics"], one[f"teacher_{task}_metrics"])


def test_student_matches_one_device(runs):
    one, two = runs["none"], runs["data_parallel"]
    assert_student_matches(one, two)
    _assert_same_metrics(two["student_metrics"], one["student_metrics"])


def _assert_same_metrics(two, one):
    """GLUE metrics on 20 dev examples: equal up to one example's flip (0.05)
    for accuracy and F1, 1e-2 for Pearson. Spearman gets 0.05 too: it ranks the
    scores, and the tiny student's 20 scores are so close together that
    differences below the outputs' own 1e-3 tolerance (checked above) reorder
    near-ties (measured: 0.017 on JAX)."""
    assert two.keys() == one.keys()
    for key, value in one.items():
        if isinstance(value, dict):
            _assert_same_metrics(two[key], value)
        else:
            tolerance = 1e-2 if key == "pearson" else 0.051
            assert two[key] == pytest.approx(value, abs=tolerance), key


DROPOUT_SCRIPT = r"""
import os
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
)
import jax
import keras
import numpy as np
from keras_bam.backend import kernels

assert len(jax.devices()) == 2
mesh = jax.sharding.Mesh(np.array(jax.devices()), ("batch",))
batch_sharded = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))


def masks(x):
    generator = keras.random.SeedGenerator(11)
    return [kernels.dropout(x, 0.3, generator) != 0 for _ in range(3)]


x = np.ones((6, 5, 8), "float32")
one = jax.jit(masks)(x)
two = jax.jit(masks)(jax.device_put(x, batch_sharded))
assert two[0].sharding.spec == jax.sharding.PartitionSpec("batch"), two[0].sharding
for a, b in zip(one, two):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
"""


def test_dropout_masks_on_two_devices_match_one_device():
    """Under data parallelism (the batch sharded over devices) every replica
    draws its part of the one-device mask, not a copy of another's."""
    if os.environ.get("KERAS_BACKEND") != "jax":
        pytest.skip("TensorFlow uses Keras's own dropout.")
    subprocess.run(
        [sys.executable, "-c", DROPOUT_SCRIPT], cwd=ROOT, check=True, timeout=300
    )
