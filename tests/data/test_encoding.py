import gc
import weakref

import keras_hub
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import keras_bam
from keras_bam.data.encoding import truncate_longest_first


def bert_truncate_seq_pair(a, b, budget):
    """BERT's reference `_truncate_seq_pair`, on lengths."""
    while a + b > budget:
        if a > b:
            a -= 1
        else:
            b -= 1
    return a, b


@given(
    st.lists(
        st.tuples(st.integers(0, 300), st.integers(0, 300)), min_size=1, max_size=30
    ),
    st.integers(1, 256),
)
def test_longest_first_matches_bert(pairs, budget):
    first, second = map(np.array, zip(*pairs))
    got = truncate_longest_first(first, second, budget)
    want = np.array([bert_truncate_seq_pair(a, b, budget) for a, b in pairs]).T
    np.testing.assert_array_equal(np.stack(got), want)


def test_pairs_match_keras_hub_preprocessor(glue_dir, tokenizer):
    """Packing, segment ids and truncation equal KerasHub's own BERT preprocessor."""
    dev = keras_bam.data.read_glue_tsv("rte", "dev", glue_dir)
    dev = dev.select(np.arange(64))
    for max_length in (128, 48):
        encoded = keras_bam.data.encode_examples(dev, tokenizer, max_length)
        ours = encoded.pad_batch(np.arange(len(dev)), max_length)
        preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
            tokenizer, sequence_length=max_length, truncate="round_robin"
        )
        theirs = preprocessor(x=(dev.texts[0], dev.texts[1]))
        for key in ("token_ids", "segment_ids", "padding_mask"):
            np.testing.assert_array_equal(
                ours[key], np.asarray(theirs[key]).astype(np.int32)
            )
        assert encoded.num_truncated <= int(np.sum(encoded.row_lengths == max_length))
    assert keras_bam.data.encode_examples(dev, tokenizer, 48).num_truncated > 0


def test_single_sentences_and_select(glue_dir, tokenizer):
    dev = keras_bam.data.read_glue_tsv("cola", "dev", glue_dir).select(np.arange(10))
    encoded = keras_bam.data.encode_examples(dev, tokenizer, 128)
    batch = encoded.pad_batch([3, 1])
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    row = batch["token_ids"][0][batch["padding_mask"][0] == 1]
    assert row[0] == cls and row[-1] == sep and np.sum(row == sep) == 1
    assert batch["segment_ids"].sum() == 0
    assert batch["token_ids"].shape[1] == encoded.row_lengths[[3, 1]].max()
    subset = encoded.select([3, 1])
    np.testing.assert_array_equal(
        subset.pad_batch([0, 1])["token_ids"], batch["token_ids"]
    )


def test_pad_batch_refuses_short_length(glue_dir, tokenizer):
    dev = keras_bam.data.read_glue_tsv("rte", "dev", glue_dir).select(np.arange(4))
    encoded = keras_bam.data.encode_examples(dev, tokenizer, 128)
    try:
        encoded.pad_batch([0], 4)
    except ValueError as e:
        assert "longer than the batch length 4" in str(e)
    else:
        raise AssertionError("expected a ValueError")


def test_swapped_pairs_and_concatenation(glue_dir, tokenizer):
    dev = keras_bam.data.read_glue_tsv("mrpc", "dev", glue_dir).select(np.arange(6))
    swapped = dev.swapped()
    assert swapped.split == "dev_swapped"
    assert swapped.texts == (dev.texts[1], dev.texts[0])
    np.testing.assert_array_equal(swapped.labels, dev.labels)
    assert not np.any(swapped.fingerprints() == dev.fingerprints())
    a = keras_bam.data.encode_examples(dev, tokenizer, 64)
    b = keras_bam.data.encode_examples(swapped, tokenizer, 64)
    both = keras_bam.data.concatenate_encoded(a, b)
    assert len(both) == 12
    np.testing.assert_array_equal(
        both.pad_batch(np.arange(6, 12), 64)["token_ids"],
        b.pad_batch(np.arange(6), 64)["token_ids"],
    )
    with pytest.raises(ValueError, match="same max_length"):
        keras_bam.data.concatenate_encoded(
            a, keras_bam.data.encode_examples(dev, tokenizer, 32)
        )
    with pytest.raises(ValueError, match="not pairs"):
        keras_bam.data.read_glue_tsv("cola", "dev", glue_dir).swapped()


@pytest.mark.parametrize("task, length", [("rte", 48), ("cola", 12)])
def test_chunked_encoding_equals_one_chunk(glue_dir, tokenizer, task, length):
    dev = keras_bam.data.read_glue_tsv(task, "dev", glue_dir).select(np.arange(100))
    whole = keras_bam.data.encode_examples(dev, tokenizer, length, chunk_size=1000)
    chunked = keras_bam.data.encode_examples(dev, tokenizer, length, chunk_size=7)
    assert whole.num_truncated > 0  # Truncation is exercised across chunks.
    for name in ("token_ids", "row_lengths", "first_lengths", "truncated"):
        np.testing.assert_array_equal(getattr(chunked, name), getattr(whole, name))
    with pytest.raises(ValueError, match="chunk_size must be positive"):
        keras_bam.data.encode_examples(dev, tokenizer, 48, chunk_size=0)


def test_a_tokenizer_used_for_encoding_can_be_freed(glue_dir):
    """Encoding caches the tokenizer's compiled kernel without keeping the
    tokenizer (and its vocabulary and traced graph) alive once dropped: else
    each teacher of a run, loading its own, would leave one behind."""
    tokenizer = keras_bam.load_tokenizer()
    dev = keras_bam.data.read_glue_tsv("rte", "dev", glue_dir).select(np.arange(8))
    keras_bam.data.encode_examples(dev, tokenizer, 64)
    ref = weakref.ref(tokenizer)
    del tokenizer
    gc.collect()
    assert ref() is None
