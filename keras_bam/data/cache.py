"""An on-disk cache of encoded splits, so a second run does not tokenize again."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile

import numpy as np

from keras_bam.data.encoding import TOKENIZE_CHUNK
from keras_bam.data.encoding import EncodedExamples
from keras_bam.data.encoding import encoded_chunks
from keras_bam.data.encoding import log_truncation
from keras_bam.data.encoding import tokenizer_fingerprint
from keras_bam.data.examples import TaskExamples
from keras_bam.data.io_utils import NPZ_READ_ERRORS

logger = logging.getLogger(__name__)

CACHE_FORMAT_VERSION = 4
_ARRAYS = ("token_ids", "row_lengths", "first_lengths", "truncated")
_METADATA = "metadata.json"


class EncodedCache:
    """Encoded splits cached on disk and read back memory-mapped (never pickles).

    An entry is a folder named by task, split, `max_length`, the tokenizer's
    vocabulary fingerprint and the hash of the examples it encodes (its
    source: runs over different samples of a task, a test run and the main
    job say, keep an entry each instead of replacing each other's), holding
    one `.npy` file per array and a `metadata.json` that records the same keys
    and the SHA-256 of the array files. Entries are read memory-mapped
    (`np.load(mmap_mode="r")`): MNLI's encoding is paged in as batches use it,
    not loaded whole, and the checksum is computed by streaming the files.

    An entry whose recorded source hash, vocabulary or format differs from the
    request (an entry of another format version, say) is stale: it is
    reported, re-encoded and replaced, never reused. A corrupt, truncated or
    unreadable entry is logged as stale and rebuilt too (the cache is derived
    data). Entries are written to a temporary folder and moved into place, so
    a killed run leaves no half-written entry.

    Args:
        directory: where cache entries live (created if missing).
        chunk_size: examples encoded (and written) at a time.

    Example:
    ```python
    cache = keras_bam.data.EncodedCache("/tmp/keras_bam_cache")
    encoded = cache.encode(examples, tokenizer, max_length=128)  # encodes
    encoded = cache.encode(examples, tokenizer, max_length=128)  # memory-maps
    ```
    """

    def __init__(self, directory: str | os.PathLike, chunk_size: int = TOKENIZE_CHUNK):
        self.directory = os.fspath(directory)
        self.chunk_size = int(chunk_size)
        self.hits = 0
        self.misses = 0
        self.stale = 0

    def path_for(
        self, examples: TaskExamples, vocab: str, max_length: int, source: str
    ) -> str:
        """The entry folder for `examples` (whose content hash is `source`)
        encoded to `max_length` with `vocab`."""
        name = (
            f"{examples.task.name}-{examples.split}-len{max_length}-{vocab[:12]}"
            f"-{source[:12]}"
        )
        return os.path.join(self.directory, name)

    def encode(
        self, examples: TaskExamples, tokenizer, max_length: int = 128
    ) -> EncodedExamples:
        """Returns the encoding of `examples`, from the cache when it is current."""
        vocab = tokenizer_fingerprint(tokenizer)
        source = examples.content_hash()
        path = self.path_for(examples, vocab, max_length, source)
        metadata = {
            "format_version": CACHE_FORMAT_VERSION,
            "task": examples.task.name,
            "split": examples.split,
            "max_length": max_length,
            "vocabulary": vocab,
            "source_hash": source,
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
        _write_entry(path, examples, tokenizer, max_length, metadata, self.chunk_size)
        cached, reason = _read_entry(path, metadata)
        if cached is None:  # Written just now: only a failing disk gets here.
            raise OSError(f"The encoded cache entry {path} cannot be read: {reason}")
        return cached


def _files_sha256(paths) -> str:
    """SHA-256 of the files' bytes in order, streamed (bounded memory)."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _read_entry(path, expected):
    """`(EncodedExamples, None)` if the entry matches `expected`, else `(None, why)`."""
    damaged = "unreadable (corrupt or truncated)"
    files = [os.path.join(path, f"{name}.npy") for name in _ARRAYS]
    try:
        with open(os.path.join(path, _METADATA)) as f:
            metadata = json.load(f)
        if not isinstance(metadata, dict):
            return None, f"{damaged}: the metadata is not a JSON object"
        for key, value in expected.items():
            if metadata.get(key) != value:
                return None, f"{key} is {metadata.get(key)!r}, expected {value!r}"
        checksum = _files_sha256(files)
        if metadata.get("sha256") != checksum:
            return None, (
                f"{damaged}: the arrays' SHA-256 is {checksum[:12]}..., the entry "
                f"recorded {str(metadata.get('sha256'))[:12]}..."
            )
        arrays = {
            name: np.load(file, mmap_mode="r", allow_pickle=False)
            for name, file in zip(_ARRAYS, files)
        }
        pad_id = int(metadata["pad_id"])
    except (*NPZ_READ_ERRORS, json.JSONDecodeError) as e:
        return None, f"{damaged}: {e}"
    if len(arrays["row_lengths"]) != expected["num_examples"] or int(
        np.sum(arrays["row_lengths"], dtype=np.int64)
    ) != len(arrays["token_ids"]):
        return None, "array sizes do not match"
    return (
        EncodedExamples(max_length=expected["max_length"], pad_id=pad_id, **arrays),
        None,
    )


def _write_entry(
    path, examples, tokenizer, max_length: int, metadata: dict, chunk_size: int
):
    """Encodes `examples` chunk by chunk straight into a new entry at `path`:
    only one chunk's encoding is in memory at a time."""
    parent = os.path.dirname(path) or "."
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(dir=parent, prefix=".partial-")
    try:
        writers = {
            name: _NpyAppender(os.path.join(staging, f"{name}.npy")) for name in _ARRAYS
        }
        pad_id, truncated = None, 0
        for chunk in encoded_chunks(examples, tokenizer, max_length, chunk_size):
            for name, writer in writers.items():
                writer.append(getattr(chunk, name))
            pad_id, truncated = chunk.pad_id, truncated + chunk.num_truncated
        files = [writer.close() for writer in writers.values()]
        log_truncation(examples, truncated, max_length)
        metadata = {**metadata, "pad_id": int(pad_id), "sha256": _files_sha256(files)}
        with open(os.path.join(staging, _METADATA), "w") as f:
            json.dump(metadata, f, sort_keys=True, indent=1)
        if os.path.exists(path):
            shutil.rmtree(path)
        os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


class _NpyAppender:
    """Writes a 1-D `.npy` file whose length is known only at the end: rows go
    to a raw file as they come; `close` writes the header and copies them after
    it in blocks."""

    def __init__(self, path: str):
        self.path = path
        self._raw = open(path + ".raw", "wb")
        self._dtype = None
        self._length = 0

    def append(self, values):
        values = np.ascontiguousarray(values)
        if self._dtype is None:
            self._dtype = values.dtype
        self._raw.write(values.astype(self._dtype, copy=False).tobytes())
        self._length += len(values)

    def close(self) -> str:
        self._raw.close()
        header = {
            "descr": np.lib.format.dtype_to_descr(self._dtype),
            "fortran_order": False,
            "shape": (self._length,),
        }
        with open(self.path, "wb") as out, open(self.path + ".raw", "rb") as raw:
            np.lib.format.write_array_header_1_0(out, header)
            shutil.copyfileobj(raw, out, 1 << 20)
        os.remove(self.path + ".raw")
        return self.path
