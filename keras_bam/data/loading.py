"""One entry point for GLUE examples, whichever source they come from."""

from __future__ import annotations

import os

from keras_bam.data.examples import TaskExamples
from keras_bam.data.tfds_reader import load_glue_tfds
from keras_bam.data.tsv_reader import read_glue_tsv
from keras_bam.tasks import GlueTask

SOURCES = ("tsv", "tfds")


def load_glue(
    task: str | GlueTask,
    split: str,
    source: str = "tsv",
    data_dir: str | os.PathLike | None = None,
    tfds_manual_dir: str | os.PathLike | None = None,
) -> TaskExamples:
    """Loads a GLUE split from the TSV folder or from TFDS.

    Args:
        task: the task.
        split: the split.
        source: `"tsv"` (the standard GLUE folder) or `"tfds"`.
        data_dir: the GLUE folder for `"tsv"`; TFDS's data folder for `"tfds"`.
        tfds_manual_dir: TFDS's manual folder holding the original archives.

    Returns:
        A `TaskExamples`.

    Example:
    ```python
    train = keras_bam.load_glue("cola", "train", data_dir="../shared/glue")
    ```
    """
    if source == "tsv":
        if data_dir is None:
            raise ValueError("The 'tsv' source needs `data_dir`, the GLUE folder.")
        return read_glue_tsv(task, split, data_dir)
    if source == "tfds":
        return load_glue_tfds(
            task, split, data_dir=data_dir, manual_dir=tfds_manual_dir
        )
    raise ValueError(f"Unknown data source '{source}'; use one of {SOURCES}.")
