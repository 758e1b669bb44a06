"""The C allocator: freed activation-sized buffers leave the process, threads
share a bounded number of heaps."""

import os
import platform
import subprocess
import sys
import textwrap

import pytest

import keras_bam

ALLOCATOR = os.path.join(os.path.dirname(keras_bam.__file__), "backend", "allocator.py")

# A training step's pattern: large buffers allocated between small ones that
# stay alive, then freed. The allocator module is loaded from its file, so the
# child starts in a moment (no backend imported).
SCRIPT = textwrap.dedent(
    """
    import importlib.util, sys
    import numpy as np

    spec = importlib.util.spec_from_file_location("allocator", sys.argv[1])
    allocator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(allocator)
    if sys.argv[2] == "release":
        assert allocator.release_large_buffers(2**20)

    def resident_mib():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20

    np.ones(2 * 2**20).sum()  # A 16 MiB buffer freed: glibc raises its threshold.
    before = resident_mib()
    kept, large = [], []
    for _ in range(40):
        large.append(np.ones(2**20))  # 8 MiB, "activations"
        kept.append(np.ones(2**15))  # 256 KiB that stays alive
    del large
    print(resident_mib() - before)
    """
)


def _left_resident_mib(mode: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, ALLOCATOR, mode],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return float(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="glibc's allocator only",
)
def test_freed_large_buffers_leave_the_process():
    """320 MiB of freed 8 MiB buffers stay resident by default; with
    `release_large_buffers` only the 10 MiB still alive does."""
    assert _left_resident_mib("default") > 200
    assert _left_resident_mib("release") < 40


TRIM_SCRIPT = textwrap.dedent(
    """
    import importlib.util, sys
    import numpy as np

    spec = importlib.util.spec_from_file_location("allocator", sys.argv[1])
    allocator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(allocator)

    def resident_mib():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20

    np.ones(2 * 2**20).sum()  # glibc's threshold raised: 8 MiB from its heap.
    before = resident_mib()
    kept, large = [], []
    for _ in range(40):
        large.append(np.ones(2**20))
        kept.append(np.ones(2**15))
    del large
    freed = resident_mib() - before
    assert allocator.release_freed_memory()
    print(freed, resident_mib() - before)
    """
)


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="glibc's allocator only",
)
def test_freed_memory_leaves_the_process_when_released():
    """The 320 MiB of freed buffers that stay resident (above) leave once
    `release_freed_memory` is called; the 10 MiB alive stay."""
    out = subprocess.run(
        [sys.executable, "-c", TRIM_SCRIPT, ALLOCATOR],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    freed, released = map(float, out.stdout.strip().splitlines()[-1].split())
    assert freed > 200
    assert released < 40


ARENAS_SCRIPT = textwrap.dedent(
    """
    import ctypes, ctypes.util, importlib.util, os, re, sys, tempfile, threading
    import numpy as np

    spec = importlib.util.spec_from_file_location("allocator", sys.argv[1])
    allocator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(allocator)
    if sys.argv[2] == "limit":
        assert allocator.limit_malloc_arenas(2)

    def allocate():
        kept = [np.ones(2**12) for _ in range(50)]  # 32 KiB each, from its heap.
        barrier.wait()  # All threads alive at once: none reuses another's heap.
        del kept

    barrier = threading.Barrier(12)
    threads = [threading.Thread(target=allocate) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.fdopen.restype = ctypes.c_void_p
    with tempfile.TemporaryFile() as f:
        stream = libc.fdopen(os.dup(f.fileno()), b"w")
        libc.malloc_info(0, ctypes.c_void_p(stream))
        libc.fclose(ctypes.c_void_p(stream))
        f.seek(0)
        print(len(re.findall(rb"<heap nr=", f.read())))
    """
)


def _arenas(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", ARENAS_SCRIPT, ALLOCATOR, mode],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="glibc's allocator only",
)
def test_threads_share_at_most_the_arenas_allowed():
    """Twelve threads allocating at once get heaps of their own by default (up
    to eight per core); after `limit_malloc_arenas(2)`, two heaps in all."""
    assert _arenas("default") > 2
    assert _arenas("limit") == 2


def test_arena_count_must_be_positive():
    with pytest.raises(ValueError, match="count must be 1 or more"):
        keras_bam.backend.limit_malloc_arenas(0)
