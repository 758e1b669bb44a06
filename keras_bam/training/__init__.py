"""Training: teachers, students, cross-fitted teachers and the whole GLUE run,
with what they compose: recipes, settings, the run folder, the optimizer and
schedule, callbacks, checkpoints and BAM's task weighting."""

from keras_bam.training.callbacks import NonFiniteLossError
from keras_bam.training.callbacks import StopOnNonFiniteLoss
from keras_bam.training.checkpoint import TrainingCheckpoint
from keras_bam.training.cross_fitting import CrossFitRun
from keras_bam.training.cross_fitting import cross_fit_teacher
from keras_bam.training.cross_fitting import fold_assignment
from keras_bam.training.cross_fitting import prediction_statistics
from keras_bam.training.glue_run import GlueRun
from keras_bam.training.glue_run import run_glue
from keras_bam.training.optimizers import AdamWeightDecay
from keras_bam.training.optimizers import bert_layerwise_lr_multipliers
from keras_bam.training.optimizers import check_lr_multipliers
from keras_bam.training.recipes import FineTuningRecipe
from keras_bam.training.run_folder import RunFolder
from keras_bam.training.run_folder import StudentFolder
from keras_bam.training.run_folder import TeacherFolder
from keras_bam.training.schedules import WarmupLinearDecay
from keras_bam.training.settings import DataSettings
from keras_bam.training.settings import DistillationSettings
from keras_bam.training.steps import evaluate_on_dev
from keras_bam.training.steps import fit_resumably
from keras_bam.training.steps import guarded_callbacks
from keras_bam.training.steps import make_optimizer
from keras_bam.training.steps import prepared_backbone
from keras_bam.training.student import StudentRun
from keras_bam.training.student import train_student
from keras_bam.training.task_weighting import BAM_GLUE_TRAIN_SIZES
from keras_bam.training.task_weighting import bam_glue_multiples_and_weights
from keras_bam.training.task_weighting import bam_multiples_and_weights
from keras_bam.training.task_weighting import sampling_probabilities
from keras_bam.training.task_weighting import task_multiples_and_weights
from keras_bam.training.teacher import TeacherRun
from keras_bam.training.teacher import train_teacher

__all__ = [
    "AdamWeightDecay",
    "BAM_GLUE_TRAIN_SIZES",
    "CrossFitRun",
    "DataSettings",
    "DistillationSettings",
    "FineTuningRecipe",
    "GlueRun",
    "NonFiniteLossError",
    "RunFolder",
    "StopOnNonFiniteLoss",
    "StudentFolder",
    "StudentRun",
    "TeacherFolder",
    "TeacherRun",
    "TrainingCheckpoint",
    "WarmupLinearDecay",
    "bam_glue_multiples_and_weights",
    "bam_multiples_and_weights",
    "bert_layerwise_lr_multipliers",
    "check_lr_multipliers",
    "cross_fit_teacher",
    "evaluate_on_dev",
    "fit_resumably",
    "fold_assignment",
    "guarded_callbacks",
    "make_optimizer",
    "prediction_statistics",
    "prepared_backbone",
    "run_glue",
    "sampling_probabilities",
    "task_multiples_and_weights",
    "train_student",
    "train_teacher",
]
