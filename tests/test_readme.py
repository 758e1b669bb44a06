"""The README's Python snippets run as written, in order, at tiny sizes.

The snippets' text is executed unchanged, in a folder where `../shared/glue`
is the real GLUE folder; only what makes them long is scaled down around them:
a 1-layer random BERT for the pretrained MiniLM (the snippets train ten models:
on TensorFlow, tracing each model's steps is most of their time, and it grows
with the layers), 16 training and 8 dev examples per task, one epoch per model.
"""

import functools
import os
import re

import keras
import pytest

import keras_bam
from tests.conftest import GLUE_DIR
from tests.conftest import make_tiny_backbone

README = os.path.join(os.path.dirname(os.path.dirname(__file__)), "README.md")
TRAIN_LIMIT, EVAL_LIMIT = 16, 8
# The snippet of "Your own tasks", run on its own (with the files it names).
OWN_TASKS = "from keras_bam.tasks import Task"
INTENTS = ("greet", "order", "cancel", "refund", "other")


def tiny_backbone():
    return make_tiny_backbone(num_layers=1)


def python_snippets() -> list:
    with open(README, encoding="utf-8") as f:
        return re.findall(r"```python\n(.*?)```", f.read(), flags=re.DOTALL)


def tiny_recipe(recipe=None, **_):
    recipe = recipe or keras_bam.FineTuningRecipe.bam_single_task()
    return keras_bam.FineTuningRecipe(
        **{**recipe.to_dict(), "epochs": 1, "batch_size": 8, "max_length": 64}
    )


@pytest.fixture
def tiny_library(monkeypatch, tokenizer):
    """`keras_bam`'s entry points with the sizes above as their defaults."""
    limits = dict(train_limit=TRAIN_LIMIT, eval_limit=EVAL_LIMIT, verbose=0)
    monkeypatch.setattr(keras_bam, "load_backbone", lambda *a, **k: tiny_backbone())
    run_glue, train_teacher = keras_bam.run_glue, keras_bam.train_teacher
    train_student = keras_bam.train_student

    @functools.wraps(run_glue)
    def tiny_run_glue(*args, **kwargs):
        return run_glue(
            *args,
            **kwargs,
            backbone=tiny_backbone,
            tokenizer=tokenizer,
            teacher_recipe=tiny_recipe(),
            student_recipe=tiny_recipe(keras_bam.FineTuningRecipe.bam_multi_task()),
            # Predicting every test set and exporting: tests/training/test_glue_run.py.
            export=False,
            submission=False,
            **limits,
        )

    @functools.wraps(train_teacher)
    def tiny_train_teacher(*args, **kwargs):
        return train_teacher(
            *args,
            **kwargs,
            backbone=tiny_backbone(),
            tokenizer=tokenizer,
            recipe=tiny_recipe(),
            **limits,
        )

    @functools.wraps(train_student)
    def tiny_train_student(*args, **kwargs):
        multi_task = keras_bam.FineTuningRecipe.bam_multi_task()
        return train_student(
            *args,
            **kwargs,
            backbone=tiny_backbone(),
            tokenizer=tokenizer,
            recipe=tiny_recipe(multi_task),
            **limits,
        )

    load = keras_bam.data.SplitLoader.load

    def tiny_load(self, task, split, limit=None, sample_seed=None):
        return load(self, task, split, limit or TRAIN_LIMIT, sample_seed)

    monkeypatch.setattr(keras_bam, "run_glue", tiny_run_glue)
    monkeypatch.setattr(keras_bam, "train_teacher", tiny_train_teacher)
    monkeypatch.setattr(keras_bam, "train_student", tiny_train_student)
    monkeypatch.setattr(keras_bam.data.SplitLoader, "load", tiny_load)
    monkeypatch.setattr(keras_bam, "load_tokenizer", lambda *a, **k: tokenizer)
    # `from_preset(None, ...)`: the tiny BERT, with the tokenizer.
    task_models = keras_bam.models.task_models
    monkeypatch.setattr(task_models, "load_backbone", lambda *a, **k: tiny_backbone())
    monkeypatch.setattr(task_models, "load_tokenizer", lambda *a, **k: tokenizer)


def test_the_readme_has_its_snippets():
    assert len(python_snippets()) >= 4
    assert sum(OWN_TASKS in snippet for snippet in python_snippets()) == 1


# The snippets use the library's API, the same on both backends (which the other
# tests cover); they run on TensorFlow only, to spare `make test` the JAX copy.
@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="runs on the TensorFlow suite"
)
def test_readme_snippets_run_as_written(tiny_library, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "shared").mkdir()
    os.symlink(os.path.abspath(GLUE_DIR), tmp_path / "shared" / "glue")
    monkeypatch.chdir(work)
    namespace = {}
    snippets = python_snippets()
    exec(compile(snippets[0], README, "exec"), namespace)
    assert "BAM (teacher annealing)" in namespace["run"].table
    exec(compile(snippets[1], README, "exec"), namespace)
    assert set(namespace["run"].dev_metrics) == {"rte", "stsb"}
    assert os.path.isfile(work / "runs" / "student" / "saved_model" / "saved_model.pb")
    for snippet in snippets[2:]:
        if OWN_TASKS not in snippet:
            exec(compile(snippet, README, "exec"), namespace)
    model = namespace["model"]
    assert int(model.optimizer.iterations.numpy()) == 6  # One batch per epoch.
    assert float(model.annealing.gold_weight()) == pytest.approx(1.0)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="runs on the TensorFlow suite"
)
def test_readme_own_tasks_snippet_runs_as_written(tiny_library, tmp_path, monkeypatch):
    """ "Your own tasks": the intent files it names are made here, ten examples
    per split (two per intent)."""
    work = tmp_path / "work"
    (work / "intents").mkdir(parents=True)
    (tmp_path / "shared").mkdir()
    os.symlink(os.path.abspath(GLUE_DIR), tmp_path / "shared" / "glue")
    for split in ("train", "dev"):
        rows = [
            f"{split} example {i} of {intent},{intent}"
            for i, intent in enumerate(INTENTS * 2)
        ]
        (work / "intents" / f"{split}.csv").write_text(
            "text,label\n" + "\n".join(rows) + "\n"
        )
    monkeypatch.chdir(work)
    (snippet,) = [s for s in python_snippets() if OWN_TASKS in s]
    namespace = {}
    exec(compile(snippet, README, "exec"), namespace)
    run = namespace["run"]
    assert run.tasks == ["intent", "closeness", "rte"]
    assert set(run.students["bam"]["dev_metrics"]["intent"]["dev"]) == {
        "accuracy",
        "macro_f1",
        "score",
    }
    logits = namespace["student"].predict(["two lattes please"], verbose=0)["intent"]
    assert logits.shape == (1, 5)
