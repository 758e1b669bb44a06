"""Whole-run checkpoints: weights, optimizer, λ step and data position."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time

import keras
import numpy as np

from keras_bam.backend.distribution import is_chief

CHECKPOINT_FORMAT = 1
WEIGHTS_FILE = "checkpoint.weights.h5"
STATE_FILE = "checkpoint.json"


def _file_sha256(path: str) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _random_state_variables(model: keras.Model) -> list:
    """The model's random-generator states (dropout's), which weight files omit."""
    return [v for v in model.non_trainable_variables if v.path.endswith("_state")]


@keras.saving.register_keras_serializable(package="keras_bam")
class TrainingCheckpoint(keras.callbacks.Callback):
    """Saves everything a training run needs to resume exactly where it was.

    At the end of every epoch, and every `save_every` steps, this writes the
    model's and optimizer's variables (so the optimizer's step count, the
    learning-rate schedule's position and the teacher-annealing step, which are
    variables, come back with them) and a JSON state with the data position (the
    epoch and the number of its batches already trained on) and the dropout
    random generators' states, which Keras's weight files leave out. Keras's
    `BackupAndRestore` restarts an interrupted epoch from its first batch; this
    resumes at the next batch, so a resumed run sees exactly the batches, λ and
    learning rates that an uninterrupted one would.

    Files are replaced atomically (written beside, then renamed), the weights
    file's SHA-256 is stored in the state and checked on restore, and the state
    holds `run_config`: a restore refuses a checkpoint written by a run with a
    different configuration.

    `train_student` uses this through its `checkpoint_dir` argument; used by hand,
    call `restore` before `fit` and feed `fit` the remaining batches.

    Args:
        directory: the folder for this run's checkpoint (one run per folder).
        steps_per_epoch: batches per epoch.
        save_every: also save every this many steps (`None`: at epoch ends only).
        run_config: a JSON-serializable description of the run; resuming needs an
            equal one.

    Example:
    ```python
    checkpoint = keras_bam.training.TrainingCheckpoint("runs/ckpt", len(batches), 100)
    epoch, batch = checkpoint.restore(model) or (0, 0)
    ```
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        steps_per_epoch: int,
        save_every: int | None = None,
        run_config: dict | None = None,
    ):
        super().__init__()
        if steps_per_epoch < 1:
            raise ValueError(
                f"steps_per_epoch must be positive, got {steps_per_epoch}."
            )
        if save_every is not None and save_every < 1:
            raise ValueError(f"save_every must be positive, got {save_every}.")
        self.directory = os.fspath(directory)
        self.steps_per_epoch = int(steps_per_epoch)
        self.save_every = save_every
        self.run_config = json.loads(json.dumps(run_config or {}))
        self.epoch = 0
        self.batch = 0
        self.saves = 0

    @property
    def weights_path(self) -> str:
        return os.path.join(self.directory, WEIGHTS_FILE)

    @property
    def state_path(self) -> str:
        return os.path.join(self.directory, STATE_FILE)

    def start_at(self, epoch: int, batch: int = 0):
        """Sets the data position that the next trained batch has."""
        self.epoch, self.batch = int(epoch), int(batch)

    def on_train_batch_end(self, batch, logs=None):
        self.batch += 1
        if self.batch >= self.steps_per_epoch:
            self.epoch, self.batch = self.epoch + 1, 0
            self.save()
        elif self.save_every and self.global_step() % self.save_every == 0:
            self.save()

    def global_step(self) -> int:
        return self.epoch * self.steps_per_epoch + self.batch

    def save(self):
        """Writes the weights and the state (epoch, batch, step) now."""
        if is_chief():
            self._write(self.directory)
        else:
            # In a cluster every process holds the same weights and process 0
            # writes them; the others read them alike (reading a variable can be
            # a collective operation that all must join) into a scratch folder.
            with tempfile.TemporaryDirectory() as scratch:
                self._write(scratch)
        self.saves += 1

    def _write(self, directory: str):
        model = self.model  # On JAX, this syncs the trainer's state into the model.
        os.makedirs(directory, exist_ok=True)
        partial = os.path.join(directory, "partial.weights.h5")
        model.save_weights(partial, overwrite=True)
        state = {
            "format": CHECKPOINT_FORMAT,
            "epoch": self.epoch,
            "batch": self.batch,
            "step": self.global_step(),
            "optimizer_iterations": int(
                keras.ops.convert_to_numpy(model.optimizer.iterations)
            ),
            "weights_sha256": _file_sha256(partial),
            # In model order: variable paths carry process-dependent name counters.
            "random_states": [
                keras.ops.convert_to_numpy(v).tolist()
                for v in _random_state_variables(model)
            ],
            "run_config": self.run_config,
            "time": time.time(),
        }
        os.replace(partial, os.path.join(directory, WEIGHTS_FILE))
        state_path = os.path.join(directory, STATE_FILE)
        with open(state_path + ".partial", "w") as f:
            json.dump(state, f, indent=2)
        os.replace(state_path + ".partial", state_path)

    def read_state(self) -> dict | None:
        """The saved state, or `None` when there is no checkpoint."""
        if not os.path.exists(self.state_path):
            return None
        try:
            with open(self.state_path) as f:
                state = json.load(f)
        except (OSError, ValueError) as e:
            raise ValueError(
                f"The checkpoint state {self.state_path} cannot be read ({e}); "
                "delete the folder to start over."
            ) from e
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(
                f"The checkpoint {self.state_path} has format {state.get('format')}, "
                f"this keras-bam writes {CHECKPOINT_FORMAT}; delete the folder to "
                "start over."
            )
        if state["run_config"] != self.run_config:
            differs = sorted(
                key
                for key in set(state["run_config"]) | set(self.run_config)
                if state["run_config"].get(key) != self.run_config.get(key)
            )
            raise ValueError(
                f"The checkpoint in {self.directory} was written by a run with a "
                f"different configuration (differs in: {', '.join(differs)}); "
                "use another folder or delete it to start over."
            )
        return state

    def restore(self, model: keras.Model) -> tuple | None:
        """Loads the checkpoint into `model` (compiled, with its optimizer).

        Returns:
            `(epoch, batch)`, the position of the next batch to train on, or
            `None` when the folder holds no checkpoint.
        """
        state = self.read_state()
        if state is None:
            return None
        if not os.path.exists(self.weights_path):
            raise ValueError(
                f"The checkpoint {self.state_path} names weights that are missing "
                f"({self.weights_path}); delete the folder to start over."
            )
        digest = _file_sha256(self.weights_path)
        if digest != state["weights_sha256"]:
            raise ValueError(
                f"The checkpoint weights {self.weights_path} are corrupt (SHA-256 "
                f"{digest[:12]}..., expected {state['weights_sha256'][:12]}...); "
                "delete the folder to start over."
            )
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(self.weights_path)
        variables = _random_state_variables(model)
        if len(variables) != len(state["random_states"]):
            raise ValueError(
                f"The checkpoint {self.state_path} holds {len(state['random_states'])} "
                f"random-generator states, the model has {len(variables)}: it was "
                "written for another model."
            )
        for variable, value in zip(variables, state["random_states"]):
            variable.assign(np.asarray(value, dtype=variable.dtype))
        self.start_at(state["epoch"], state["batch"])
        return state["epoch"], state["batch"]

    def get_config(self):
        return {
            "directory": self.directory,
            "steps_per_epoch": self.steps_per_epoch,
            "save_every": self.save_every,
            "run_config": self.run_config,
        }
