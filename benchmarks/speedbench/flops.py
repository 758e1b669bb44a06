"""The speed benchmark's FLOPs model: useful FLOPs count only non-padding tokens.

With `N` the encoder's non-embedding parameters, `T` the non-padding tokens, `L`
the layers, `d` the width and `len_i` each example's length:

    training   FLOPs = 6 N T + 12 L d sum_i len_i^2
    prediction FLOPs = 2 N T +  4 L d sum_i len_i^2

(`benchmarks/speed.py`'s docstring says what is counted and why).
"""

from __future__ import annotations

import json
import os

import numpy as np


def length_stats(lengths) -> dict:
    """Non-padding tokens and the sum of squared lengths of one pass."""
    lengths = np.asarray(lengths, np.int64)
    return {
        "examples": len(lengths),
        "real_tokens": int(lengths.sum()),
        "sum_sq_lengths": int((lengths**2).sum()),
    }


def encoder_shape(model_dir: str) -> dict:
    """Layers, width, feed-forward width and non-embedding parameters of the
    encoder described by a Hugging Face `config.json`."""
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    layers = int(config["num_hidden_layers"])
    d = int(config["hidden_size"])
    ff = int(config["intermediate_size"])
    per_layer = 4 * d * d + 2 * d * ff + 9 * d + ff
    return {
        "layers": layers,
        "hidden": d,
        "ffn": ff,
        "non_embedding": layers * per_layer,
    }


def useful_flops(shape: dict, mode: str, real_tokens: int, sum_sq: int) -> float:
    """The module docstring's FLOPs formula for one pass."""
    factor = 6 if mode == "train" else 2
    attention = 2 * factor * shape["layers"] * shape["hidden"] * sum_sq
    return factor * shape["non_embedding"] * real_tokens + attention
