"""Writing a benchmark's table into a Markdown file between two marker lines."""

from __future__ import annotations


def write_between_markers(path: str, marker: str, body: str):
    """Replaces the text between the two `marker` lines of `path` with `body`."""
    with open(path) as f:
        parts = f.read().split(marker)
    if len(parts) != 3:
        raise SystemExit(f"{path} needs two {marker} lines around the table.")
    with open(path, "w") as f:
        f.write(parts[0] + marker + body + marker + parts[2])
