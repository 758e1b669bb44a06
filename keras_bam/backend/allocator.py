"""The C allocator under both backends: freed memory goes back to the system,
and threads share their heaps."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os

# glibc's `mallopt` parameters (malloc.h).
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def _libc(name: str, *argtypes):
    """The C library's function `name`, or None where there is none (not
    glibc). Python has no binding for glibc's allocator settings, hence
    `ctypes`."""
    try:
        function = getattr(ctypes.CDLL(ctypes.util.find_library("c")), name)
    except (OSError, AttributeError, TypeError):
        return None
    function.argtypes = argtypes
    return function


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

    Elsewhere than glibc (macOS, musl, Windows) this does nothing.

    Args:
        min_bytes: the smallest allocation mapped on its own.

    Returns:
        Whether the setting took effect.

    Example:
    ```python
    keras_bam.backend.release_large_buffers()  # At program start, before training.
    ```
    """
    mallopt = _libc("mallopt", ctypes.c_int, ctypes.c_int)
    return bool(mallopt and mallopt(_M_MMAP_THRESHOLD, int(min_bytes)))


def limit_malloc_arenas(count: int | None = None) -> bool:
    """Caps the C allocator's arenas (its separate heaps) at `count`, one per
    CPU core by default.

    glibc gives each new thread that allocates a heap of its own, up to eight
    per core; the backends' thread pools run a step's kernels on many
    threads, and each heap keeps the buffers freed in it for its own threads,
    so resident memory grows with the number of heaps rather than with what is
    alive. Fewer heaps share their freed buffers (figures in
    `benchmarks/README.md`, "Peak memory"). glibc fixes its limit once it has
    more than eight heaps, so this takes effect only when called before the
    backend runs its first operation (importing it is fine). Elsewhere than
    glibc it does nothing.

    Args:
        count: the most arenas; `None`: the number of CPU cores.

    Returns:
        Whether the setting took effect.

    Raises:
        ValueError: if `count` is below 1.

    Example:
    ```python
    keras_bam.backend.limit_malloc_arenas()  # At program start, before training.
    ```
    """
    if count is not None and count < 1:
        raise ValueError(f"limit_malloc_arenas: count must be 1 or more, not {count}.")
    count = count or os.cpu_count() or 1
    mallopt = _libc("mallopt", ctypes.c_int, ctypes.c_int)
    return bool(mallopt and mallopt(_M_ARENA_MAX, int(count)))


def release_freed_memory() -> bool:
    """Collects Python's garbage, then returns the C allocator's free memory
    to the system (glibc's `malloc_trim`).

    A model trained and dropped leaves its freed buffers in the allocator's
    heap, resident, in holes that the next model's buffers of other sizes
    do not all fill: so each phase of a run (a teacher, a student) would start
    higher than the last. `run_glue` calls this between them (after
    `keras.backend.clear_session()`). Elsewhere than glibc only the garbage
    is collected.

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
    trim = _libc("malloc_trim", ctypes.c_size_t)
    return bool(trim and trim(0))
