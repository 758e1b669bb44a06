"""keras-bam: Born-Again Multi-Task Networks (Clark et al., 2019) in Keras 3.

The top level holds what a run starts from: the one-call pipeline
(`run_glue`), teachers, students and cross-fitted teachers, the models, the
annealing callback, the recipe, the backbone and the data. The rest lives in
namespaces, as in KerasHub: `keras_bam.data`, `keras_bam.training`,
`keras_bam.distillation`, `keras_bam.evaluation`, `keras_bam.models`,
`keras_bam.layers`, `keras_bam.losses`, `keras_bam.optimizers`,
`keras_bam.schedules`, `keras_bam.callbacks`, `keras_bam.backbones`,
`keras_bam.backbone_families` (what keras-bam needs from each encoder family),
`keras_bam.tasks`, `keras_bam.task_metrics` and `keras_bam.backend` (the one
backend-specific place).
"""

import importlib
import warnings

from keras_bam import backbone_families
from keras_bam import backbones
from keras_bam import backend
from keras_bam import callbacks
from keras_bam import data
from keras_bam import distillation
from keras_bam import evaluation
from keras_bam import layers
from keras_bam import losses
from keras_bam import models
from keras_bam import optimizers
from keras_bam import schedules
from keras_bam import task_metrics
from keras_bam import tasks
from keras_bam import training
from keras_bam.annealing import TeacherAnnealing
from keras_bam.backbones import load_backbone
from keras_bam.backbones import load_tokenizer
from keras_bam.cross_fitting import CrossFitRun
from keras_bam.cross_fitting import cross_fit_teacher
from keras_bam.data import load_glue
from keras_bam.export import export_saved_model
from keras_bam.models import MultiTaskModel
from keras_bam.models import SingleTaskModel
from keras_bam.pipeline import GlueRun
from keras_bam.pipeline import run_glue
from keras_bam.recipes import FineTuningRecipe
from keras_bam.student import StudentRun
from keras_bam.student import train_student
from keras_bam.tasks import GLUE_TASKS
from keras_bam.tasks import get_task
from keras_bam.teacher import TeacherRun
from keras_bam.teacher import train_teacher

__version__ = "0.1.0"

# Names that were at the top level before the namespaces, by the namespace that
# holds them now: still reachable here (with a DeprecationWarning) for a while.
_MOVED = {
    "data": (
        "BucketedBatches EncodedCache EncodedExamples GlueDataError "
        "InterleavedBatches Packing PlannedBatches RandomBatches "
        "RemainingBatches SplitLoader TaskExamples TaskPart combine_teachers "
        "concatenate_encoded default_buckets encode_examples encode_texts "
        "example_fingerprint fitted_buckets glue_tsv_path load_glue_tfds "
        "multitask_batches multitask_targets pack_rows read_glue_tsv "
        "tokenizer_fingerprint truncate_longest_first TeacherPredictions "
        "teacher_predictions_path"
    ),
    "backend": (
        "DISTRIBUTIONS ReplicaPaddedBatches as_fit_input data_parallel_devices "
        "distribution_scope enable_compilation_cache enable_op_determinism "
        "initialize_cluster is_chief op_determinism process_count process_index "
        "release_large_buffers strip_padding"
    ),
    "backbones": (
        "BamBertBackbone new_backbone_and_tokenizer pooled_output "
        "set_exact_gelu with_precision"
    ),
    "callbacks": "TeacherAnnealingState NonFiniteLossError StopOnNonFiniteLoss",
    "training": (
        "TrainingCheckpoint BAM_GLUE_TRAIN_SIZES bam_glue_multiples_and_weights "
        "bam_multiples_and_weights sampling_probabilities "
        "task_multiples_and_weights"
    ),
    "cross_fitting": "fold_assignment prediction_statistics",
    "layers": (
        "BitGeneratorDropout ClassTokenEncoder TaskHead reseed_dropout "
        "use_bit_generator_dropout"
    ),
    "losses": (
        "blend_classification_targets blend_regression_targets "
        "soft_cross_entropy squared_error"
    ),
    "evaluation": (
        "glue_metrics glue_scores predictions_from_outputs evaluate "
        "predict_outputs prediction_batches write_teacher_predictions "
        "mean_and_sd paired_bootstrap paired_bootstrap_over_tasks "
        "paired_seed_test format_predictions write_glue_submission"
    ),
    "optimizers": "AdamWeightDecay bert_layerwise_lr_multipliers check_lr_multipliers",
    "packed_encoder": "packable packed_pooled_output",
    "pipeline": "STUDENTS",
    "schedules": "WarmupLinearDecay",
    "tasks": "GlueTask",
    "validation": "check_backbone check_backend",
}
_MOVED_TO = {name: space for space, names in _MOVED.items() for name in names.split()}


def __getattr__(name):
    space = _MOVED_TO.get(name)
    if space is None:
        raise AttributeError(f"module 'keras_bam' has no attribute {name!r}")
    warnings.warn(
        f"keras_bam.{name} is now keras_bam.{space}.{name}; the top-level "
        "name will be removed.",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(f"keras_bam.{space}"), name)
