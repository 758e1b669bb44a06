"""The C allocator under both backends: freed memory goes back to the system."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

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


def release_freed_memory() -> bool:
    """Collects Python's garbage, then returns the C allocator's free memory
    to the system (glibc's `malloc_trim`).

    A model trained and dropped leaves its freed buffers in the allocator's
    heap, resident, in holes that the next model's buffers of other sizes
    do not all fill: so each phase of a run (a teacher, a student) would start
    higher than the last. `run_glue` calls this between them (after
    `keras.backend.clear_session()`). Python has no binding for `malloc_trim`,
    hence `ctypes`; elsewhere than glibc only the garbage is collected.

    Returns:
        Whether the allocator returned memory (glibc's answer).

    Example:
    ```python
    del model
    keras.backend.clear_session()
    keras_bam.backend.release_freed_memory()
    ```
    """
    gc.collect()
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
    except (OSError, AttributeError, TypeError):
        return False
    trim.argtypes = (ctypes.c_size_t,)
    return bool(trim(0))
