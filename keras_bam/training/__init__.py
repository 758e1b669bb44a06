"""The training core that teachers, students, cross-fitting and `run_glue` compose.

Settings objects (`DataSettings`, `DistillationSettings`), the run folder's
file names (`RunFolder`, `TeacherFolder`, `StudentFolder`) and the steps of a
run: a prepared backbone, BAM's optimizer, guarded callbacks, a resumable fit
and dev evaluation.
"""

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
