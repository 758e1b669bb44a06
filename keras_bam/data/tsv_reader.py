"""Reading and validating the standard GLUE TSV files."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import math
import os

import numpy as np

from keras_bam.data.errors import GlueDataError
from keras_bam.data.errors import format_location
from keras_bam.data.examples import TaskExamples
from keras_bam.tasks.glue_tasks import GlueTask
from keras_bam.tasks.registry import get_task

logger = logging.getLogger(__name__)

_BOM = b"\xef\xbb\xbf"
# How many problems one error lists before it stops collecting.
MAX_REPORTED_ERRORS = 20
# A NUL byte in a text file marks a damaged one. GLUE's own files hold a few
# other control characters (CoLA's train file U+0008, STS-B's U+0012), which
# are kept as GLUE has them.
NUL_PROBLEM = "holds a NUL byte (U+0000): the file is damaged"


def glue_tsv_path(task: str | GlueTask, split: str, data_dir: str | os.PathLike) -> str:
    """The path of a split's file in the standard GLUE folder layout."""
    task = get_task(task)
    return os.path.join(os.fspath(data_dir), task.tsv_folder, task.split(split).file)


def _split_lines(file):
    """Yields `(line_number, bytes)` for each line of a binary file, reading as it
    goes; tolerates a missing final newline, a UTF-8 byte-order mark and Windows
    line ends. Only `\\n` ends a line (binary files split on nothing else): GLUE
    texts may hold other Unicode line separators."""
    for number, line in enumerate(file, start=1):
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM) :]
            if not line:  # A file holding only the mark.
                return
        if line.endswith(b"\n"):
            line = line[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
        yield number, line


@contextlib.contextmanager
def _collection_paused():
    """Pauses Python's cyclic garbage collector: the millions of short-lived row
    objects of a large file would otherwise trigger collections that scan all
    that was kept so far."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_glue_tsv(
    task: str | GlueTask,
    split: str,
    data_dir: str | os.PathLike,
    path: str | os.PathLike | None = None,
) -> TaskExamples:
    """Reads one split of a GLUE task from the standard GLUE TSV folder.

    Handles the quirks of the real files: CoLA's train/dev have no header, MRPC
    starts with a UTF-8 byte-order mark, some files lack a final newline, and texts
    contain quote characters that must not be interpreted (no quoting is applied).
    Every row is validated; nothing is dropped. All problems found (up to 20) are
    raised together as one `GlueDataError` naming file, line and field.

    Args:
        task: a task name or `GlueTask`.
        split: a split of the task, e.g. `"train"`, `"dev"`, `"dev_matched"`.
        data_dir: the GLUE folder (holding `RTE/`, `CoLA/`, ...).
        path: read this file instead of the standard location.

    Returns:
        A `TaskExamples` with one example per data row.

    Example:
    ```python
    dev = keras_bam.data.read_glue_tsv("mrpc", "dev", "../shared/glue")
    print(len(dev))  # 408
    ```
    """
    task = get_task(task)
    layout = task.split(split)
    path = os.fspath(path) if path is not None else glue_tsv_path(task, split, data_dir)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path}: no such file: the {task.display_name} '{split}' split is "
            f"expected at <data_dir>/{task.tsv_folder}/{layout.file}."
        )
    # Streamed: the file is never held whole, only the rows kept.
    with open(path, "rb") as f, _collection_paused():
        return _read_rows(task, split, layout, path, _split_lines(f))


@dataclasses.dataclass
class _Columns:
    """Where a split's fields are: its header (if any), column count, text,
    label and id columns, and each column's name for error messages."""

    header: list | None
    count: int
    text: list
    label: int | None
    names: list
    ids: int | tuple | None


def _read_columns(task: GlueTask, layout, path: str, lines) -> _Columns:
    """The split's `_Columns`, from its header line (read from `lines`) or,
    for a file without one, from the task's layout."""
    header = None
    if layout.has_header:
        first = next(lines, None)
        if first is None:
            raise GlueDataError(
                f"{path}: the file is empty; expected a header line.", path=path
            )
        header = first[1].decode("utf-8", errors="replace").split("\t")
    count = len(header) if header is not None else layout.num_columns

    def column_index(column, role):
        if isinstance(column, int):
            return column
        if column not in header:
            raise GlueDataError(
                f"{format_location(path, 1)}: the header has no '{column}' column "
                f"(the {role}). Header: {header}.",
                path=path,
                line=1,
                field=column,
            )
        return header.index(column)

    id_column = None
    if header is not None:
        id_column = next(
            (header.index(n) for n in ("index", "id", "pairID") if n in header), None
        )
        if task.name == "mrpc" and "#1 ID" in header and "#2 ID" in header:
            id_column = (header.index("#1 ID"), header.index("#2 ID"))
    return _Columns(
        header=header,
        count=count,
        text=[column_index(c, "text") for c in layout.text_columns],
        label=(
            None
            if layout.label_column is None
            else column_index(layout.label_column, "label")
        ),
        names=header or [f"column {i}" for i in range(count)],
        ids=id_column,
    )


def raise_collected(errors: list, path: str):
    """Raises one `GlueDataError` listing every problem found in `path`."""
    shown = "\n".join(
        f"  {format_location(p, ln, fd)}: {msg}" for p, ln, fd, msg in errors
    )
    more = " (stopped collecting)" if len(errors) >= MAX_REPORTED_ERRORS else ""
    first_path, first_line, first_field, first_message = errors[0]
    raise GlueDataError(
        f"{format_location(first_path, first_line, first_field)}: {first_message}"
        f"\n{len(errors)} bad row(s) in {path}{more}; nothing was loaded:\n{shown}",
        path=first_path,
        line=first_line,
        field=first_field,
        errors=errors,
    )


def _read_rows(task: GlueTask, split: str, layout, path: str, lines) -> TaskExamples:
    """`read_glue_tsv` of the `(line_number, bytes)` pairs of `lines`."""
    errors = []

    def problem(line, field, message):
        errors.append((path, line, field, message))

    columns = _read_columns(task, layout, path, lines)
    label_lookup = {label: i for i, label in enumerate(task.written_labels)}
    # Locals, not attribute lookups, in the loop over every row.
    count, text_columns, names = columns.count, columns.text, columns.names
    id_column, label_column = columns.ids, columns.label
    texts = [[] for _ in text_columns]
    labels, ids, line_numbers = [], [], []
    rows_read = 0
    for number, line in lines:
        rows_read += 1
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            problem(number, None, f"is not valid UTF-8 ({e.reason} at byte {e.start})")
            continue
        fields = text.split("\t")
        if len(fields) != count:
            problem(
                number,
                None,
                f"has {len(fields)} tab-separated fields, expected {count}",
            )
            continue
        row_ok = True
        if "\x00" in text:  # One test per line; the fields only when it holds one.
            for name, value in zip(names, fields):
                if "\x00" in value:
                    problem(number, name, NUL_PROBLEM)
                    row_ok = False
        row_texts = []
        for column in text_columns:
            value = fields[column]
            if not value.strip():
                problem(number, names[column], "is empty")
                row_ok = False
            row_texts.append(value)
        label = _parse_label(
            task, fields, label_column, names, label_lookup, number, problem
        )
        if label is None or not row_ok:
            continue
        for column_texts, value in zip(texts, row_texts):
            column_texts.append(value)
        labels.append(label)
        if isinstance(id_column, tuple):
            ids.append("/".join(fields[i] for i in id_column))
        elif id_column is not None:
            ids.append(fields[id_column])
        else:
            ids.append(str(len(ids)))
        line_numbers.append(number)
        if len(errors) >= MAX_REPORTED_ERRORS:
            break
    if errors:
        raise_collected(errors, path)
    if rows_read == 0:
        raise GlueDataError(f"{path}: the file has no data rows.", path=path)
    examples = TaskExamples(
        task=task,
        split=split,
        texts=tuple(texts),
        labels=np.asarray(labels, dtype=np.float32 if task.is_regression else np.int64),
        ids=ids,
        source=path,
        lines=np.asarray(line_numbers, dtype=np.int64),
    )
    logger.info(
        "%s %s: read %d rows from %s, kept %d.",
        task.display_name,
        split,
        rows_read,
        path,
        len(examples),
    )
    return examples


def _parse_label(task, fields, label_column, field_names, lookup, number, problem):
    """The label of one row, or None after reporting a problem."""
    if label_column is None:
        return math.nan if task.is_regression else -1
    value = fields[label_column]
    name = field_names[label_column]
    if task.is_regression:
        try:
            score = float(value)
        except ValueError:
            problem(number, name, f"is not a number: {value!r}")
            return None
        low, high = task.score_range
        if not math.isfinite(score) or not low <= score <= high:
            problem(number, name, f"score {value!r} is outside [{low:g}, {high:g}]")
            return None
        return score
    if value not in lookup:
        problem(
            number,
            name,
            f"unknown label {value!r}; {task.display_name} labels are "
            f"{list(task.written_labels)}",
        )
        return None
    return lookup[value]
