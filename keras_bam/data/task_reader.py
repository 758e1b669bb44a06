"""Reading and checking the splits of your own tasks, from files or memory."""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import re

import numpy as np

from keras_bam.data.errors import GlueDataError
from keras_bam.data.errors import format_location
from keras_bam.data.examples import TaskExamples
from keras_bam.data.tsv_reader import MAX_REPORTED_ERRORS
from keras_bam.data.tsv_reader import NUL_PROBLEM
from keras_bam.data.tsv_reader import raise_collected
from keras_bam.tasks.glue_tasks import GlueTask
from keras_bam.tasks.registry import get_task
from keras_bam.tasks.task import Task

logger = logging.getLogger(__name__)

FILE_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}
# Columns that, when present, hold each example's id in its source.
_ID_COLUMNS = ("id", "idx", "index")


class _Records:
    """A split's rows as `(line, {column: value})`, where they come from, and
    its columns (`None` where each row names its own: JSON Lines, tf.data)."""

    def __init__(self, where: str, columns, rows, lines: bool):
        self.where = where
        self.columns = columns
        self.rows = rows
        self.lines = lines


def read_task_split(task: str | Task, split: str) -> TaskExamples:
    """Reads one split of a task of your own, checking every row.

    The split's data is one of what `Task` describes: a CSV, TSV or JSON Lines
    file, a pandas `DataFrame`, a dict of column lists, a `(texts, labels)`
    pair, or a `tf.data.Dataset`. Every row is checked: a missing column, an
    empty or missing text, an unknown or missing label, a score that is not a
    number or lies outside the task's range. All problems found (up to 20) are
    raised together as one `GlueDataError` naming the file (or the in-memory
    source), the line (or row) and the field; nothing is dropped. A split whose
    name starts with `"test"` may have no labels.

    Args:
        task: a `Task` (or a registered task's name).
        split: one of its splits.

    Returns:
        A `TaskExamples`.

    Example:
    ```python
    task = keras_bam.tasks.Task(
        name="sentiment", text_fields=("text",), label_names=("neg", "pos"),
        splits={"train": (["awful", "lovely"], ["neg", "pos"])})
    keras_bam.data.read_task_split(task, "train").labels  # array([0, 1])
    ```
    """
    task = get_task(task)
    records = _records(task, split, task.split(split))
    return _examples(task, split, records)


def _records(task: Task, split: str, data) -> _Records:
    name = f"{task.name}/{split}"
    if isinstance(data, (str, os.PathLike)):
        return _file_records(os.fspath(data))
    if hasattr(data, "columns") and hasattr(data, "to_dict"):  # A DataFrame.
        columns = [str(c) for c in data.columns]
        return _column_records(
            f"{name} (DataFrame)",
            dict(zip(columns, (data[c].tolist() for c in data.columns))),
        )
    if isinstance(data, dict):
        return _column_records(f"{name} (dict)", data)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return _pair_records(task, f"{name} (texts, labels)", *data)
    if type(data).__module__.startswith("tensorflow") and hasattr(data, "element_spec"):
        return _dataset_records(task, f"{name} (tf.data)", data)
    raise TypeError(
        f"Task '{task.name}' split '{split}': cannot read a {type(data).__name__}; "
        "give a .csv, .tsv or .jsonl file, a DataFrame, a dict of columns, a "
        "(texts, labels) pair or a tf.data.Dataset."
    )


def _file_records(path: str) -> _Records:
    extension = os.path.splitext(path)[1].lower()
    if extension not in FILE_FORMATS:
        raise GlueDataError(
            f"{path}: cannot tell the format from the extension {extension!r}; "
            f"use one of {sorted(FILE_FORMATS)}.",
            path=path,
        )
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file.")
    with open(path, encoding="utf-8-sig", newline="") as f:
        try:
            if FILE_FORMATS[extension] == "jsonl":
                return _Records(path, None, _json_lines(path, f.read()), lines=True)
            delimiter = "," if extension == ".csv" else "\t"
            return _delimited(path, f, delimiter)
        except UnicodeDecodeError as e:
            raise GlueDataError(
                f"{path}: is not valid UTF-8 ({e.reason} at byte {e.start}).",
                path=path,
            ) from e


def _delimited(path: str, file, delimiter: str) -> _Records:
    """A CSV or TSV file with a header line; quoted fields may span lines."""
    reader = csv.reader(file, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise GlueDataError(
            f"{path}: the file is empty; expected a header line.", path=path
        ) from None
    except csv.Error as e:
        raise GlueDataError(f"{path}:1: {e}", path=path, line=1) from e
    rows, problems, start = [], [], reader.line_num + 1
    try:
        for fields in reader:
            if fields:  # csv yields [] for a blank line.
                if len(fields) != len(header):
                    problems.append(
                        (
                            path,
                            start,
                            None,
                            f"has {len(fields)} fields, expected "
                            f"{len(header)} (the header's)",
                        )
                    )
                else:
                    rows.append((start, dict(zip(header, fields))))
            start = reader.line_num + 1
    except csv.Error as e:
        problems.append((path, start, None, str(e)))
    if problems:
        raise_collected(problems[:MAX_REPORTED_ERRORS], path)
    return _Records(path, header, rows, lines=True)


def _json_lines(path: str, text: str) -> list:
    rows, problems = [], []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append((path, number, None, f"is not valid JSON ({e.msg})"))
            continue
        if not isinstance(row, dict):
            problems.append(
                (path, number, None, f"is a JSON {type(row).__name__}, not an object")
            )
            continue
        rows.append((number, row))
    if problems:
        raise_collected(problems[:MAX_REPORTED_ERRORS], path)
    return rows


def _column_records(where: str, columns: dict) -> _Records:
    columns = {str(k): list(v) for k, v in columns.items()}
    lengths = {k: len(v) for k, v in columns.items()}
    if len(set(lengths.values())) > 1:
        raise GlueDataError(
            f"{where}: the columns differ in length: {lengths}.", path=where
        )
    n = next(iter(lengths.values()), 0)
    rows = [(i, {k: v[i] for k, v in columns.items()}) for i in range(n)]
    return _Records(where, list(columns), rows, lines=False)


def _pair_records(task: Task, where: str, texts, labels) -> _Records:
    """`(texts, labels)`: `texts` a list of strings, or two lists for pairs."""
    fields = list(task.text_columns)
    if task.is_pair:
        if not (isinstance(texts, (tuple, list)) and len(texts) == 2):
            raise GlueDataError(
                f"{where}: task '{task.name}' has text pairs: give texts as two "
                "lists, (first texts, second texts).",
                path=where,
            )
        columns = dict(zip(fields, texts))
    else:
        columns = {fields[0]: texts}
    if labels is not None:
        columns[str(task.label_column)] = labels
    return _column_records(where, columns)


def _dataset_records(task: Task, where: str, dataset) -> _Records:
    """A `tf.data.Dataset` of `(texts, label)` (or of texts alone, unlabeled),
    `texts` a string or a pair of strings; or of dicts of columns."""

    def value(x):
        return x.decode("utf-8", errors="replace") if isinstance(x, bytes) else x

    fields, label = list(task.text_columns), str(task.label_column)
    rows = []
    for i, element in enumerate(dataset.as_numpy_iterator()):
        if isinstance(element, dict):
            rows.append((i, {str(k): value(v) for k, v in element.items()}))
            continue
        texts, target = element, None
        nested = isinstance(element, tuple) and len(element) == 2
        if nested and (not task.is_pair or isinstance(element[0], tuple)):
            texts, target = element
        texts = texts if isinstance(texts, tuple) else (texts,)
        row = {f: value(t) for f, t in zip(fields, texts)}
        if target is not None:
            row[label] = target.item() if hasattr(target, "item") else target
        rows.append((i, row))
    return _Records(where, None, rows, lines=False)


def _examples(task: Task, split: str, records: _Records) -> TaskExamples:
    where, errors = records.where, []
    columns = records.columns
    if columns is None:  # Rows name their own fields: the first row's decide.
        columns = list(records.rows[0][1]) if records.rows else []
    missing = [c for c in task.text_columns if c not in columns]
    labeled = task.label_column in columns
    if not labeled and not split.startswith("test"):
        missing.append(task.label_column)
    if missing and records.rows:
        line = (
            1 if records.columns is not None and records.lines else records.rows[0][0]
        )
        raise GlueDataError(
            f"{format_location(where, line, missing[0])}: the column is missing (the "
            f"task's columns: texts {list(task.text_columns)}, label "
            f"'{task.label_column}'); found {columns}.",
            path=where,
            line=line,
            field=str(missing[0]),
        )
    if not records.rows:
        raise GlueDataError(f"{where}: the split has no rows.", path=where)
    texts = [[] for _ in task.text_columns]
    labels, ids, lines = [], [], []
    id_column = next((c for c in _ID_COLUMNS if c in columns), None)
    lookup = _label_lookup(task)
    for line, row in records.rows:
        ok = True
        for column, kept in zip(task.text_columns, texts):
            text = row.get(column)
            problem = _text_problem(text, task)
            if problem:
                errors.append((where, line, column, problem))
                ok = False
            kept.append(text)
        label = _label(task, row, labeled, split, lookup, where, line, errors)
        if not ok or label is None:
            for kept in texts:
                del kept[len(labels) :]
        else:
            labels.append(label)
            ids.append(str(row[id_column]) if id_column else str(len(ids)))
            lines.append(line)
        if len(errors) >= MAX_REPORTED_ERRORS:
            break
    if errors:
        raise_collected(errors, where)
    examples = TaskExamples(
        task=task,
        split=split,
        texts=tuple(texts),
        labels=np.asarray(labels, np.float32 if task.is_regression else np.int64),
        ids=ids,
        source=where,
        lines=np.asarray(lines, np.int64) if records.lines else None,
    )
    logger.info("%s %s: read %d rows from %s.", task.name, split, len(examples), where)
    return examples


# Unicode's control characters (category Cc) but tab and line ends.
_CONTROL_CHARACTER = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _text_problem(text, task: Task) -> str | None:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return "is missing"
    if not isinstance(text, str):
        return f"is a {type(text).__name__}, not a text: {text!r}"
    if not text.strip():
        return "is empty"
    if "\x00" in text:
        return NUL_PROBLEM
    control = (
        _CONTROL_CHARACTER.search(text) if task.control_characters == "refuse" else None
    )
    if control:
        return (
            f"holds the control character U+{ord(control.group()):04X} at "
            f"character {control.start() + 1}: a damaged file? (a task whose "
            "texts hold them on purpose takes control_characters='keep')"
        )
    return None


def _label_lookup(task: Task) -> dict:
    """Label value to class index: the class names, and, where no class name
    reads as a whole number, the indices themselves (Keras's integer labels)."""
    lookup = {name: i for i, name in enumerate(task.written_labels)}
    if not any(name.strip().lstrip("-").isdigit() for name in lookup):
        lookup.update({i: i for i in range(len(lookup))})
    return lookup


def _label(task, row, labeled, split, lookup, where, line, errors):
    """The row's label (class index or score), or `None` after an error;
    -1 or NaN for an unlabeled row of a test split."""
    field = str(task.label_column)
    value = row.get(task.label_column) if labeled else None
    empty = value is None or (isinstance(value, float) and math.isnan(value))
    empty = empty or (isinstance(value, str) and not value.strip())
    if empty:
        if split.startswith("test"):
            return math.nan if task.is_regression else -1
        errors.append((where, line, field, "the label is missing"))
        return None
    if task.is_regression:
        try:
            score = float(value)
        except (TypeError, ValueError):
            errors.append((where, line, field, f"is not a number: {value!r}"))
            return None
        low, high = task.score_range
        if not (math.isfinite(score) and low <= score <= high):
            errors.append(
                (where, line, field, f"score {value!r} is outside [{low:g}, {high:g}]")
            )
            return None
        return score
    key = (
        value if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    )
    if isinstance(value, bytes):
        key = value.decode("utf-8", errors="replace")
    if isinstance(key, int) and key not in lookup:
        key = str(key)  # JSON's 3 for a class named "3".
    if key not in lookup:
        errors.append(
            (
                where,
                line,
                field,
                f"unknown label {value!r}; the task's labels are "
                f"{[k for k in lookup if isinstance(k, str)]}",
            )
        )
        return None
    return lookup[key]


def read_labels(
    task: str | Task, values, where: str = "labels", positions=None
) -> np.ndarray:
    """Label values read as a labeled split's (`read_task_split`).

    Class names (`label_names`, or the labels of the task's files: GLUE's "0"
    and "1" for SST-2) become class indices, and class indices stay (unless
    the class names read as numbers: then a number is a name); scores are
    checked against the task's `score_range`. A missing or unknown label, or
    a score that is not a number or lies outside the range, is an error: all
    problems found (up to 20) are raised together as one `GlueDataError`
    naming each position.

    Args:
        task: a `Task` (or a registered task's name).
        values: a sequence of labels: class names or indices, or scores.
        where: what the errors call the labels' source.
        positions: the position each value is reported at; `0, 1, ...` by
            default.

    Returns:
        int64 class indices, or float32 scores: a `TaskExamples`' `labels`.

    Raises:
        GlueDataError: a label is missing, unknown or out of range.

    Example:
    ```python
    keras_bam.data.read_labels("rte", ["entailment", "not_entailment", 0])
    # array([0, 1, 0])
    ```
    """
    task = get_task(task)
    values = list(values)
    positions = range(len(values)) if positions is None else positions
    lookup = _label_lookup(task)
    for index, name in enumerate(task.label_names):
        lookup.setdefault(name, index)
    labels, errors = [], []
    for position, value in zip(positions, values):
        if isinstance(value, np.generic):
            value = value.item()  # NumPy's ints are not `int`s.
        row = {task.label_column: value}
        label = _label(task, row, True, "train", lookup, where, position, errors)
        labels.append(label)
        if len(errors) >= MAX_REPORTED_ERRORS:
            break
    if errors:
        raise_collected(errors, where)
    return np.asarray(labels, np.float32 if task.is_regression else np.int64)


def training_targets(task: Task, labels: np.ndarray) -> np.ndarray:
    """Gold labels as training targets: int32 classes, or `(n, 1)` scaled scores."""
    if task.is_regression:
        return task.training_targets(labels)[:, None]
    return np.asarray(labels, np.int32)


def check_label_sets(train: TaskExamples, other: TaskExamples) -> None:
    """Raises when `other` (a dev split) has a class that `train` never has:
    the head could not learn it, and the two files disagree on the label set.

    Raises:
        GlueDataError: naming `other`'s source, the first such row's line
            and the label field.
    """
    task = train.task
    if task.is_regression or not other.is_labeled:
        return
    unseen = np.setdiff1d(np.unique(other.labels), np.unique(train.labels))
    if not len(unseen):
        return
    first = int(np.flatnonzero(np.isin(other.labels, unseen))[0])
    line = None if other.lines is None else int(other.lines[first])
    line = first if line is None else line
    names = [task.label_names[int(i)] for i in unseen]
    field = str(task.label_column)
    raise GlueDataError(
        f"{format_location(other.source, line, field)}: the {other.split} split has "
        f"label(s) {names} that the train split ({train.source}) never has; the "
        "two splits must share their label set.",
        path=other.source,
        line=line,
        field=field,
    )


def check_task_data(task: Task) -> dict:
    """Reads and checks every split of a task of your own, before any training.

    Each split as `read_task_split` checks it, then each dev split's labels
    against train's (`check_label_sets`). GLUE's tasks are checked as their
    files are read; for them this reads nothing.

    Args:
        task: a `Task`.

    Returns:
        Split name to `TaskExamples` (empty for a GLUE task).

    Raises:
        GlueDataError: the first split with a problem, naming its source,
            line and field.

    Example:
    ```python
    keras_bam.data.check_task_data(intent)  # {'train': ..., 'dev': ...}
    ```
    """
    if isinstance(task, GlueTask):
        return {}
    examples = {split: read_task_split(task, split) for split in task.splits}
    if "train" in examples:
        for split in task.eval_split:
            if split in examples:
                check_label_sets(examples["train"], examples[split])
    return examples
