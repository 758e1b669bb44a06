"""Safe files: atomic writes of plain numpy archives."""

from __future__ import annotations

import os
import tempfile

import numpy as np


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
