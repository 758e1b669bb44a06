"""Scoring models and comparing systems: GLUE metrics, predictions,
teacher-prediction files, test submissions and statistics."""

from keras_bam.evaluation.prediction import evaluate
from keras_bam.evaluation.prediction import predict_outputs
from keras_bam.evaluation.prediction import prediction_batches
from keras_bam.evaluation.prediction import write_teacher_predictions
from keras_bam.evaluation.scoring import glue_metrics
from keras_bam.evaluation.scoring import glue_scores
from keras_bam.evaluation.scoring import predictions_from_outputs
from keras_bam.evaluation.statistics import mean_and_sd
from keras_bam.evaluation.statistics import paired_bootstrap
from keras_bam.evaluation.statistics import paired_bootstrap_over_tasks
from keras_bam.evaluation.statistics import paired_seed_test
from keras_bam.evaluation.submission import format_predictions
from keras_bam.evaluation.submission import write_glue_submission

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
