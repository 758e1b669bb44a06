"""One entry point for a split's examples, whichever source they come from."""

from __future__ import annotations

import os

import numpy as np

from keras_bam.data.cache import EncodedCache
from keras_bam.data.encoding import encode_examples
from keras_bam.data.examples import TaskExamples
from keras_bam.data.task_reader import read_task_split
from keras_bam.data.tfds_reader import load_glue_tfds
from keras_bam.data.tsv_reader import read_glue_tsv
from keras_bam.tasks.glue_tasks import GlueTask
from keras_bam.tasks.registry import get_task

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


class SplitLoader:
    """Loads and encodes splits the same way for every task of a run: GLUE's
    from its TSV folder or TFDS, your own tasks' from their data.

    Args:
        tokenizer: the backbone's tokenizer.
        max_length: the packing length.
        source: `"tsv"` or `"tfds"`.
        data_dir: see `load_glue`.
        tfds_manual_dir: see `load_glue`.
        cache_dir: the encoded-split cache; no caching when `None`.

    Example:
    ```python
    loader = keras_bam.data.SplitLoader(tokenizer, data_dir="../shared/glue")
    examples, encoded = loader.load("rte", "train", limit=100)
    ```
    """

    def __init__(
        self,
        tokenizer,
        max_length: int = 128,
        source: str = "tsv",
        data_dir=None,
        tfds_manual_dir=None,
        cache_dir=None,
    ):
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.source = source
        self.data_dir = data_dir
        self.tfds_manual_dir = tfds_manual_dir
        self.cache = None if cache_dir is None else EncodedCache(cache_dir)

    def encode(self, examples: TaskExamples):
        if self.cache is None:
            return encode_examples(examples, self.tokenizer, self.max_length)
        return self.cache.encode(examples, self.tokenizer, self.max_length)

    def load(
        self,
        task,
        split: str,
        limit: int | None = None,
        sample_seed: int | None = None,
    ) -> tuple:
        """`(examples, encoded)` of a split.

        `limit` keeps the first `limit` examples, or, with `sample_seed`, a random
        sample of `limit` examples drawn with that seed (kept in file order). With
        a cache, the whole split is encoded (and cached) before slicing, so the
        cache always holds complete splits; without one, only the kept examples
        are encoded (each example's encoding is independent of the others).
        """
        task = get_task(task)
        if isinstance(task, GlueTask):
            examples = load_glue(
                task, split, self.source, self.data_dir, self.tfds_manual_dir
            )
        else:
            examples = read_task_split(task, split)
        keep = None
        if limit is not None and limit < len(examples):
            if sample_seed is None:
                keep = np.arange(limit)
            else:
                rng = np.random.default_rng(sample_seed)
                keep = np.sort(rng.choice(len(examples), limit, replace=False))
        if keep is None:
            return examples, self.encode(examples)
        if self.cache is None:
            examples = examples.select(keep)
            return examples, self.encode(examples)
        encoded = self.encode(examples)
        return examples.select(keep), encoded.select(keep)
