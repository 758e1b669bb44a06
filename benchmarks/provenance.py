"""What a benchmark result records about where it was measured."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import tempfile

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


def _folders() -> list:
    """This machine's folders that stored results name relatively, the longest
    first: the checkout, its parent (`..`), the temporary folder (`$TMPDIR`) and
    the home folder (`~`)."""
    folders = {}
    for path, name in (
        (ROOT, "."),
        (os.path.dirname(ROOT), ".."),
        (os.path.realpath(tempfile.gettempdir()), "$TMPDIR"),
        (os.path.expanduser("~"), "~"),
    ):
        if path not in ("", os.sep):
            folders.setdefault(path, name)
    return sorted(folders.items(), key=lambda item: len(item[0]), reverse=True)


def portable(value):
    """`value` (a string, or lists and dicts of them) with this machine's
    absolute paths made relative, as results store them: `<checkout>/x` becomes
    `x` and the checkout itself `.`; the checkout's parent becomes `..`, the
    temporary and home folders `$TMPDIR` and `~`. A stored result then names
    the same files on any machine."""
    if isinstance(value, dict):
        return {key: portable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(portable(item) for item in value)
    if not isinstance(value, str):
        return value
    for path, name in _folders():
        pattern = re.compile(
            rf"(?<![\w./~-]){re.escape(path)}(/(?=[\w.$~-])|(?![\w.-]))"
        )
        if name == ".":
            value = pattern.sub(lambda m: "" if m.group(1) else ".", value)
        else:
            value = pattern.sub(lambda m, name=name: name + m.group(1), value)
    return value
