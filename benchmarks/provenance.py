"""What a benchmark result records about where it was measured."""

from __future__ import annotations

import os
import platform
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def code_version() -> str:
    """The repository's short commit hash, or `"unknown"` outside a git checkout."""
    try:
        return subprocess.run(
            ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> str:
    """The processor and core count, e.g. `"x86_64, 2 cores"`."""
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
