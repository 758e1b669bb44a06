import numpy as np
import pytest

import keras_bam


@pytest.fixture(scope="module")
def loader(tokenizer, glue_dir):
    return keras_bam.SplitLoader(tokenizer, 64, data_dir=glue_dir)


def test_limit_keeps_the_first_examples(loader, glue_dir):
    examples, encoded = loader.load("rte", "train", limit=10)
    whole = keras_bam.read_glue_tsv("rte", "train", glue_dir)
    assert examples.ids == whole.ids[:10] and len(encoded) == 10


def test_sample_seed_draws_a_seeded_random_sample_in_file_order(loader, glue_dir):
    whole = keras_bam.read_glue_tsv("rte", "train", glue_dir)
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
    alone = keras_bam.encode_examples(whole.select(positions[:3]), loader.tokenizer, 64)
    np.testing.assert_array_equal(
        encoded.select(np.arange(3)).token_ids, alone.token_ids
    )
