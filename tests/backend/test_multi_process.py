"""Two processes on localhost train as one: the same numbers as one process.

Each run is a fresh process (a cluster is joined at program start): first one
process alone, then two worker processes joined by `initialize_cluster` over
loopback, each feeding half of every batch. Both train an RTE teacher (whose
training-set predictions every process computes and process 0 writes), then a
BAM student on RTE and STS-B from the one-process run's teachers, with
checkpoints; dropout is off, so the runs differ only by the order of
floating-point sums.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests.backend.matching import assert_student_matches
from tests.conftest import ROOT

SCRIPT = r"""
import json, os, sys
glue_dir, out, teacher_dir, workers, index = sys.argv[1:6]
import keras_bam
if workers:
    keras_bam.backend.initialize_cluster(workers.split(","), int(index))
import keras, keras_hub, numpy as np

def make_tiny_backbone(seed):  # Without dropout: each process would draw its own.
    keras.utils.set_random_seed(seed)
    return keras_hub.models.BertBackbone(
        vocabulary_size=30522, num_layers=2, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=128, dropout=0.0)

distribution = "data_parallel" if workers else "none"
common = dict(data_dir=glue_dir, tokenizer=keras_bam.load_tokenizer(),
              train_limit=36, eval_limit=20, verbose=0)

# The one-process run trains both students' teachers; the cluster trains RTE's.
teachers = {}
for task in ("rte",) if workers else ("rte", "stsb"):
    teachers[task] = keras_bam.train_teacher(
        task, output_dir=os.path.join(out, "teachers", task),
        backbone=make_tiny_backbone(seed=0),
        recipe=keras_bam.FineTuningRecipe(
            epochs=1, batch_size=16, learning_rate=1e-3, dropout=0.0,
            max_length=64, distribution=distribution),
        save_model=False, **common)

class StepLog(keras.callbacks.Callback):
    steps = []
    def on_train_batch_end(self, batch, logs=None):
        StepLog.steps.append({k: float(v) for k, v in logs.items()})

student = keras_bam.train_student(
    ["rte", "stsb"], teacher_dir=teacher_dir or os.path.join(out, "teachers"),
    backbone=make_tiny_backbone(seed=0), callbacks=[StepLog()], save_every=2,
    checkpoint_dir=os.path.join(out, "student"),
    recipe=keras_bam.FineTuningRecipe.bam_multi_task(
        epochs=2, batch_size=16, learning_rate=1e-3, dropout=0.0,
        max_length=64, distribution=distribution),
    **common)
result = {
    "processes": keras_bam.backend.process_count(),
    "teacher_loss": teachers["rte"].history["loss"],
    "teacher_dev": teachers["rte"].dev_outputs["dev"].tolist(),
    "student_steps": StepLog.steps,
    "student_dev": {t: o["dev"].tolist() for t, o in student.dev_outputs.items()},
    "student_weights": [w.tolist() for w in student.model.get_weights()],
}
with open(os.path.join(out, f"result_{index or 0}.json"), "w") as f:
    json.dump(result, f)
"""


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _launch(glue_dir, out, teacher_dir="", workers="", index=""):
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, glue_dir, str(out), str(teacher_dir)]
        + [workers, str(index)],
        cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )


def _wait(processes, timeout=600):
    try:
        for process in processes:
            assert process.wait(timeout=timeout) == 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()


@pytest.fixture(scope="module")
def runs(glue_dir, tmp_path_factory):
    base = tmp_path_factory.mktemp("multi_process")
    one = base / "one"
    _wait([_launch(glue_dir, one)])
    workers = ",".join(f"localhost:{p}" for p in _free_ports(2))
    two = base / "two"
    _wait(
        [_launch(glue_dir, two, one / "teachers", workers, index) for index in (0, 1)]
    )
    results = {}
    for name, directory, count in (("one", one, 1), ("two", two, 2)):
        results[name] = []
        for index in range(count):
            with open(directory / f"result_{index}.json") as f:
                results[name].append(json.load(f))
    return {"base": base, **results}


def test_both_processes_joined_and_agree(runs):
    assert [r["processes"] for r in runs["two"]] == [2, 2]
    first, second = runs["two"]
    np.testing.assert_array_equal(
        np.concatenate([np.ravel(w) for w in first["student_weights"]]),
        np.concatenate([np.ravel(w) for w in second["student_weights"]]),
    )
    assert first["student_dev"] == second["student_dev"]


def test_teacher_matches_one_process(runs):
    # The tolerances of the one-process data-parallel test (test_distribution).
    one, two = runs["one"][0], runs["two"][0]
    for key in ("teacher_loss", "teacher_dev"):
        np.testing.assert_allclose(two[key], one[key], rtol=1e-3, atol=1e-4)
    path = "teachers/rte/rte_train_teacher.npz"
    with np.load(runs["base"] / "one" / path) as a:
        with np.load(runs["base"] / "two" / path) as b:
            np.testing.assert_allclose(b["outputs"], a["outputs"], rtol=1e-3, atol=1e-4)


def test_student_matches_one_process(runs):
    one, two = runs["one"][0], runs["two"][0]
    assert_student_matches(one, two)


def test_one_process_writes_the_checkpoint_all_can_read(runs):
    directory = runs["base"] / "two" / "student"
    with open(directory / "checkpoint.json") as f:
        state = json.load(f)
    steps = len(runs["two"][0]["student_steps"])
    assert state["step"] == steps
    assert not [n for n in os.listdir(directory) if "partial" in n]
