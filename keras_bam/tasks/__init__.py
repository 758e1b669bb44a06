"""The tasks keras-bam trains: what each is, where its data lies, how it is scored."""

from keras_bam.tasks.glue_tasks import GLUE_TASKS
from keras_bam.tasks.glue_tasks import GlueTask
from keras_bam.tasks.glue_tasks import get_task

__all__ = [
    "GLUE_TASKS",
    "GlueTask",
    "get_task",
]
