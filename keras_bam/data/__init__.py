"""Task data: reading (GLUE's and your own), validation, encoding, caching,
batching, and teachers' prediction files."""

from keras_bam.data.batching import BucketedBatches
from keras_bam.data.batching import PlannedBatches
from keras_bam.data.batching import RandomBatches
from keras_bam.data.batching import RemainingBatches
from keras_bam.data.buckets import default_buckets
from keras_bam.data.buckets import fitted_buckets
from keras_bam.data.cache import EncodedCache
from keras_bam.data.encoding import EncodedExamples
from keras_bam.data.encoding import concatenate_encoded
from keras_bam.data.encoding import encode_examples
from keras_bam.data.encoding import encode_texts
from keras_bam.data.encoding import tokenizer_fingerprint
from keras_bam.data.encoding import truncate_longest_first
from keras_bam.data.errors import GlueDataError
from keras_bam.data.examples import TaskExamples
from keras_bam.data.examples import example_fingerprint
from keras_bam.data.loading import SplitLoader
from keras_bam.data.loading import load_glue
from keras_bam.data.multitask import InterleavedBatches
from keras_bam.data.multitask import TaskPart
from keras_bam.data.multitask import combine_teachers
from keras_bam.data.multitask import multitask_batches
from keras_bam.data.multitask import multitask_targets
from keras_bam.data.packing import Packing
from keras_bam.data.packing import pack_rows
from keras_bam.data.streams import BatchStream
from keras_bam.data.task_reader import check_label_sets
from keras_bam.data.task_reader import check_task_data
from keras_bam.data.task_reader import read_labels
from keras_bam.data.task_reader import read_task_split
from keras_bam.data.teacher_predictions import TeacherPredictions
from keras_bam.data.teacher_predictions import teacher_predictions_file
from keras_bam.data.teacher_predictions import teacher_predictions_path
from keras_bam.data.tfds_reader import load_glue_tfds
from keras_bam.data.tsv_reader import glue_tsv_path
from keras_bam.data.tsv_reader import read_glue_tsv

__all__ = [
    "BatchStream",
    "BucketedBatches",
    "EncodedCache",
    "EncodedExamples",
    "GlueDataError",
    "InterleavedBatches",
    "Packing",
    "PlannedBatches",
    "RandomBatches",
    "RemainingBatches",
    "SplitLoader",
    "TaskExamples",
    "TaskPart",
    "TeacherPredictions",
    "check_label_sets",
    "check_task_data",
    "combine_teachers",
    "concatenate_encoded",
    "default_buckets",
    "encode_examples",
    "encode_texts",
    "example_fingerprint",
    "fitted_buckets",
    "glue_tsv_path",
    "load_glue",
    "load_glue_tfds",
    "multitask_batches",
    "multitask_targets",
    "pack_rows",
    "read_glue_tsv",
    "read_labels",
    "read_task_split",
    "teacher_predictions_file",
    "teacher_predictions_path",
    "tokenizer_fingerprint",
    "truncate_longest_first",
]
