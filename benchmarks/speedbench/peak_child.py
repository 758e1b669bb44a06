"""The speed benchmark's `peak` child: the machine's fp32 (and, with mixed
precision, bf16) matrix-multiply peak, the MFU column's denominator."""

from __future__ import annotations

import os
import time

import numpy as np

from speedbench.timing import emit
from speedbench.timing import say


def child_peak(cfg: dict) -> None:
    """fp32 matrix-multiply peak with numpy and PyTorch (CPU, and CUDA if any)."""

    def best(matmul, n: int, reps: int) -> float:
        matmul()  # warm-up
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            matmul()
            times.append(time.perf_counter() - start)
        return 2 * n**3 / min(times) / 1e9

    results = {}
    rng = np.random.default_rng(0)
    for n in cfg["peak_sizes"]:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        results[f"numpy_{n}"] = best(lambda a=a, b=b: a @ b, n, cfg["peak_reps"])
        say(f"peak numpy sgemm {n}: {results[f'numpy_{n}']:.1f} GFLOP/s")
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(os.cpu_count())
        for n in cfg["peak_sizes"]:
            a, b = torch.randn(n, n), torch.randn(n, n)
            results[f"torch_{n}"] = best(lambda a=a, b=b: a @ b, n, cfg["peak_reps"])
            say(f"peak torch sgemm {n}: {results[f'torch_{n}']:.1f} GFLOP/s")
        if torch.cuda.is_available():
            torch.backends.cuda.matmul.allow_tf32 = False
            for n in cfg["peak_sizes"]:
                a = torch.randn(n, n, device="cuda")
                b = torch.randn(n, n, device="cuda")

                def cuda_mm(a=a, b=b):
                    a @ b
                    torch.cuda.synchronize()

                results[f"cuda_{n}"] = best(cuda_mm, n, cfg["peak_reps"])
                if cfg["precision"] == "mixed_bfloat16":
                    a16, b16 = a.bfloat16(), b.bfloat16()

                    def cuda_mm16(a=a16, b=b16):
                        a @ b
                        torch.cuda.synchronize()

                    results[f"cuda_bf16_{n}"] = best(cuda_mm16, n, cfg["peak_reps"])
    cpu = max(v for k, v in results.items() if not k.startswith("cuda"))
    # The GPU's peak in the run's precision: the MFU column's denominator.
    prefix = "cuda_bf16_" if cfg["precision"] == "mixed_bfloat16" else "cuda_"
    gpu = max(
        (
            v
            for k, v in results.items()
            if k.startswith(prefix) and k[len(prefix)].isdigit()
        ),
        default=None,
    )
    record = {"kind": "peak", "gflops": results, "cpu_peak": cpu, "gpu_peak": gpu}
    if gpu is not None:
        record["gpu_name"] = torch.cuda.get_device_name(0)
    emit(record)
