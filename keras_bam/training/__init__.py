"""The training core that teachers, students, cross-fitting and `run_glue` compose.

Settings objects (`DataSettings`, `DistillationSettings`), the run folder's
file names (`RunFolder`, `TeacherFolder`, `StudentFolder`) and the steps of a
run: a prepared backbone, BAM's optimizer, guarded callbacks, a resumable fit
and dev evaluation. Also here: the checkpoint a run resumes from
(`TrainingCheckpoint`) and BAM's task weighting (dataset multiples, sampling
probabilities).
"""

from keras_bam.checkpointing import TrainingCheckpoint
from keras_bam.task_weighting import BAM_GLUE_TRAIN_SIZES
from keras_bam.task_weighting import bam_glue_multiples_and_weights
from keras_bam.task_weighting import bam_multiples_and_weights
from keras_bam.task_weighting import sampling_probabilities
from keras_bam.task_weighting import task_multiples_and_weights
from keras_bam.training.run_folder import RunFolder
from keras_bam.training.run_folder import StudentFolder
from keras_bam.training.run_folder import TeacherFolder
from keras_bam.training.settings import DataSettings
from keras_bam.training.settings import DistillationSettings
from keras_bam.training.steps import evaluate_on_dev
from keras_bam.training.steps import fit_resumably
from keras_bam.training.steps import guarded_callbacks
from keras_bam.training.steps import make_optimizer
from keras_bam.training.steps import prepared_backbone
