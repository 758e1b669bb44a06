"""Teacher predictions on disk: safe, documented, tied to the examples they describe."""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile

import numpy as np

from keras_bam.data.errors import GlueDataError
from keras_bam.data.examples import TaskExamples
from keras_bam.io_utils import atomic_savez
from keras_bam.tasks import get_task

FORMAT = "keras-bam/teacher-predictions"
FORMAT_VERSION = 1


@dataclasses.dataclass
class TeacherPredictions:
    """A teacher's outputs on one split, with a fingerprint per example.

    On disk this is an uncompressed `.npz` (numpy's zip of `.npy` arrays, read
    with `allow_pickle=False`) holding:

    - `outputs`: float32 `(n, k)`: logits for classification (`k` classes), or
      the model's regression output (the STS-B score / 5) with `k = 1`;
    - `fingerprints`: `S16` `(n,)`: the BLAKE2b-128 digest of the task name and the
      example's texts (`keras_bam.example_fingerprint`);
    - `metadata`: a JSON string: `format`, `format_version`, `task`, `split`,
      `num_examples`, `num_outputs`, `kind` (`"logits"` or `"regression"`), and any
      extra fields the writer adds (backbone, recipe, seed).

    Args:
        task: the task name.
        split: the split the predictions cover.
        outputs: the teacher outputs, in example order.
        fingerprints: the examples' fingerprints, in the same order.
        metadata: extra fields to record.

    Example:
    ```python
    predictions = keras_bam.TeacherPredictions.load("rte_train_teacher.npz")
    predictions.check_matches(train_examples)  # raises if they do not belong
    ```
    """

    task: str
    split: str
    outputs: np.ndarray
    fingerprints: np.ndarray
    metadata: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self.task = get_task(self.task).name
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
        return "regression" if get_task(self.task).is_regression else "logits"

    def save(self, path: str | os.PathLike) -> str:
        """Writes the file atomically and returns its path."""
        path = os.fspath(path)
        metadata = dict(self.metadata)
        metadata.update(
            format=FORMAT,
            format_version=FORMAT_VERSION,
            task=self.task,
            split=self.split,
            num_examples=len(self),
            num_outputs=int(self.outputs.shape[1]),
            kind=self.kind,
        )
        return atomic_savez(
            path,
            outputs=self.outputs,
            fingerprints=self.fingerprints,
            metadata=np.array(json.dumps(metadata, sort_keys=True)),
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> TeacherPredictions:
        """Reads a file written by `save`; never unpickles anything."""
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: no such teacher-predictions file.")
        try:
            with np.load(path, allow_pickle=False) as data:
                metadata = json.loads(str(data["metadata"]))
                outputs = data["outputs"]
                fingerprints = data["fingerprints"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
            raise GlueDataError(
                f"{path}: not a readable keras-bam teacher-predictions file ({e}).",
                path=path,
            ) from e
        if metadata.get("format") != FORMAT:
            raise GlueDataError(
                f"{path}: field 'format' is {metadata.get('format')!r}, expected "
                f"{FORMAT!r}.",
                path=path,
                field="format",
            )
        base = {
            "format",
            "format_version",
            "task",
            "split",
            "num_examples",
            "num_outputs",
            "kind",
        }
        return cls(
            task=metadata["task"],
            split=metadata["split"],
            outputs=outputs,
            fingerprints=fingerprints,
            metadata={k: v for k, v in metadata.items() if k not in base},
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
