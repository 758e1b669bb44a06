"""Errors raised for bad input data."""

from __future__ import annotations


class GlueDataError(ValueError):
    """Bad data in a task's file (GLUE's or yours) or a keras-bam artifact.

    The message names the file, the line (1-based, as an editor shows it) and the
    field. When several rows are bad, `errors` lists every problem found (up to a
    limit), and the attributes describe the first.

    Args:
        message: what is wrong.
        path: the file.
        line: 1-based line number, or `None` for a whole-file problem.
        field: the column or field name, or `None`.
        errors: all problems found, as `(path, line, field, message)` tuples.
    """

    def __init__(self, message, path=None, line=None, field=None, errors=None):
        self.path = None if path is None else str(path)
        self.line = line
        self.field = field
        self.errors = list(errors or [(self.path, line, field, message)])
        super().__init__(message)


def format_location(path, line=None, field=None) -> str:
    """`path:line: field 'x'`, the prefix of every data error message."""
    location = str(path)
    if line is not None:
        location += f":{line}"
    if field is not None:
        location += f": field '{field}'"
    return location
