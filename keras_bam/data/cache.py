"""An on-disk cache of encoded splits, so a second run does not tokenize again."""

from __future__ import annotations

import json
import logging
import os

import numpy as np

from keras_bam.data.encoding import EncodedExamples
from keras_bam.data.encoding import encode_examples
from keras_bam.data.encoding import tokenizer_fingerprint
from keras_bam.data.examples import TaskExamples
from keras_bam.io_utils import NPZ_READ_ERRORS
from keras_bam.io_utils import arrays_sha256
from keras_bam.io_utils import atomic_savez

logger = logging.getLogger(__name__)

CACHE_FORMAT_VERSION = 3
_ARRAYS = ("token_ids", "row_lengths", "first_lengths", "truncated", "pad_id")


class EncodedCache:
    """Encoded splits cached as `.npz` files (plain arrays, never pickles).

    A cache entry is named by task, split, `max_length` and the tokenizer's
    vocabulary fingerprint, and records the hash of the examples it encodes. An
    entry whose recorded source hash, vocabulary or format differs from the
    request (the data changed, say) is stale: it is reported, re-encoded and
    replaced, never reused. The entry's metadata holds the SHA-256 of its arrays
    (`arrays_sha256`), checked on every read: a corrupt or truncated entry, like an
    unreadable one, is logged as stale and rebuilt (the cache is derived data).

    Args:
        directory: where cache files live (created if missing).

    Example:
    ```python
    cache = keras_bam.EncodedCache("/tmp/keras_bam_cache")
    encoded = cache.encode(examples, tokenizer, max_length=128)  # encodes
    encoded = cache.encode(examples, tokenizer, max_length=128)  # reads the file
    ```
    """

    def __init__(self, directory: str | os.PathLike):
        self.directory = os.fspath(directory)
        self.hits = 0
        self.misses = 0
        self.stale = 0

    def path_for(self, examples: TaskExamples, vocab: str, max_length: int) -> str:
        name = f"{examples.task.name}-{examples.split}-len{max_length}-{vocab[:12]}.npz"
        return os.path.join(self.directory, name)

    def encode(
        self, examples: TaskExamples, tokenizer, max_length: int = 128
    ) -> EncodedExamples:
        """Returns the encoding of `examples`, from the cache when it is current."""
        vocab = tokenizer_fingerprint(tokenizer)
        path = self.path_for(examples, vocab, max_length)
        metadata = {
            "format_version": CACHE_FORMAT_VERSION,
            "task": examples.task.name,
            "split": examples.split,
            "max_length": max_length,
            "vocabulary": vocab,
            "source_hash": examples.content_hash(),
            "num_examples": len(examples),
        }
        if os.path.exists(path):
            cached, reason = _read_entry(path, metadata)
            if cached is not None:
                self.hits += 1
                logger.info("Encoded cache hit: %s", path)
                return cached
            self.stale += 1
            logger.warning(
                "Encoded cache entry %s is stale (%s); re-encoding.", path, reason
            )
        self.misses += 1
        encoded = encode_examples(examples, tokenizer, max_length)
        _write_entry(path, encoded, metadata)
        return encoded


def _read_entry(path, expected):
    """`(EncodedExamples, None)` if the entry matches `expected`, else `(None, why)`."""
    try:
        with np.load(path, allow_pickle=False) as data:
            metadata = json.loads(str(data["metadata"]))
            if not isinstance(metadata, dict):
                return None, "unreadable: the metadata is not a JSON object"
            for key, value in expected.items():
                if metadata.get(key) != value:
                    return None, f"{key} is {metadata.get(key)!r}, expected {value!r}"
            arrays = {name: data[name] for name in _ARRAYS}
    except NPZ_READ_ERRORS as e:
        return None, f"unreadable (corrupt or truncated): {e}"
    checksum = arrays_sha256(arrays)
    if metadata.get("sha256") != checksum:
        return None, (
            f"corrupt: the arrays' SHA-256 is {checksum[:12]}..., the entry "
            f"recorded {str(metadata.get('sha256'))[:12]}..."
        )
    pad_id = int(arrays.pop("pad_id"))
    if len(arrays["row_lengths"]) != expected["num_examples"] or int(
        arrays["row_lengths"].sum()
    ) != len(arrays["token_ids"]):
        return None, "array sizes do not match"
    return (
        EncodedExamples(max_length=expected["max_length"], pad_id=pad_id, **arrays),
        None,
    )


def _write_entry(path, encoded: EncodedExamples, metadata: dict):
    arrays = {
        name: np.asarray(getattr(encoded, name)) for name in _ARRAYS if name != "pad_id"
    }
    arrays["pad_id"] = np.array(encoded.pad_id)
    metadata = {**metadata, "sha256": arrays_sha256(arrays)}
    atomic_savez(
        path, metadata=np.array(json.dumps(metadata, sort_keys=True)), **arrays
    )
