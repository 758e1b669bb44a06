import numpy as np

import keras_bam


class CountingTokenizer:
    """Wraps a tokenizer and counts `tokenize` calls."""

    def __init__(self, tokenizer):
        self._tokenizer = tokenizer
        self.calls = 0

    def tokenize(self, texts):
        self.calls += 1
        return self._tokenizer.tokenize(texts)

    def __getattr__(self, name):
        return getattr(self._tokenizer, name)


def assert_same(a, b):
    for name in ("token_ids", "row_lengths", "first_lengths", "truncated"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_second_run_reads_the_cache(tmp_path, glue_dir, tokenizer):
    dev = keras_bam.read_glue_tsv("mrpc", "dev", glue_dir)
    counting = CountingTokenizer(tokenizer)
    first = keras_bam.EncodedCache(tmp_path).encode(dev, counting, 128)
    calls = counting.calls
    cache = keras_bam.EncodedCache(tmp_path)  # A new run.
    second = cache.encode(dev, counting, 128)
    assert counting.calls == calls and cache.hits == 1 and cache.misses == 0
    assert_same(first, second)
    # Another length is another entry, not a reuse.
    other = cache.encode(dev, counting, 64)
    assert counting.calls > calls and other.max_length == 64
    assert len(list(tmp_path.glob("*.npz"))) == 2


def test_stale_entry_is_detected_and_replaced(tmp_path, glue_dir, tokenizer, caplog):
    dev = keras_bam.read_glue_tsv("rte", "dev", glue_dir)
    keras_bam.EncodedCache(tmp_path).encode(dev, tokenizer, 128)
    changed = dev.select(np.arange(len(dev)))
    changed.texts[0][5] = "A different premise."
    cache = keras_bam.EncodedCache(tmp_path)
    with caplog.at_level("WARNING"):
        encoded = cache.encode(changed, tokenizer, 128)
    assert cache.stale == 1 and cache.hits == 0
    assert "stale (source_hash" in caplog.text
    assert_same(encoded, keras_bam.encode_examples(changed, tokenizer, 128))
    assert keras_bam.EncodedCache(tmp_path).encode(changed, tokenizer, 128) is not None


def test_corrupt_entry_is_rebuilt(tmp_path, glue_dir, tokenizer, caplog):
    dev = keras_bam.read_glue_tsv("rte", "dev", glue_dir)
    keras_bam.EncodedCache(tmp_path).encode(dev, tokenizer, 128)
    (path,) = tmp_path.glob("*.npz")
    path.write_bytes(path.read_bytes()[:100])
    cache = keras_bam.EncodedCache(tmp_path)
    with caplog.at_level("WARNING"):
        encoded = cache.encode(dev, tokenizer, 128)
    assert cache.stale == 1 and "unreadable" in caplog.text
    assert_same(encoded, keras_bam.encode_examples(dev, tokenizer, 128))


def test_entry_of_another_format_version_is_stale(
    tmp_path, glue_dir, tokenizer, caplog
):
    import json

    dev = keras_bam.read_glue_tsv("rte", "dev", glue_dir)
    keras_bam.EncodedCache(tmp_path).encode(dev, tokenizer, 128)
    (path,) = tmp_path.glob("*.npz")
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    metadata = json.loads(str(arrays["metadata"]))
    metadata["format_version"] = 0
    arrays["metadata"] = np.array(json.dumps(metadata))
    np.savez(path, **arrays)
    cache = keras_bam.EncodedCache(tmp_path)
    with caplog.at_level("WARNING"):
        cache.encode(dev, tokenizer, 128)
    assert cache.stale == 1 and "format_version is 0, expected" in caplog.text


def test_entry_with_changed_arrays_fails_its_checksum(
    tmp_path, glue_dir, tokenizer, caplog
):
    """A well-formed archive whose arrays changed after writing is not reused."""
    dev = keras_bam.read_glue_tsv("rte", "dev", glue_dir).select(np.arange(50))
    expected = keras_bam.EncodedCache(tmp_path).encode(dev, tokenizer, 64)
    (path,) = tmp_path.glob("*.npz")
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["token_ids"] = arrays["token_ids"].copy()
    arrays["token_ids"][7] += 1
    np.savez(path, **arrays)
    cache = keras_bam.EncodedCache(tmp_path)
    with caplog.at_level("WARNING"):
        encoded = cache.encode(dev, tokenizer, 64)
    assert cache.stale == 1 and "stale (corrupt: the arrays' SHA-256 is" in caplog.text
    assert_same(encoded, expected)
