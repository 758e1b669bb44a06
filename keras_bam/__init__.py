"""keras-bam: Born-Again Multi-Task Networks (Clark et al., 2019) in Keras 3."""

from keras_bam.backbones import load_backbone
from keras_bam.backbones import load_tokenizer
from keras_bam.backbones import set_exact_gelu
from keras_bam.backend_utils import as_fit_input
from keras_bam.data import BucketedBatches
from keras_bam.data import EncodedCache
from keras_bam.data import EncodedExamples
from keras_bam.data import GlueDataError
from keras_bam.data import TaskExamples
from keras_bam.data import concatenate_encoded
from keras_bam.data import default_buckets
from keras_bam.data import encode_examples
from keras_bam.data import example_fingerprint
from keras_bam.data import glue_tsv_path
from keras_bam.data import load_glue
from keras_bam.data import load_glue_tfds
from keras_bam.data import read_glue_tsv
from keras_bam.data import tokenizer_fingerprint
from keras_bam.data import truncate_longest_first
from keras_bam.layers import TaskHead
from keras_bam.losses import blend_classification_targets
from keras_bam.losses import blend_regression_targets
from keras_bam.losses import soft_cross_entropy
from keras_bam.losses import squared_error
from keras_bam.metrics import glue_metrics
from keras_bam.metrics import predictions_from_outputs
from keras_bam.models import SingleTaskModel
from keras_bam.optimizers import AdamWeightDecay
from keras_bam.optimizers import bert_layerwise_lr_multipliers
from keras_bam.recipes import FineTuningRecipe
from keras_bam.schedules import WarmupLinearDecay
from keras_bam.task_weighting import BAM_GLUE_TRAIN_SIZES
from keras_bam.task_weighting import bam_multiples_and_weights
from keras_bam.task_weighting import sampling_probabilities
from keras_bam.tasks import GLUE_TASKS
from keras_bam.tasks import GlueTask
from keras_bam.tasks import get_task
from keras_bam.teacher import TeacherRun
from keras_bam.teacher import evaluate
from keras_bam.teacher import predict_outputs
from keras_bam.teacher import train_teacher
from keras_bam.teacher_predictions import TeacherPredictions

__version__ = "0.1.0"
