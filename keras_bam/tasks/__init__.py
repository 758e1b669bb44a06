"""The tasks keras-bam trains: what each is, where its data lies, how it is scored."""

from keras_bam.tasks.glue_tasks import GLUE_TASKS
from keras_bam.tasks.glue_tasks import GlueTask
from keras_bam.tasks.glue_tasks import TsvSplit
from keras_bam.tasks.registry import get_task
from keras_bam.tasks.registry import register_task
from keras_bam.tasks.registry import resolve_tasks
from keras_bam.tasks.task import Task
from keras_bam.tasks.tasks_file import TasksFileError
from keras_bam.tasks.tasks_file import load_tasks_file

__all__ = [
    "GLUE_TASKS",
    "GlueTask",
    "Task",
    "TasksFileError",
    "TsvSplit",
    "get_task",
    "load_tasks_file",
    "register_task",
    "resolve_tasks",
]
