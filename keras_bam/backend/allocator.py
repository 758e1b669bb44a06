"""The C allocator under both backends: large freed buffers go back to the system."""

from __future__ import annotations

import ctypes
import ctypes.util

# glibc's `mallopt` parameter for the mmap threshold (malloc.h).
_M_MMAP_THRESHOLD = -3


def release_large_buffers(min_bytes: int = 4 * 2**20) -> bool:
    """Makes the C allocator return freed buffers of `min_bytes` or more to the
    system at once.

    Both backends take their CPU tensors from the C library's `malloc`.
    glibc serves a large allocation with its own memory map, unmapped when
    freed, but raises that threshold (up to 32 MiB) each time such a block is
    freed; from then on blocks of that size come from its heap, where freed
    ones stay resident and fragment. A training step allocates and frees
    activation buffers of several MiB each, so the process's resident memory
    grows well beyond what is alive. A fixed threshold keeps them mapped on
    their own, at the cost of the kernel zeroing fresh pages for each new
    buffer (figures in `benchmarks/README.md`, "Peak memory").

    Python has no binding for `mallopt`, hence `ctypes`. Elsewhere than glibc
    (macOS, musl, Windows) this does nothing.

    Args:
        min_bytes: the smallest allocation mapped on its own.

    Returns:
        Whether the setting took effect.

    Example:
    ```python
    keras_bam.backend.release_large_buffers()  # At program start, before training.
    ```
    """
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_MMAP_THRESHOLD, int(min_bytes)))
