"""Safe files: atomic writes of plain numpy archives, their checksums, and
writes that only a cluster's process 0 makes."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import struct
import tempfile
import zipfile

import numpy as np

from keras_bam.backend.distribution import is_chief


def atomic_savez(path: str | os.PathLike, **arrays) -> str:
    """Writes an uncompressed `.npz` atomically: readers see the old file or the
    whole new one, never a half-written one. Arrays must not need pickling.

    Returns:
        The path written.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, allow_pickle=False, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


# What reading a damaged `.npz` can raise: zip and `.npy` header errors, short reads.
NPZ_READ_ERRORS = (
    OSError,
    ValueError,
    TypeError,
    KeyError,
    EOFError,
    zipfile.BadZipFile,
    struct.error,
    NotImplementedError,
    OverflowError,
)


def arrays_sha256(arrays: dict) -> str:
    """The SHA-256 of named arrays: each one's name, dtype, shape and bytes, in name
    order, as hex. Stored in a file's metadata, it detects arrays changed after
    writing (a flipped bit, a truncated or rewritten member)."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.asarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes(order="C"))
    return digest.hexdigest()


def save_dev_outputs(path: str | os.PathLike, dev_outputs: dict) -> str:
    """Writes model outputs on dev sets, task name to split name to array, as an
    `.npz` with one `<task>/<split>` array each (read with `load_dev_outputs`)."""
    arrays = {
        f"{task}/{split}": np.asarray(values, np.float32)
        for task, splits in dev_outputs.items()
        for split, values in splits.items()
    }
    return atomic_savez(path, **arrays)


def load_dev_outputs(path: str | os.PathLike) -> dict:
    """Reads `save_dev_outputs`'s file back: task name to split name to array."""
    result = {}
    with np.load(path, allow_pickle=False) as data:
        for key in data.files:
            task, split = key.split("/", 1)
            result.setdefault(task, {})[split] = data[key]
    return result


@contextlib.contextmanager
def written_by_chief(path: str | os.PathLike):
    """The folder this process writes `path`'s files into.

    In a cluster every process takes part in collective work (exporting,
    predicting) but only process 0 may write the run's files: it gets `path`
    itself (created), the others a scratch folder removed afterwards.

    Example:
    ```python
    with keras_bam.data.io_utils.written_by_chief("runs/glue/students/bam") as folder:
        model.save(os.path.join(folder, "bam_student.keras"))
    ```
    """
    if is_chief():
        path = os.fspath(path)
        os.makedirs(path, exist_ok=True)
        yield path
        return
    scratch = tempfile.mkdtemp(prefix="keras-bam-")
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
