"""Scoring models on GLUE and comparing systems: dev metrics, predictions,
teacher-prediction files, test submissions and statistics.

A namespace: each name is defined in its own module (`metrics`, `prediction`,
`submission`, `statistics`) and gathered here, as `keras_hub.metrics` gathers
KerasHub's.
"""

from keras_bam.metrics import glue_metrics
from keras_bam.metrics import glue_scores
from keras_bam.metrics import predictions_from_outputs
from keras_bam.prediction import evaluate
from keras_bam.prediction import predict_outputs
from keras_bam.prediction import prediction_batches
from keras_bam.prediction import write_teacher_predictions
from keras_bam.statistics import mean_and_sd
from keras_bam.statistics import paired_bootstrap
from keras_bam.statistics import paired_bootstrap_over_tasks
from keras_bam.statistics import paired_seed_test
from keras_bam.submission import format_predictions
from keras_bam.submission import write_glue_submission

__all__ = [
    "evaluate",
    "format_predictions",
    "glue_metrics",
    "glue_scores",
    "mean_and_sd",
    "paired_bootstrap",
    "paired_bootstrap_over_tasks",
    "paired_seed_test",
    "predict_outputs",
    "prediction_batches",
    "predictions_from_outputs",
    "write_glue_submission",
    "write_teacher_predictions",
]
