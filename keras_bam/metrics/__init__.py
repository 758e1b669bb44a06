"""Keras metrics for the tasks' dev scores, streamed during `fit` and `evaluate`."""

from keras_bam.metrics.task_metrics import BinaryF1
from keras_bam.metrics.task_metrics import GlueScore
from keras_bam.metrics.task_metrics import MacroF1
from keras_bam.metrics.task_metrics import MatthewsCorrelation
from keras_bam.metrics.task_metrics import MulticlassMatthewsCorrelation
from keras_bam.metrics.task_metrics import Pearson
from keras_bam.metrics.task_metrics import glue_task_metrics

__all__ = [
    "BinaryF1",
    "GlueScore",
    "MacroF1",
    "MatthewsCorrelation",
    "MulticlassMatthewsCorrelation",
    "Pearson",
    "glue_task_metrics",
]
