"""The GLUE training examples the speed benchmark's KerasHub and PyTorch children
read."""

from __future__ import annotations

import numpy as np


def load_examples(cfg: dict, task: str):
    """The first `limit` training examples of a task (keras-bam's TSV reader)."""
    import keras_bam

    examples = keras_bam.load_glue(task, "train", data_dir=cfg["data_dir"])
    if cfg["limit"] and cfg["limit"] < len(examples):
        examples = examples.select(np.arange(cfg["limit"]))
    return examples
