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


ARRAYS = ("token_ids", "row_lengths", "first_lengths", "truncated")


def assert_same(a, b):
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_second_run_reads_the_cache(tmp_path, glue_dir, tokenizer):
    dev = keras_bam.data.read_glue_tsv("mrpc", "dev", glue_dir)
    counting = CountingTokenizer(tokenizer)
    first = keras_bam.data.EncodedCache(tmp_path).encode(dev, counting, 128)
    calls = counting.calls
    cache = keras_bam.data.EncodedCache(tmp_path)  # A new run.
    second = cache.encode(dev, counting, 128)
    assert counting.calls == calls and cache.hits == 1 and cache.misses == 0
    assert_same(first, second)
    # Another length is another entry, not a reuse.
    other = cache.encode(dev, counting, 64)
    assert counting.calls > calls and other.max_length == 64
    assert len(list(tmp_path.glob("*/metadata.json"))) == 2
    # Read back memory-mapped, not loaded whole.
    assert isinstance(second.token_ids, np.memmap)
    assert not list(tmp_path.glob(".partial-*"))  # No staging folder is left.


def test_each_source_keeps_its_own_entry(tmp_path, glue_dir, tokenizer, caplog):
    """Runs over different samples of a task alternate without re-encoding."""
    dev = keras_bam.data.read_glue_tsv("rte", "dev", glue_dir)
    keras_bam.data.EncodedCache(tmp_path).encode(dev, tokenizer, 128)
    changed = dev.select(np.arange(len(dev)))
    changed.texts[0][5] = "A different premise."
    cache = keras_bam.data.EncodedCache(tmp_path)
    with caplog.at_level("WARNING"):
        encoded = cache.encode(changed, tokenizer, 128)
    assert cache.misses == 1 and cache.stale == 0 and cache.hits == 0
    assert "stale" not in caplog.text
    assert_same(encoded, keras_bam.data.encode_examples(changed, tokenizer, 128))
    assert len(list(tmp_path.glob("*/metadata.json"))) == 2
    # Back and forth: each source is read from its own entry.
    for examples in (dev, changed, dev):
        again = keras_bam.data.EncodedCache(tmp_path)
        read = again.encode(examples, tokenizer, 128)
        assert again.hits == 1 and again.misses == 0 and again.stale == 0
        assert_same(read, keras_bam.data.encode_examples(examples, tokenizer, 128))


def test_entry_recording_another_source_is_stale(tmp_path, glue_dir, tokenizer, caplog):
    """An entry whose recorded source hash is not the request's is not reused."""
    import json

    dev = keras_bam.data.read_glue_tsv("rte", "dev", glue_dir).select(np.arange(40))
    keras_bam.data.EncodedCache(tmp_path).encode(dev, tokenizer, 64)
    path = entry(tmp_path) / "metadata.json"
    metadata = json.loads(path.read_text())
    metadata["source_hash"] = "0" * 64
    path.write_text(json.dumps(metadata))
    cache = keras_bam.data.EncodedCache(tmp_path)
    with caplog.at_level("WARNING"):
        encoded = cache.encode(dev, tokenizer, 64)
    assert cache.stale == 1 and cache.hits == 0
    assert "stale (source_hash" in caplog.text
    assert_same(encoded, keras_bam.data.encode_examples(dev, tokenizer, 64))


def entry(tmp_path):
    (path,) = tmp_path.glob("*/metadata.json")
    return path.parent


def test_corrupt_entry_is_rebuilt(tmp_path, glue_dir, tokenizer, caplog):
    dev = keras_bam.data.read_glue_tsv("rte", "dev", glue_dir)
    keras_bam.data.EncodedCache(tmp_path).encode(dev, tokenizer, 128)
    metadata = entry(tmp_path) / "metadata.json"
    metadata.write_bytes(metadata.read_bytes()[:100])
    cache = keras_bam.data.EncodedCache(tmp_path)
    with caplog.at_level("WARNING"):
        encoded = cache.encode(dev, tokenizer, 128)
    assert cache.stale == 1 and "unreadable" in caplog.text
    assert_same(encoded, keras_bam.data.encode_examples(dev, tokenizer, 128))


def test_missing_array_file_is_rebuilt(tmp_path, glue_dir, tokenizer, caplog):
    dev = keras_bam.data.read_glue_tsv("rte", "dev", glue_dir)
    keras_bam.data.EncodedCache(tmp_path).encode(dev, tokenizer, 128)
    (entry(tmp_path) / "row_lengths.npy").unlink()
    cache = keras_bam.data.EncodedCache(tmp_path)
    with caplog.at_level("WARNING"):
        encoded = cache.encode(dev, tokenizer, 128)
    assert cache.stale == 1 and "unreadable" in caplog.text
    assert_same(encoded, keras_bam.data.encode_examples(dev, tokenizer, 128))


def test_entry_of_another_format_version_is_stale(
    tmp_path, glue_dir, tokenizer, caplog
):
    import json

    dev = keras_bam.data.read_glue_tsv("rte", "dev", glue_dir)
    keras_bam.data.EncodedCache(tmp_path).encode(dev, tokenizer, 128)
    path = entry(tmp_path) / "metadata.json"
    metadata = json.loads(path.read_text())
    metadata["format_version"] = 0
    path.write_text(json.dumps(metadata))
    cache = keras_bam.data.EncodedCache(tmp_path)
    with caplog.at_level("WARNING"):
        cache.encode(dev, tokenizer, 128)
    assert cache.stale == 1 and "format_version is 0, expected" in caplog.text


def test_entry_with_changed_arrays_fails_its_checksum(
    tmp_path, glue_dir, tokenizer, caplog
):
    """A well-formed entry whose arrays changed after writing is not reused."""
    dev = keras_bam.data.read_glue_tsv("rte", "dev", glue_dir).select(np.arange(50))
    expected = keras_bam.data.EncodedCache(tmp_path).encode(dev, tokenizer, 64)
    expected = {name: np.array(getattr(expected, name)) for name in ARRAYS}
    path = entry(tmp_path) / "token_ids.npy"
    token_ids = np.load(path)
    token_ids[7] += 1
    np.save(path, token_ids)
    cache = keras_bam.data.EncodedCache(tmp_path)
    with caplog.at_level("WARNING"):
        encoded = cache.encode(dev, tokenizer, 64)
    assert cache.stale == 1
    assert "stale (unreadable (corrupt or truncated): the arrays' SHA-256 is" in (
        caplog.text
    )
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(encoded, name), expected[name])


def test_entry_written_chunk_by_chunk_equals_one_encoding(
    tmp_path, glue_dir, tokenizer
):
    dev = keras_bam.data.read_glue_tsv("mrpc", "dev", glue_dir).select(np.arange(60))
    cached = keras_bam.data.EncodedCache(tmp_path, chunk_size=7).encode(
        dev, tokenizer, 40
    )
    assert isinstance(cached.token_ids, np.memmap) and cached.num_truncated > 0
    assert_same(cached, keras_bam.data.encode_examples(dev, tokenizer, 40))
    assert not list(tmp_path.rglob("*.raw"))
