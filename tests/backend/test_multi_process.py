"""Two processes on localhost train as one: the same numbers as one process.

The runs (`distributed_runs`): one process alone, then two worker processes
joined by `initialize_cluster` over loopback, each feeding half of every
batch. Both train an RTE teacher (whose training-set predictions every process
computes and process 0 writes), then a BAM student on RTE and STS-B from the
one-process run's teachers, with checkpoints; dropout is off, so the runs
differ only by the order of floating-point sums.
"""

import json
import os

import numpy as np

from tests.backend.matching import assert_student_matches


def test_both_processes_joined_and_agree(two_process_run):
    first, second = two_process_run["results"]
    assert [r["processes"] for r in (first, second)] == [2, 2]
    np.testing.assert_array_equal(
        np.concatenate([np.ravel(w) for w in first["student_weights"]]),
        np.concatenate([np.ravel(w) for w in second["student_weights"]]),
    )
    assert first["student_dev"] == second["student_dev"]


def test_teacher_matches_one_process(one_device_run, two_process_run):
    # The tolerances of the one-process data-parallel test (test_data_parallel).
    one, two = one_device_run["result"], two_process_run["results"][0]
    for key in ("teacher_rte_loss", "teacher_rte_dev"):
        np.testing.assert_allclose(two[key], one[key], rtol=1e-3, atol=1e-4)
    path = "teachers/rte/rte_train_teacher.npz"
    with np.load(one_device_run["dir"] / path) as a:
        with np.load(two_process_run["dir"] / path) as b:
            np.testing.assert_allclose(b["outputs"], a["outputs"], rtol=1e-3, atol=1e-4)


def test_student_matches_one_process(one_device_run, two_process_run):
    assert_student_matches(one_device_run["result"], two_process_run["results"][0])


def test_one_process_writes_the_checkpoint_all_can_read(two_process_run):
    directory = two_process_run["dir"] / "student"
    with open(directory / "checkpoint.json") as f:
        state = json.load(f)
    steps = len(two_process_run["results"][0]["student_steps"])
    assert state["step"] == steps
    assert not [n for n in os.listdir(directory) if "partial" in n]
