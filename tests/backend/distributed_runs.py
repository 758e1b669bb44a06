"""One run, three layouts: one process on one device, one process on two
devices, two processes. The data-parallel tests compare the last two with the
first, so each layout runs once per session (fixtures in `conftest.py`).

The one-device run is the test process's own (its backend has one device);
the others are fresh processes, whose device count is set, or cluster joined,
before the backend starts, and which read their encoded splits from the
session's cache (`encoded_cache`). The one-device run trains an RTE and an
STS-B teacher; every layout's BAM student learns from those teachers' files
(so all students start from the same targets). The two-device run trains
both teachers too, the two-process run RTE's (every process computes its
training-set predictions, process 0 writes them). 36 training examples per
task and batch 16, so batches of odd size are split too; dropout is off, so
the layouts differ only by the order of floating-point sums. The two-device
process also takes micro-batched student steps under data parallelism, which
`test_micro_batching` compares with its whole-batch steps on one device.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np

from tests.conftest import ROOT

# A fresh process of a layout: its devices are set, or its cluster joined (in
# `run`), before the backend starts.
LAUNCHER = r"""
import os, sys
layout = sys.argv[3]
if layout == "devices" and os.environ["KERAS_BACKEND"] == "jax":
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    )
if layout == "devices" and os.environ["KERAS_BACKEND"] == "tensorflow":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
from tests.backend.distributed_runs import run
run(*sys.argv[1:])
"""


def run(
    glue_dir,
    out,
    layout,
    teacher_dir="",
    workers="",
    index="",
    cache_dir="",
    tokenizer=None,
):
    """One process's part of `layout`: its teachers, its student, and (on two
    devices) the micro-batched steps; writes `result_<index>.json` and
    `student_weights_<index>.npz` into `out`."""
    import keras
    import keras_hub

    import keras_bam

    if layout == "cluster":
        keras_bam.backend.initialize_cluster(workers.split(","), int(index))

    def backbone():  # A fresh one per model: a run trains its backbone in place.
        keras.utils.set_random_seed(0)
        return keras_hub.models.BertBackbone(
            vocabulary_size=30522,
            num_layers=2,
            num_heads=2,
            hidden_dim=16,
            intermediate_dim=32,
            max_sequence_length=64,
            dropout=0.0,
        )

    settings = dict(
        epochs=2,
        batch_size=16,
        learning_rate=1e-3,
        dropout=0.0,
        max_length=64,
        distribution="none" if layout == "one" else "data_parallel",
    )
    tokenizer = tokenizer or keras_bam.load_tokenizer()
    common = dict(
        data_dir=glue_dir,
        tokenizer=tokenizer,
        cache_dir=cache_dir or None,
        train_limit=36,
        eval_limit=20,
        verbose=0,
    )
    result = {
        "processes": keras_bam.backend.process_count(),
        "devices": len(keras_bam.backend.data_parallel_devices()),
    }
    for task in ("rte",) if layout == "cluster" else ("rte", "stsb"):
        teacher = keras_bam.train_teacher(
            task,
            recipe=keras_bam.FineTuningRecipe(**settings),
            output_dir=os.path.join(out, "teachers", task),
            backbone=backbone(),
            save_model=False,
            **common,
        )
        result[f"teacher_{task}_loss"] = teacher.history["loss"]
        result[f"teacher_{task}_dev"] = teacher.dev_outputs["dev"].tolist()
        result[f"teacher_{task}_metrics"] = teacher.dev_metrics["dev"]

    steps = []

    class StepLog(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            steps.append({k: float(v) for k, v in logs.items()})

    student = keras_bam.train_student(
        ["rte", "stsb"],
        teacher_dir=teacher_dir or os.path.join(out, "teachers"),
        recipe=keras_bam.FineTuningRecipe.bam_multi_task(**settings),
        backbone=backbone(),
        callbacks=[StepLog()],
        weighting="proportional",
        checkpoint_dir=os.path.join(out, "student"),
        save_every=2,
        **common,
    )
    result["student_history"] = student.history
    result["student_steps"] = steps
    result["student_dev"] = {
        t: o["dev"].tolist() for t, o in student.dev_outputs.items()
    }
    result["student_metrics"] = student.dev_metrics
    np.savez(
        os.path.join(out, f"student_weights_{index or 0}.npz"),
        *student.model.get_weights(),
    )

    if layout == "devices":  # Micro-batches on two devices (`test_micro_batching`
        # compares them with its whole batches on one device).
        from tests.backend.test_micro_batching import _train
        from tests.conftest import encoded_train_sample

        encoded = encoded_train_sample(
            glue_dir, tokenizer, ["mrpc", "stsb"], 30, cache_dir or None
        )
        with keras_bam.backend.distribution_scope("data_parallel"):
            sliced_steps, sliced = _train(encoded, 3, True, "sum")
        result["micro_batching"] = {"sliced": [s["loss"] for s in sliced_steps]}
        np.savez(os.path.join(out, "micro_batched_weights.npz"), *sliced)
    with open(os.path.join(out, f"result_{index or 0}.json"), "w") as f:
        json.dump(result, f)


def _free_ports(count: int) -> list:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _launch(glue_dir, out, layout, teacher_dir="", workers="", index="", cache_dir=""):
    command = [sys.executable, "-c", LAUNCHER, glue_dir, str(out), layout]
    return subprocess.Popen(
        command + [str(teacher_dir), workers, str(index), cache_dir],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )


def _wait(processes, timeout=600):
    try:
        for process in processes:
            assert process.wait(timeout=timeout) == 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()


def _results(out, count: int) -> list:
    """Each process's results, its student's weights under `student_weights`."""
    results = []
    for index in range(count):
        with open(out / f"result_{index}.json") as f:
            result = json.load(f)
        with np.load(out / f"student_weights_{index}.npz") as weights:
            result["student_weights"] = [weights[k] for k in weights.files]
        results.append(result)
    return results


def run_layout(
    glue_dir, out, layout: str, teacher_dir="", cache_dir="", tokenizer=None
) -> list:
    """Runs `layout` (`"one"`, `"devices"` or `"cluster"`) into `out`; returns
    each of its processes' results. The one-device run is this process's (its
    backend sees one device); the others are fresh processes, reading their
    encoded splits from `cache_dir`."""
    if layout == "one":
        run(
            glue_dir,
            str(out),
            layout,
            str(teacher_dir),
            cache_dir=cache_dir,
            tokenizer=tokenizer,
        )
        return _results(out, 1)
    if layout == "cluster":
        workers = ",".join(f"localhost:{p}" for p in _free_ports(2))
        _wait(
            [
                _launch(glue_dir, out, layout, teacher_dir, workers, index, cache_dir)
                for index in (0, 1)
            ]
        )
        return _results(out, 2)
    _wait([_launch(glue_dir, out, layout, teacher_dir, cache_dir=cache_dir)])
    return _results(out, 1)
