"""Finding tasks by name: GLUE's, and the tasks of your own a run was given."""

from __future__ import annotations

from keras_bam.tasks.glue_tasks import GLUE_ALIASES
from keras_bam.tasks.glue_tasks import GLUE_TASKS
from keras_bam.tasks.task import Task

# Tasks of your own by name, as `register_task` last saw them: files and
# artifacts record a task's name, and reading them back needs its definition.
_REGISTERED: dict = {}


def _glue_key(name: str) -> str:
    key = str(name).strip().lower()
    return GLUE_ALIASES.get(key, key)


def register_task(task: Task) -> Task:
    """Makes a task of your own known by its name to `get_task`.

    Entry points (`train_teacher`, `train_student`, `run_glue`, task models)
    register the tasks they are given; a later definition under the same name
    replaces an earlier one. GLUE's tasks are always known.

    Args:
        task: a `Task`.

    Returns:
        `task`.

    Raises:
        ValueError: `task`'s name is one of GLUE's (or an alias of one).

    Example:
    ```python
    keras_bam.tasks.register_task(intent)
    keras_bam.get_task("intent") is intent  # True
    ```
    """
    if not isinstance(task, Task):
        raise TypeError(f"register_task takes a Task, got {type(task).__name__}.")
    if task.name not in GLUE_TASKS or task is not GLUE_TASKS[task.name]:
        if _glue_key(task.name) in GLUE_TASKS:
            raise ValueError(
                f"Task name '{task.name}' clashes with GLUE's "
                f"{GLUE_TASKS[_glue_key(task.name)].display_name}; give your task "
                "another name."
            )
        _REGISTERED[task.name] = task
    return task


def get_task(name: str | Task) -> Task:
    """The task of a name: GLUE's (`"rte"`, `"STS-B"`, `"sst-2"`; any case) or
    a registered task of your own (its exact name).

    Args:
        name: a task name, or a `Task` (returned as is).

    Returns:
        The `Task` (a `GlueTask` for GLUE's).

    Example:
    ```python
    task = keras_bam.get_task("STS-B")
    task.is_regression  # True
    ```
    """
    if isinstance(name, Task):
        return name
    key = _glue_key(name)
    if key in GLUE_TASKS:
        return GLUE_TASKS[key]
    if name in _REGISTERED:
        return _REGISTERED[name]
    own = f" Your own tasks: {', '.join(sorted(_REGISTERED))}." if _REGISTERED else ""
    raise ValueError(
        f"Unknown task '{name}': not a GLUE task ({', '.join(sorted(GLUE_TASKS))})"
        f" nor a registered task of your own.{own}"
    )


def resolve_tasks(tasks) -> list:
    """`tasks` (names or `Task`s) as `Task`s, own ones registered.

    Raises:
        ValueError: no tasks, or two of them share a name.
    """
    if isinstance(tasks, (str, Task)):
        tasks = [tasks]
    resolved = []
    for task in tasks:
        if isinstance(task, dict):
            task = Task.from_config(task)
        if isinstance(task, Task):
            register_task(task)
        resolved.append(get_task(task))
    names = [t.name for t in resolved]
    clashing = sorted({n for n in names if names.count(n) > 1})
    if clashing:
        raise ValueError(
            f"Tasks {clashing} are given more than once (task names must be distinct)."
        )
    if not resolved:
        raise ValueError("No tasks given.")
    return resolved


def task_name(task: str | Task) -> str:
    """A task's canonical name (`"STS-B"` -> `"stsb"`) without needing its
    definition: what files and folders are named by."""
    if isinstance(task, Task):
        return task.name
    key = _glue_key(task)
    return key if key in GLUE_TASKS else str(task)
