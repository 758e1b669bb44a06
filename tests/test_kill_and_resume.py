"""A student killed with SIGKILL mid-epoch and started again with the same command
resumes from its last checkpoint and ends at the same step with a continuous λ."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import ROOT

# The training run: a tiny student on RTE + STS-B (96 examples, each once: 6 steps
# per epoch, 3 epochs), checkpointed every 2 steps. Each step is logged (global step,
# λ, process id) and slowed down so the test can kill it mid-epoch. The command
# runs it in a fresh process, its encoded splits read from the session's cache.
COMMAND = """
import sys
from tests.test_kill_and_resume import train
train(*sys.argv[1:])
"""


def train(glue_dir, out, delay, cache_dir, tokenizer=None):
    import keras

    import keras_bam
    from tests.conftest import make_tiny_backbone

    delay = float(delay)

    class StepLog(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
            record = {
                "step": step,
                "gold_weight": float(logs["gold_weight"]),
                "pid": os.getpid(),
            }
            with open(os.path.join(out, "steps.jsonl"), "a") as f:
                f.write(json.dumps(record) + "\n")
                f.flush()
                os.fsync(f.fileno())
            time.sleep(delay)

    run = keras_bam.train_student(
        ["rte", "stsb"],
        data_dir=glue_dir,
        cache_dir=cache_dir,
        backbone=make_tiny_backbone(),
        tokenizer=tokenizer or keras_bam.load_tokenizer(),
        recipe=keras_bam.FineTuningRecipe(epochs=3, batch_size=16, learning_rate=1e-3),
        teachers="uninformative",
        weighting="proportional",
        train_limit=32,
        eval_limit=8,
        checkpoint_dir=os.path.join(out, "checkpoint"),
        save_every=2,
        callbacks=[StepLog()],
        verbose=0,
    )
    np.savez(
        os.path.join(out, "final.npz"),
        *run.model.get_weights(),
        *[run.dev_outputs[t]["dev"] for t in ("rte", "stsb")],
    )
    with open(os.path.join(out, "done.json"), "w") as f:
        json.dump({"loss": run.history["loss"]}, f)


TOTAL_STEPS = 18


def read_steps(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.endswith("\n")]


def test_sigkill_mid_epoch_then_resume(glue_dir, tokenizer, encoded_cache, tmp_path):
    cache_dir = encoded_cache(["rte", "stsb"], 128, 32)
    command = [sys.executable, "-c", COMMAND, glue_dir, str(tmp_path), "0.3", cache_dir]
    log = tmp_path / "steps.jsonl"
    first = subprocess.Popen(command, cwd=ROOT)
    deadline = time.time() + 300
    while len(read_steps(log)) < 9:  # Into the second epoch (steps 7-12).
        assert first.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline, "the run did not reach step 9 in time"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed = read_steps(log)
    assert not (tmp_path / "done.json").exists()
    killed_at = killed[-1]["step"]
    assert 9 <= killed_at < 12

    second = subprocess.run(command, cwd=ROOT, timeout=300)
    assert second.returncode == 0
    steps = read_steps(log)
    resumed = [s for s in steps if s["pid"] == steps[-1]["pid"]]
    # It resumed from its last checkpoint (every 2 steps), at most 2 steps back,
    # and ran to the same end as an uninterrupted run.
    assert killed_at - 2 < resumed[0]["step"] <= killed_at + 1
    assert [s["step"] for s in resumed] == list(
        range(resumed[0]["step"], TOTAL_STEPS + 1)
    )
    # λ is continuous: at every step, the value of BAM's schedule for that step,
    # before and after the kill (steps redone after the checkpoint repeat it).
    for record in steps:
        assert record["gold_weight"] == pytest.approx(
            (record["step"] - 1) / TOTAL_STEPS, abs=1e-6
        ), record
    with open(tmp_path / "done.json") as f:
        assert len(json.load(f)["loss"]) >= 1
    # And it ends where an uninterrupted run in another process (this one) ends:
    # the same weights and dev outputs, bit for bit.
    whole = tmp_path / "uninterrupted"
    whole.mkdir()
    train(glue_dir, str(whole), 0, cache_dir, tokenizer)
    with np.load(tmp_path / "final.npz") as resumed_final:
        with np.load(whole / "final.npz") as whole_final:
            assert resumed_final.files == whole_final.files
            for key in whole_final.files:
                np.testing.assert_array_equal(resumed_final[key], whole_final[key])
