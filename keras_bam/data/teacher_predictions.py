"""Teacher predictions on disk: safe, documented, tied to the examples they describe."""

from __future__ import annotations

import dataclasses
import json
import logging
import os

import numpy as np

from keras_bam.data.errors import GlueDataError
from keras_bam.data.examples import TaskExamples
from keras_bam.data.io_utils import NPZ_READ_ERRORS
from keras_bam.data.io_utils import arrays_sha256
from keras_bam.data.io_utils import atomic_savez
from keras_bam.tasks.registry import get_task
from keras_bam.tasks.registry import task_name

logger = logging.getLogger(__name__)

FORMAT = "keras-bam/teacher-predictions"
# Version 2 adds `sha256`; version 1 files (no checksum) are still read.
FORMAT_VERSION = 2
_BASE_FIELDS = (
    "format",
    "format_version",
    "task",
    "split",
    "num_examples",
    "num_outputs",
    "kind",
    "sha256",
)


@dataclasses.dataclass
class TeacherPredictions:
    """A teacher's outputs on one split, with a fingerprint per example.

    On disk this is an uncompressed `.npz` (numpy's zip of `.npy` arrays, read
    with `allow_pickle=False`) holding:

    - `outputs`: float32 `(n, k)`: logits for classification (`k` classes), or
      the model's regression output (the STS-B score / 5) with `k = 1`;
    - `fingerprints`: `S16` `(n,)`: the BLAKE2b-128 digest of the task name and the
      example's texts (`keras_bam.data.example_fingerprint`);
    - `metadata`: a JSON string: `format`, `format_version`, `task`, `split`,
      `num_examples`, `num_outputs`, `kind` (`"logits"` or `"regression"`),
      `sha256` (of `outputs` and `fingerprints`, see `arrays_sha256`), and any
      extra fields the writer adds (backbone, recipe, seed).

    `load` refuses, with a `GlueDataError` naming the file, a file that is empty,
    truncated or corrupt (its arrays no longer match the recorded SHA-256), or
    whose arrays disagree with its metadata or hold non-finite outputs.

    Args:
        task: the task name.
        split: the split the predictions cover.
        outputs: the teacher outputs, in example order.
        fingerprints: the examples' fingerprints, in the same order.
        metadata: extra fields to record.

    Example:
    ```python
    predictions = keras_bam.data.TeacherPredictions.load("rte_train_teacher.npz")
    predictions.check_matches(train_examples)  # raises if they do not belong
    ```
    """

    task: str
    split: str
    outputs: np.ndarray
    fingerprints: np.ndarray
    metadata: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self.task = task_name(self.task)
        self.outputs = np.asarray(self.outputs, dtype=np.float32)
        if self.outputs.ndim == 1:
            self.outputs = self.outputs[:, None]
        self.fingerprints = np.asarray(self.fingerprints, dtype="S16")
        if len(self.outputs) != len(self.fingerprints):
            raise ValueError(
                f"{len(self.outputs)} outputs but {len(self.fingerprints)} "
                "fingerprints."
            )

    @classmethod
    def from_outputs(cls, examples: TaskExamples, outputs, **metadata):
        """Predictions for `examples`, fingerprinted from their texts."""
        return cls(
            task=examples.task.name,
            split=examples.split,
            outputs=outputs,
            fingerprints=examples.fingerprints(),
            metadata=metadata,
        )

    def __len__(self) -> int:
        return len(self.outputs)

    @property
    def kind(self) -> str:
        try:
            task = get_task(self.task)
        except ValueError:  # A task of your own this process was not given.
            return self.metadata["kind"]
        return "regression" if task.is_regression else "logits"

    def save(self, path: str | os.PathLike) -> str:
        """Writes the file atomically and returns its path."""
        path = os.fspath(path)
        arrays = {"outputs": self.outputs, "fingerprints": self.fingerprints}
        metadata = dict(self.metadata)
        metadata.update(
            format=FORMAT,
            format_version=FORMAT_VERSION,
            task=self.task,
            split=self.split,
            num_examples=len(self),
            num_outputs=int(self.outputs.shape[1]),
            kind=self.kind,
            sha256=arrays_sha256(arrays),
        )
        return atomic_savez(
            path, metadata=np.array(json.dumps(metadata, sort_keys=True)), **arrays
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> TeacherPredictions:
        """Reads a file written by `save`; never unpickles anything.

        Raises:
            FileNotFoundError: there is no such file.
            GlueDataError: the file is empty, unreadable, truncated or corrupt, or
                not a consistent keras-bam teacher-predictions file.
        """
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: no such teacher-predictions file.")
        if os.path.getsize(path) == 0:
            raise GlueDataError(
                f"{path}: the teacher-predictions file is empty (0 bytes); write it "
                "again with train_teacher.",
                path=path,
            )
        try:
            with np.load(path, allow_pickle=False) as data:
                metadata = json.loads(str(data["metadata"]))
                arrays = {
                    "outputs": data["outputs"],
                    "fingerprints": data["fingerprints"],
                }
        except NPZ_READ_ERRORS as e:
            raise GlueDataError(
                f"{path}: not a readable keras-bam teacher-predictions file: it is "
                f"truncated, corrupt or of another kind ({type(e).__name__}: {e}).",
                path=path,
            ) from e
        if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
            found = metadata.get("format") if isinstance(metadata, dict) else metadata
            raise GlueDataError(
                f"{path}: field 'format' is {found!r}, expected {FORMAT!r}.",
                path=path,
                field="format",
            )
        _check_checksum(path, metadata, arrays)
        _check_arrays(path, metadata, arrays)
        return cls(
            task=metadata["task"],
            split=metadata["split"],
            outputs=arrays["outputs"],
            fingerprints=arrays["fingerprints"],
            metadata={k: v for k, v in metadata.items() if k not in _BASE_FIELDS},
        )

    def check_matches(self, examples: TaskExamples, source: str | None = None):
        """Raises `GlueDataError` unless these predictions belong to `examples`.

        Checks the task, the number of examples, the number of outputs the task
        needs, and every example's fingerprint, in order.

        Args:
            examples: the examples a student is trained on.
            source: the predictions' file, named in error messages.
        """
        where = source or f"teacher predictions for {self.task}/{self.split}"
        task = examples.task
        if self.task != task.name:
            raise GlueDataError(
                f"{where}: field 'task' is '{self.task}', but the examples are "
                f"{task.display_name}.",
                path=source,
                field="task",
            )
        if self.outputs.shape[1] != task.num_outputs:
            raise GlueDataError(
                f"{where}: field 'outputs' has {self.outputs.shape[1]} values per "
                f"example; {task.display_name} needs {task.num_outputs}.",
                path=source,
                field="outputs",
            )
        if len(self) != len(examples):
            raise GlueDataError(
                f"{where}: {len(self)} predictions for {len(examples)} "
                f"{task.display_name} {examples.split} examples; they were made for "
                "other data.",
                path=source,
                field="fingerprints",
            )
        mismatched = np.flatnonzero(self.fingerprints != examples.fingerprints())
        if len(mismatched):
            i = int(mismatched[0])
            line = None if examples.lines is None else int(examples.lines[i])
            at = f"{examples.source}:{line}" if line else f"example {i}"
            raise GlueDataError(
                f"{where}: field 'fingerprints' does not match the data for "
                f"{len(mismatched)} of {len(examples)} examples (first: example {i}, "
                f"{at}); these predictions were made for other data or another "
                "order.",
                path=source,
                line=line,
                field="fingerprints",
            )


def _check_checksum(path: str, metadata: dict, arrays: dict):
    """Raises unless the arrays match the SHA-256 recorded in the metadata."""
    recorded = metadata.get("sha256")
    if recorded is None:
        version = metadata.get("format_version")
        if isinstance(version, int) and version < 2:
            logger.info(
                "%s: format version %s has no checksum to verify.", path, version
            )
            return
        raise GlueDataError(
            f"{path}: field 'sha256' is missing; the file cannot be verified.",
            path=path,
            field="sha256",
        )
    actual = arrays_sha256(arrays)
    if actual != recorded:
        raise GlueDataError(
            f"{path}: field 'sha256': the file is corrupt: its arrays' SHA-256 is "
            f"{actual[:16]}..., but {str(recorded)[:16]}... was recorded when it was "
            "written. Write it again with train_teacher.",
            path=path,
            field="sha256",
        )


def _check_arrays(path: str, metadata: dict, arrays: dict):
    """Raises unless the arrays have the shapes and values the metadata describes."""
    for field in ("task", "split", "num_examples", "num_outputs"):
        if field not in metadata:
            raise GlueDataError(
                f"{path}: field '{field}' is missing from the metadata.",
                path=path,
                field=field,
            )
    task = metadata["task"]
    if not isinstance(task, str) or not task:
        raise GlueDataError(
            f"{path}: field 'task' is {task!r}, not a task name.",
            path=path,
            field="task",
        )
    outputs, fingerprints = arrays["outputs"], arrays["fingerprints"]
    n, k = metadata["num_examples"], metadata["num_outputs"]
    if outputs.ndim not in (1, 2) or outputs.dtype.kind != "f":
        raise GlueDataError(
            f"{path}: field 'outputs' is a {outputs.ndim}-D {outputs.dtype} array; "
            "expected 2-D floats.",
            path=path,
            field="outputs",
        )
    width = 1 if outputs.ndim == 1 else outputs.shape[1]
    if len(outputs) != n or width != k:
        raise GlueDataError(
            f"{path}: field 'outputs' has shape {outputs.shape}, but the metadata "
            f"says {n} examples of {k} outputs ({task}).",
            path=path,
            field="outputs",
        )
    if fingerprints.shape != (n,) or fingerprints.dtype.kind != "S":
        raise GlueDataError(
            f"{path}: field 'fingerprints' has shape {fingerprints.shape} and dtype "
            f"{fingerprints.dtype}; expected ({n},) byte strings.",
            path=path,
            field="fingerprints",
        )
    bad = np.flatnonzero(~np.isfinite(outputs).reshape(len(outputs), -1).all(axis=1))
    if len(bad):
        raise GlueDataError(
            f"{path}: field 'outputs' is not finite (NaN or infinite) for {len(bad)} "
            f"of {n} examples (first: example {int(bad[0])}); the teacher diverged.",
            path=path,
            field="outputs",
        )


def teacher_predictions_file(task, split: str = "train") -> str:
    """The file name of a task's teacher predictions on a split,
    `<task>_<split>_teacher.npz` (`train_swapped` for the swapped pair order).

    Example:
    ```python
    keras_bam.data.teacher_predictions.teacher_predictions_file("rte")
    # 'rte_train_teacher.npz'
    ```
    """
    return f"{task_name(task)}_{split}_teacher.npz"


def teacher_predictions_path(teacher_dir, task, split: str = "train") -> str:
    """Where `train_teacher(..., output_dir=<teacher_dir>/<task>)` (and the CLI)
    write a task's teacher predictions: `<teacher_dir>/<task>/<file>`.

    Example:
    ```python
    keras_bam.data.teacher_predictions_path("runs/teachers", "rte")
    # 'runs/teachers/rte/rte_train_teacher.npz'
    ```
    """
    return os.path.join(
        os.fspath(teacher_dir),
        task_name(task),
        teacher_predictions_file(task, split),
    )
