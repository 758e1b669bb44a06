"""release_large_buffers: freed activation-sized buffers leave the process."""

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
