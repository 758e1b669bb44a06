"""`TaskExamples`: the examples of one split of one task, whatever their source."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from keras_bam.tasks.registry import get_task
from keras_bam.tasks.task import Task

FINGERPRINT_BYTES = 16


def example_fingerprint(task_name: str, texts: tuple) -> bytes:
    """A 16-byte BLAKE2b digest of a task name and an example's texts.

    Teacher predictions carry the fingerprint of each example they were made for,
    so that a student refuses predictions that do not belong to its data.
    """
    digest = hashlib.blake2b(digest_size=FINGERPRINT_BYTES)
    digest.update(task_name.encode("utf-8"))
    for text in texts:
        digest.update(b"\x00")
        digest.update(text.encode("utf-8"))
    return digest.digest()


@dataclasses.dataclass
class TaskExamples:
    """The examples of one split of one task (GLUE's or yours).

    Args:
        task: the `Task`.
        split: the split name, e.g. `"train"` or `"dev_matched"`.
        texts: one list of strings per text field (one for single-sentence tasks,
            two for pairs), all of the same length.
        labels: gold labels: int64 class indices (-1 where unlabeled) for
            classification, float32 scores (NaN where unlabeled) for regression.
        ids: each example's id in its source (the `index` column, MRPC's sentence
            id pair, TFDS's `idx`, or the row number).
        source: where the examples were read from (a file path or a TFDS name).
        lines: for TSV sources, the 1-based line of each example in its file.

    Example:
    ```python
    examples = keras_bam.data.read_glue_tsv("rte", "dev", "../shared/glue")
    len(examples), examples.texts[0][0], examples.labels[:3]
    ```
    """

    task: Task
    split: str
    texts: tuple
    labels: np.ndarray
    ids: list
    source: str
    lines: np.ndarray | None = None

    def __post_init__(self):
        self.task = get_task(self.task)
        self.texts = tuple(list(t) for t in self.texts)
        if len(self.texts) != len(self.task.text_fields):
            raise ValueError(
                f"{self.task.display_name} examples need {len(self.task.text_fields)} "
                f"text fields, got {len(self.texts)}."
            )
        n = len(self.texts[0])
        if any(len(t) != n for t in self.texts) or len(self.labels) != n:
            raise ValueError("All text fields and labels must have the same length.")
        if len(self.ids) != n:
            raise ValueError("`ids` must have one entry per example.")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def is_labeled(self) -> bool:
        """True when every example has a gold label."""
        if self.task.is_regression:
            return bool(np.all(np.isfinite(self.labels)))
        return bool(np.all(self.labels >= 0))

    def fingerprints(self) -> np.ndarray:
        """Per-example fingerprints, a `(n,)` array of 16-byte strings (`S16`)."""
        name = self.task.name
        return np.array(
            [example_fingerprint(name, row) for row in zip(*self.texts)],
            dtype=f"S{FINGERPRINT_BYTES}",
        )

    def content_hash(self) -> str:
        """A hex digest of all texts and labels, to detect changed source data."""
        digest = hashlib.sha256()
        digest.update(self.fingerprints().tobytes())
        digest.update(np.ascontiguousarray(self.labels).tobytes())
        return digest.hexdigest()

    def swapped(self) -> TaskExamples:
        """The same pairs with their two texts in the other order, as the split
        `"<split>_swapped"` (BAM's `double_unordered` training copies)."""
        if len(self.texts) != 2:
            raise ValueError(f"{self.task.display_name} examples are not pairs.")
        return TaskExamples(
            task=self.task,
            split=f"{self.split}_swapped",
            texts=(list(self.texts[1]), list(self.texts[0])),
            labels=self.labels.copy(),
            ids=list(self.ids),
            source=self.source,
            lines=self.lines,
        )

    def select(self, indices) -> TaskExamples:
        """A new `TaskExamples` holding the examples at `indices`, in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        return TaskExamples(
            task=self.task,
            split=self.split,
            texts=tuple([t[i] for i in indices] for t in self.texts),
            labels=self.labels[indices],
            ids=[self.ids[i] for i in indices],
            source=self.source,
            lines=None if self.lines is None else self.lines[indices],
        )
