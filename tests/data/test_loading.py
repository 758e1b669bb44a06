import numpy as np
import pytest

import keras_bam


@pytest.fixture(scope="module")
def loader(tokenizer, glue_dir):
    return keras_bam.data.SplitLoader(tokenizer, 64, data_dir=glue_dir)


def test_limit_keeps_the_first_examples(loader, glue_dir):
    examples, encoded = loader.load("rte", "train", limit=10)
    whole = keras_bam.data.read_glue_tsv("rte", "train", glue_dir)
    assert examples.ids == whole.ids[:10] and len(encoded) == 10


def test_sample_seed_draws_a_seeded_random_sample_in_file_order(loader, glue_dir):
    whole = keras_bam.data.read_glue_tsv("rte", "train", glue_dir)
    position = {example_id: i for i, example_id in enumerate(whole.ids)}
    examples, encoded = loader.load("rte", "train", limit=50, sample_seed=7)
    again, _ = loader.load("rte", "train", limit=50, sample_seed=7)
    other, _ = loader.load("rte", "train", limit=50, sample_seed=8)
    positions = np.array([position[i] for i in examples.ids])
    assert len(examples) == len(encoded) == 50
    assert np.all(np.diff(positions) > 0)  # Distinct, and in file order.
    assert positions.max() > 50  # Not the first 50.
    assert again.ids == examples.ids and other.ids != examples.ids
    np.testing.assert_array_equal(examples.labels, whole.labels[positions])
    # Each example's encoding is its own: the same as encoding it alone.
    alone = keras_bam.data.encode_examples(
        whole.select(positions[:3]), loader.tokenizer, 64
    )
    np.testing.assert_array_equal(
        encoded.select(np.arange(3)).token_ids, alone.token_ids
    )


@pytest.mark.parametrize("sample_seed", [None, 3])
def test_with_and_without_a_cache_the_same_sample(loader, tmp_path, sample_seed):
    """Without a cache only the kept examples are encoded; with one, the whole
    split, then sliced. Both give the same examples and encodings."""
    cached = keras_bam.data.SplitLoader(
        loader.tokenizer, 64, data_dir=loader.data_dir, cache_dir=tmp_path
    )
    a_examples, a = loader.load("stsb", "train", limit=40, sample_seed=sample_seed)
    b_examples, b = cached.load("stsb", "train", limit=40, sample_seed=sample_seed)
    assert a_examples.ids == b_examples.ids
    np.testing.assert_array_equal(a_examples.lines, b_examples.lines)
    np.testing.assert_array_equal(a_examples.fingerprints(), b_examples.fingerprints())
    np.testing.assert_array_equal(a_examples.labels, b_examples.labels)
    for field in ("token_ids", "row_lengths", "first_lengths", "truncated"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), field)


def test_tensorflow_text_kernel_gives_kerashub_python_ids(tokenizer, glue_dir):
    """Word-piece ids through TensorFlow Text's kernel (the fast path) equal
    KerasHub's pure-Python tokenization, on real GLUE text and odd strings."""
    from keras_bam.data import encoding

    texts = list(keras_bam.data.read_glue_tsv("cola", "dev", glue_dir).texts[0])
    texts += ["", "  Ünïcödé façade — naïve 東京 😀 ", "[SEP] [CLS] x", "a" * 300]
    fast = encoding._tokenize(tokenizer, texts)
    python = tokenizer.tokenize(texts)  # KerasHub's Python path, outside tf.function.
    assert isinstance(python, list)
    np.testing.assert_array_equal(fast[1], [len(ids) for ids in python])
    np.testing.assert_array_equal(fast[0], np.concatenate(python).astype(np.int32))
