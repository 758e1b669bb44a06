"""keras-bam: Born-Again Multi-Task Networks (Clark et al., 2019) in Keras 3.

The top level holds what a run starts from; the rest lives in namespaces, each
a folder that defines its names: `tasks`, `data`, `models`, `metrics`,
`distillation`, `training`, `evaluation` and `backend` (the one
backend-specific place).
"""

from keras_bam import backend
from keras_bam import data
from keras_bam import distillation
from keras_bam import evaluation
from keras_bam import metrics
from keras_bam import models
from keras_bam import tasks
from keras_bam import training
from keras_bam.data.loading import load_glue
from keras_bam.distillation.annealing import TeacherAnnealing
from keras_bam.models.backbones import load_backbone
from keras_bam.models.backbones import load_tokenizer
from keras_bam.models.export import export_saved_model
from keras_bam.models.task_models import MultiTaskModel
from keras_bam.models.task_models import SingleTaskModel
from keras_bam.tasks.glue_tasks import GLUE_TASKS
from keras_bam.tasks.registry import get_task
from keras_bam.training.cross_fitting import CrossFitRun
from keras_bam.training.cross_fitting import cross_fit_teacher
from keras_bam.training.glue_run import GlueRun
from keras_bam.training.glue_run import run_glue
from keras_bam.training.recipes import FineTuningRecipe
from keras_bam.training.student import StudentRun
from keras_bam.training.student import train_student
from keras_bam.training.teacher import TeacherRun
from keras_bam.training.teacher import train_teacher

__version__ = "0.1.0"
