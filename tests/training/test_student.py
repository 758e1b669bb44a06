import pathlib

import numpy as np
import pytest

import keras_bam
from keras_bam.data import GlueDataError
from tests.conftest import make_tiny_backbone


@pytest.fixture(scope="module")
def teacher_dir(glue_run):
    """Tiny RTE and STS-B teachers on 32 examples, written as the CLI writes them:
    the session's `glue_run`'s (tests/glue_runs.py)."""
    return pathlib.Path(glue_run.output_dir) / "teachers"


def test_bam_student_from_teacher_files(glue_dir, tokenizer, teacher_dir):
    recipe = keras_bam.FineTuningRecipe.bam_multi_task(epochs=2, batch_size=16)
    run = keras_bam.train_student(
        ["rte", "stsb"],
        data_dir=glue_dir,
        teacher_dir=teacher_dir,
        backbone=make_tiny_backbone(),
        tokenizer=tokenizer,
        recipe=recipe,
        train_limit=32,
        eval_limit=24,
        verbose=0,
    )
    # BAM's multiples and weights, from its table of the eight GLUE tasks,
    # whatever the sample's sizes.
    assert run.multiples == {"rte": 4, "stsb": 2}
    assert (
        run.task_weights
        == keras_bam.training.bam_glue_multiples_and_weights({"rte": 32, "stsb": 64})[1]
    )
    # STS-B doubles (both orders): 32 * 4 + 64 * 2 examples per epoch.
    assert run.schedule == {
        "sizes": {"rte": 32, "stsb": 64},
        "steps_per_epoch": 16,
        "steps": 32,
        "epochs": 2,
        "batch_size": 16,
        "mixing": "mixed",
        "batching": "random",
    }
    assert set(run.dev_metrics) == {"rte", "stsb"}
    assert set(run.dev_metrics["stsb"]["dev"]) == {"pearson", "spearman", "score"}
    assert np.isfinite(run.glue_average)
    steps = run.model.annealing.step
    assert 0.5 < run.history["gold_weight"][-1] < 1.0 and float(steps) > 0


def test_uninformative_teacher_control(glue_dir, tokenizer):
    """The control runs without teacher files, MT-DNN-style per-task batches."""
    recipe = keras_bam.FineTuningRecipe.bam_multi_task(epochs=1, batch_size=16)
    run = keras_bam.train_student(
        ["rte", "stsb"],
        data_dir=glue_dir,
        teachers="uninformative",
        backbone=make_tiny_backbone(),
        tokenizer=tokenizer,
        recipe=recipe,
        mixing="per_task",
        weighting="proportional",
        train_limit=32,
        eval_limit=8,
        verbose=0,
    )
    assert run.multiples == {"rte": 1, "stsb": 1}
    assert np.isfinite(run.history["loss"][-1])


def test_refuses_teachers_of_other_data(glue_dir, tokenizer, teacher_dir):
    with pytest.raises(GlueDataError, match="32 predictions for 40 RTE train"):
        keras_bam.train_student(
            ["rte"],
            data_dir=glue_dir,
            teacher_dir=teacher_dir,
            backbone=make_tiny_backbone(),
            tokenizer=tokenizer,
            train_limit=40,
            verbose=0,
        )
    with pytest.raises(FileNotFoundError, match="mrpc_train_teacher.npz"):
        keras_bam.train_student(
            ["mrpc"],
            data_dir=glue_dir,
            teacher_dir=teacher_dir,
            backbone=make_tiny_backbone(),
            tokenizer=tokenizer,
            train_limit=8,
            verbose=0,
        )
    with pytest.raises(ValueError, match="Pass `teacher_dir`"):
        keras_bam.train_student(["rte"], data_dir=glue_dir)


def test_single_task_born_again(glue_dir, tokenizer, teacher_dir):
    """Born-again training (Furlanello et al.): the student of one task learns from
    that task's teacher through the same API."""
    recipe = keras_bam.FineTuningRecipe(epochs=1, batch_size=8)
    run = keras_bam.train_student(
        ["rte"],
        data_dir=glue_dir,
        teacher_dir=teacher_dir,
        backbone=make_tiny_backbone(seed=5),
        tokenizer=tokenizer,
        recipe=recipe,
        train_limit=32,
        eval_limit=8,
        verbose=0,
    )
    assert run.multiples == {"rte": 1} and run.task_weights == {"rte": 1.0}
    assert [t.name for t in run.model.tasks] == ["rte"]
    assert run.history["gold_weight"][-1] == pytest.approx(3 / 4)  # 4 steps


def test_student_of_several_teachers_per_task(glue_dir, tokenizer, teacher_dir):
    """An ensemble end to end: one teacher folder per member, their
    probabilities averaged per example."""
    recipe = keras_bam.FineTuningRecipe.bam_multi_task(epochs=1, batch_size=16)
    common = dict(
        data_dir=glue_dir,
        tokenizer=tokenizer,
        recipe=recipe,
        weighting="proportional",  # Each example once: fewer steps.
        train_limit=32,
        eval_limit=8,
        verbose=0,
    )
    alone = keras_bam.train_student(
        ["rte", "stsb"],
        teacher_dir=teacher_dir,
        backbone=make_tiny_backbone(),
        **common,
    )
    twice = keras_bam.train_student(
        ["rte", "stsb"],
        teacher_dir=[teacher_dir, teacher_dir],
        backbone=make_tiny_backbone(),
        **common,
    )
    # The same teacher twice is that teacher (probabilities averaged), so the
    # two students train alike.
    np.testing.assert_allclose(alone.history["loss"], twice.history["loss"], rtol=1e-4)
    with pytest.raises(FileNotFoundError, match="elsewhere"):
        keras_bam.train_student(
            ["rte"],
            teacher_dir=[teacher_dir, teacher_dir / "elsewhere"],
            backbone=make_tiny_backbone(),
            **common,
        )


def test_one_task_defaults_to_the_single_task_recipe(glue_dir, tokenizer, teacher_dir):
    """BAM switches a one-task run to its single-task recipe (batch 32, lr 5e-5,
    3 epochs), born-again students included."""
    run = keras_bam.train_student(
        ["rte"],
        data_dir=glue_dir,
        teacher_dir=teacher_dir,
        backbone=make_tiny_backbone(),
        tokenizer=tokenizer,
        train_limit=32,
        eval_limit=8,
        verbose=0,
    )
    assert run.schedule["batch_size"] == 32 and run.schedule["epochs"] == 3
    assert run.schedule["steps"] == 3


def test_a_born_again_student_has_a_seed_of_its_own():
    """One task: BAM's single-task recipe with `born_again`'s seed, not its
    teacher's (the teacher's default seed is 0); several: the multi-task one."""
    from keras_bam.training.settings import DataSettings
    from keras_bam.training.student import _student_settings

    teacher = keras_bam.FineTuningRecipe.bam_single_task()
    gold = keras_bam.training.DistillationSettings(distillation="gold", teachers="none")
    _, recipe, *_ = _student_settings(["rte"], None, gold, DataSettings(), {}, None)
    assert recipe == keras_bam.FineTuningRecipe.born_again(teacher)
    assert recipe.seed == teacher.seed + 1000
    _, recipe, *_ = _student_settings(
        ["rte", "mrpc"], None, gold, DataSettings(), {}, None
    )
    assert recipe == keras_bam.FineTuningRecipe.bam_multi_task()
