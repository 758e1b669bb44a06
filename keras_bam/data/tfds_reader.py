"""Reading GLUE through `tensorflow_datasets` (`tfds.load("glue/<task>")`)."""

from __future__ import annotations

import logging
import os

import numpy as np

from keras_bam.data.examples import TaskExamples
from keras_bam.tasks.glue_tasks import GlueTask
from keras_bam.tasks.registry import get_task

logger = logging.getLogger(__name__)


def load_glue_tfds(
    task: str | GlueTask,
    split: str,
    data_dir: str | os.PathLike | None = None,
    manual_dir: str | os.PathLike | None = None,
) -> TaskExamples:
    """Loads one split of a GLUE task with TFDS, as the same `TaskExamples` that
    `read_glue_tsv` returns.

    TFDS stores examples in a hashed order; they are put back in file order by
    their `idx` feature, so both sources give identical examples in identical
    order. Test splits have no labels (TFDS marks them -1).

    Args:
        task: a task name or `GlueTask`.
        split: our split name (`"train"`, `"dev"`, `"dev_matched"`, `"test"`, ...),
            mapped to TFDS's (`"validation"`, ...).
        data_dir: where TFDS keeps prepared datasets (its default when `None`).
        manual_dir: a folder holding the original GLUE archives under TFDS's
            registered names, so the dataset builds without network access.

    Returns:
        A `TaskExamples`.

    Example:
    ```python
    dev = keras_bam.data.load_glue_tfds(
        "rte", "dev", data_dir="/tmp/tfds",
        manual_dir="../shared/glue-tfds-manual")
    ```
    """
    import tensorflow_datasets as tfds

    task = get_task(task)
    if split not in task.tfds_splits:
        raise ValueError(
            f"Task '{task.name}' has no split '{split}' in TFDS. "
            f"Known splits: {sorted(task.tfds_splits)}."
        )
    builder = tfds.builder(task.tfds_name, data_dir=data_dir)
    download_config = tfds.download.DownloadConfig(
        manual_dir=None if manual_dir is None else os.fspath(manual_dir)
    )
    builder.download_and_prepare(download_config=download_config)
    dataset = builder.as_dataset(split=task.tfds_splits[split], shuffle_files=False)

    idx, texts, labels = [], [[] for _ in task.text_fields], []
    for example in tfds.as_numpy(dataset):
        idx.append(int(example["idx"]))
        for column, field in zip(texts, task.text_fields):
            column.append(example[field].decode("utf-8"))
        labels.append(example["label"])
    order = np.argsort(np.asarray(idx), kind="stable")
    if task.is_regression:
        label_array = np.asarray(labels, dtype=np.float32)
        label_array[label_array < 0] = np.nan  # TFDS marks unlabeled with -1.
    else:
        label_array = np.asarray(labels, dtype=np.int64)
    examples = TaskExamples(
        task=task,
        split=split,
        texts=tuple([column[i] for i in order] for column in texts),
        labels=label_array[order],
        ids=[str(idx[i]) for i in order],
        source=f"tfds:{task.tfds_name}/{task.tfds_splits[split]}",
    )
    logger.info(
        "%s %s: read %d examples from TFDS %s.",
        task.display_name,
        split,
        len(examples),
        task.tfds_name,
    )
    return examples
