"""Data parallelism on 2 virtual CPU devices computes what one device does
(the runs: `distributed_runs`)."""

import os
import subprocess
import sys

import numpy as np
import pytest

import keras_bam
from tests.backend.matching import assert_student_matches
from tests.conftest import ROOT


def test_data_parallel_runs_on_two_devices(one_device_run, two_device_run):
    assert one_device_run["result"]["devices"] == 1
    assert two_device_run["result"]["devices"] == 2


@pytest.mark.parametrize("task", ["rte", "stsb"])
def test_teacher_matches_one_device(one_device_run, two_device_run, task):
    one, two = one_device_run["result"], two_device_run["result"]
    for key in ("loss", "dev"):
        np.testing.assert_allclose(
            two[f"teacher_{task}_{key}"],
            one[f"teacher_{task}_{key}"],
            rtol=1e-3,
            atol=1e-4,
            err_msg=key,
        )
    train = [
        keras_bam.data.TeacherPredictions.load(
            keras_bam.data.teacher_predictions_path(run["dir"] / "teachers", task)
        ).outputs
        for run in (one_device_run, two_device_run)
    ]
    np.testing.assert_allclose(train[1], train[0], rtol=1e-3, atol=1e-4)
    _assert_same_metrics(two[f"teacher_{task}_metrics"], one[f"teacher_{task}_metrics"])


def test_student_matches_one_device(one_device_run, two_device_run):
    one, two = one_device_run["result"], two_device_run["result"]
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
