"""The tiny `run_glue` several tests read, and the same run in a fresh process.

`glue_run` (a session fixture in `conftest.py`) runs the whole pipeline once in
the test process: RTE and STS-B teachers, the multi-task and BAM students, the
export and the submission files (`tests/training/test_glue_run.py` reads them;
`tests/training/test_student.py` trains students from its teachers).
`glue_run_in_fresh_process` runs it again in a fresh process, its backbones
built from an unseeded global state (Python's generator seeded from the
system: their dropout layers draw other seeds than the first run's; the run's
seed must decide them anyway), and `tests/test_reproducibility.py` compares
the two runs' files bit for bit.
"""

import os
import subprocess
import sys

from tests.conftest import ROOT

TASKS = ["rte", "stsb"]
TRAIN_LIMIT, EVAL_LIMIT = 32, 16


def run_tiny_glue(glue_dir, output_dir, backbone, tokenizer, tasks=TASKS, **options):
    """`run_glue` on RTE and STS-B (or `tasks`) as `glue_run` runs it: 32
    training and 16 dev examples per task, one epoch per model; `options` are
    `run_glue`'s."""
    import keras

    import keras_bam

    # Layer names count up per Keras session, and the teachers' files record
    # their backbone's: every run starts from a fresh session.
    keras.backend.clear_session()
    return keras_bam.run_glue(
        tasks,
        data_dir=glue_dir,
        output_dir=output_dir,
        backbone=backbone,
        tokenizer=tokenizer,
        teacher_recipe=keras_bam.FineTuningRecipe(epochs=1, batch_size=8),
        student_recipe=keras_bam.FineTuningRecipe.bam_multi_task(
            epochs=1, batch_size=16
        ),
        train_limit=TRAIN_LIMIT,
        eval_limit=EVAL_LIMIT,
        verbose=0,
        **options,
    )


# `glue_run`'s run in a fresh process, less what the comparison does not read
# (the multi-task student, the export, the submission files: each model of a
# run starts from the run's seed in a fresh Keras session, and these come
# after what they would change).
SCRIPT = """
import random, sys
import keras, keras_hub, numpy as np
import keras_bam
from tests.conftest import make_tiny_backbone
from tests.glue_runs import run_tiny_glue

glue_dir, out, cache_dir = sys.argv[1:4]
weights = make_tiny_backbone(seed=0).get_weights()  # The first run's backbone.

def backbone():  # Built, like a caller's, from an unseeded global state.
    random.seed()
    model = keras_hub.models.BertBackbone(
        vocabulary_size=30522, num_layers=2, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=128)
    model.set_weights(weights)
    return model

run = run_tiny_glue(glue_dir, out, backbone, keras_bam.load_tokenizer(),
                    cache_dir=cache_dir, students=("bam",), export=False,
                    submission=False)
student = keras.saving.load_model(run.students["bam"]["model_path"])
np.savez(out + "/student_weights.npz", *student.get_weights())
"""


def glue_run_in_fresh_process(glue_dir, output_dir, cache_dir):
    """Runs `SCRIPT` into `output_dir`, its encoded splits read from
    `cache_dir`."""
    subprocess.run(
        [sys.executable, "-c", SCRIPT, glue_dir, str(output_dir), cache_dir],
        cwd=ROOT,
        check=True,
        timeout=600,
        env={**os.environ, "PYTHONHASHSEED": "random"},
    )
