"""Tasks of your own from a tasks file (TOML, YAML or JSON), as the CLI takes them."""

from __future__ import annotations

import dataclasses
import json
import os

from keras_bam.tasks.registry import register_task
from keras_bam.tasks.task import Task

# The keys of a task's entry: `Task`'s fields but its name (the entry's key).
ENTRY_KEYS = tuple(f.name for f in dataclasses.fields(Task) if f.name not in ("name",))
_TUPLES = ("text_fields", "label_names", "metrics", "eval_split", "text_columns")


class TasksFileError(ValueError):
    """A tasks file that cannot be read or defines a task badly.

    Args:
        message: what is wrong, starting with the file and the entry.
        path: the tasks file.
        entry: the entry (`tasks.<name>`, or `tasks.<name>.<key>`), or `None`
            for the whole file.
    """

    def __init__(self, message: str, path: str, entry: str | None = None):
        super().__init__(message)
        self.path = path
        self.entry = entry


def _parse(path: str) -> dict:
    extension = os.path.splitext(path)[1].lower()
    with open(path, "rb") as f:
        raw = f.read()
    try:
        if extension == ".toml":
            try:
                import tomllib
            except ImportError:  # Python 3.10: the same parser, as a package.
                import tomli as tomllib

            return tomllib.loads(raw.decode("utf-8"))
        if extension == ".json":
            return json.loads(raw, object_pairs_hook=_unique_keys)
        if extension in (".yaml", ".yml"):
            import yaml

            return yaml.safe_load(raw)
    except TasksFileError:
        raise
    except Exception as e:  # Each parser has its own error type.
        kind = extension[1:].upper()
        raise TasksFileError(f"{path}: not valid {kind}: {e}", path) from None
    raise TasksFileError(
        f"{path}: a tasks file is .toml, .yaml, .yml or .json, not "
        f"{extension or 'extension-less'}.",
        path,
    )


def _unique_keys(pairs):
    keys = [k for k, _ in pairs]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise ValueError(f"the key(s) {repeated} are given twice in one object")
    return dict(pairs)


def load_tasks_file(path: str | os.PathLike) -> list:
    """Reads tasks of your own from a tasks file, and registers them.

    The file holds a `tasks` table with one entry per task, keyed by the
    task's name; each entry holds `Task`'s fields. Split files are relative
    to the tasks file's folder. In TOML:

    ```toml
    [tasks.intent]
    text_fields = ["text"]
    label_names = ["greet", "order", "cancel", "refund", "other"]
    metrics = ["accuracy", "macro_f1"]
    splits = { train = "intent/train.csv", dev = "intent/dev.csv" }

    [tasks.similarity]
    text_fields = ["first", "second"]
    score_range = [0, 1]
    splits = { train = "similarity/train.jsonl", dev = "similarity/dev.jsonl" }
    ```

    JSON and YAML hold the same structure. Every entry is checked before any
    is registered: an unknown key, a missing or ill-typed field, or a name
    that clashes with GLUE's tasks is an error naming the file and the entry.

    Args:
        path: a `.toml`, `.json`, `.yaml` or `.yml` file.

    Returns:
        The `Task`s, in the file's order.

    Raises:
        TasksFileError: naming the file and the entry at fault.

    Example:
    ```python
    tasks = keras_bam.tasks.load_tasks_file("my_tasks.toml")
    keras_bam.run_glue(tasks, output_dir="runs/mine")
    ```
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise TasksFileError(f"{path}: no such tasks file.", path)
    content = _parse(path)
    if not isinstance(content, dict) or set(content) != {"tasks"}:
        found = sorted(content) if isinstance(content, dict) else type(content).__name__
        raise TasksFileError(
            f"{path}: a tasks file holds one table, 'tasks' (task name to its "
            f"entry); found {found}.",
            path,
        )
    entries = content["tasks"]
    if not isinstance(entries, dict) or not entries:
        raise TasksFileError(
            f"{path}: 'tasks' must map each task's name to its entry.", path, "tasks"
        )
    folder = os.path.dirname(os.path.abspath(path))
    tasks = [_task(path, folder, name, entry) for name, entry in entries.items()]
    for task in tasks:
        try:
            register_task(task)
        except ValueError as e:
            raise TasksFileError(f"{path}: tasks.{task.name}: {e}", path) from None
    return tasks


def _task(path: str, folder: str, name, entry) -> Task:
    where = f"tasks.{name}"
    if not isinstance(entry, dict):
        raise TasksFileError(
            f"{path}: {where}: an entry is a table of Task fields, not a "
            f"{type(entry).__name__}.",
            path,
            where,
        )
    unknown = sorted(set(entry) - set(ENTRY_KEYS))
    if unknown:
        raise TasksFileError(
            f"{path}: {where}: unknown key(s) {unknown}; a task's keys are "
            f"{list(ENTRY_KEYS)}.",
            path,
            f"{where}.{unknown[0]}",
        )
    fields = dict(entry)
    for key in _TUPLES:
        if isinstance(fields.get(key), list):
            fields[key] = tuple(fields[key])
    if isinstance(fields.get("score_range"), list):
        fields["score_range"] = tuple(fields["score_range"])
    splits = fields.get("splits", {})
    if not isinstance(splits, dict) or not all(
        isinstance(f, str) for f in splits.values()
    ):
        raise TasksFileError(
            f"{path}: {where}.splits: each split names a file (split name to "
            f"path), got {splits!r}.",
            path,
            f"{where}.splits",
        )
    fields["splits"] = {s: os.path.join(folder, f) for s, f in splits.items()}
    try:
        return Task(name=str(name), **fields)
    except (TypeError, ValueError) as e:
        raise TasksFileError(f"{path}: {where}: {e}", path, where) from None
