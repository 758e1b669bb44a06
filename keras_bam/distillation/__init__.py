"""Distillation: teacher annealing, the distillation modes, teacher combinations
and the blended-target losses."""

from keras_bam.distillation.annealing import TeacherAnnealing
from keras_bam.distillation.annealing import TeacherAnnealingState
from keras_bam.distillation.losses import blend_classification_targets
from keras_bam.distillation.losses import blend_regression_targets
from keras_bam.distillation.losses import soft_cross_entropy
from keras_bam.distillation.losses import squared_error
from keras_bam.distillation.modes import AnnealedDistillation
from keras_bam.distillation.modes import DistillationMode
from keras_bam.distillation.modes import FixedDistillation
from keras_bam.distillation.modes import GoldOnly
from keras_bam.distillation.modes import MeanLogits
from keras_bam.distillation.modes import MeanProbabilities
from keras_bam.distillation.modes import TeacherCombination
from keras_bam.distillation.modes import distillation_mode_names
from keras_bam.distillation.modes import get_distillation_mode
from keras_bam.distillation.modes import get_teacher_combination
from keras_bam.distillation.modes import register_distillation_mode
from keras_bam.distillation.modes import register_teacher_combination
from keras_bam.distillation.modes import teacher_combination_names

__all__ = [
    "AnnealedDistillation",
    "DistillationMode",
    "FixedDistillation",
    "GoldOnly",
    "MeanLogits",
    "MeanProbabilities",
    "TeacherAnnealing",
    "TeacherAnnealingState",
    "TeacherCombination",
    "blend_classification_targets",
    "blend_regression_targets",
    "distillation_mode_names",
    "get_distillation_mode",
    "get_teacher_combination",
    "register_distillation_mode",
    "register_teacher_combination",
    "soft_cross_entropy",
    "squared_error",
    "teacher_combination_names",
]
