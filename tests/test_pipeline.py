import json
import os

import numpy as np
import pytest
import tensorflow as tf

import keras_bam
from keras_bam import cli
from tests.conftest import make_tiny_backbone


@pytest.fixture(scope="module")
def glue_run(glue_dir, tokenizer, tmp_path_factory):
    """The whole pipeline on RTE and STS-B, tiny backbone, 24 examples per task."""
    output_dir = tmp_path_factory.mktemp("glue")
    recipe = keras_bam.FineTuningRecipe(epochs=1, batch_size=8)
    student_recipe = keras_bam.FineTuningRecipe.bam_multi_task(epochs=1, batch_size=16)
    return keras_bam.run_glue(
        ["rte", "stsb"],
        data_dir=glue_dir,
        output_dir=output_dir,
        backbone=make_tiny_backbone,
        tokenizer=tokenizer,
        teacher_recipe=recipe,
        student_recipe=student_recipe,
        train_limit=24,
        eval_limit=16,
        verbose=0,
    )


def test_runs_teachers_students_and_writes_the_table(glue_run):
    out = glue_run.output_dir
    assert set(glue_run.teachers) == {"rte", "stsb"}
    assert set(glue_run.students) == {"multitask", "bam"}
    for task in ("rte", "stsb"):
        assert os.path.exists(
            keras_bam.teacher_predictions_path(out + "/teachers", task)
        )
    assert os.path.exists(
        keras_bam.teacher_predictions_path(out + "/teachers", "stsb", "train_swapped")
    )
    table = open(os.path.join(out, "dev_table.md")).read()
    assert "| BAM (teacher annealing) |" in table and "GLUE average" in table
    results = json.load(open(os.path.join(out, "results.json")))
    assert set(results["scores"]) == {"teachers", "multitask", "bam"}
    for scores in results["scores"].values():
        assert scores["average"] == pytest.approx(
            np.mean([scores["rte"], scores["stsb"]])
        )


def test_writes_glue_submission_files(glue_run, glue_dir):
    summary = glue_run.students["bam"]
    assert summary["submission_files"] == {"RTE.tsv": 3000, "STS-B.tsv": 1379}
    rte = open(os.path.join(summary["submission_dir"], "RTE.tsv")).read().splitlines()
    assert rte[0] == "index\tprediction" and len(rte) == 3001
    assert rte[1].split("\t")[0] == "0"
    assert {line.split("\t")[1] for line in rte[1:]} <= {"entailment", "not_entailment"}
    stsb = (
        open(os.path.join(summary["submission_dir"], "STS-B.tsv")).read().splitlines()
    )
    scores = np.array([float(line.split("\t")[1]) for line in stsb[1:]])
    assert scores.min() >= 0.0 and scores.max() <= 5.0


def test_exported_student_serves_every_task(glue_run, glue_dir, tokenizer):
    import keras

    summary = glue_run.students["bam"]
    model = keras.saving.load_model(summary["model_path"])
    reloaded = tf.saved_model.load(summary["saved_model_path"])
    examples = keras_bam.read_glue_tsv("rte", "dev", glue_dir)
    encoded = keras_bam.encode_examples(examples.select(np.arange(5)), tokenizer, 128)
    batch = encoded.pad_batch(np.arange(5))  # the longest of the five
    expected = model.predict(batch, verbose=0)
    for task in ("rte", "stsb"):
        served = getattr(reloaded, f"serve_{task}")(batch)
        np.testing.assert_allclose(served, expected[task], atol=1e-5)


def test_second_run_reuses_everything(glue_run, glue_dir, tokenizer):
    again = keras_bam.run_glue(
        ["rte", "stsb"],
        data_dir=glue_dir,
        output_dir=glue_run.output_dir,
        backbone=make_tiny_backbone,
        tokenizer=tokenizer,
        teacher_recipe=keras_bam.FineTuningRecipe(epochs=1, batch_size=8),
        student_recipe=keras_bam.FineTuningRecipe.bam_multi_task(
            epochs=1, batch_size=16
        ),
        train_limit=24,
        eval_limit=16,
        verbose=0,
    )
    assert again.scores() == glue_run.scores()
    with pytest.raises(ValueError, match="trained with another recipe"):
        keras_bam.run_glue(
            ["rte"],
            data_dir=glue_dir,
            output_dir=glue_run.output_dir,
            backbone=make_tiny_backbone,
            tokenizer=tokenizer,
            teacher_recipe=keras_bam.FineTuningRecipe(epochs=2),
        )


def test_quick_and_paper_settings():
    parser = cli.argparse.ArgumentParser()
    cli.add_glue_arguments(parser)
    quick = cli.glue_settings(parser.parse_args([]))
    assert quick["tasks"] == ["rte", "mrpc", "stsb", "cola"]
    assert quick["train_limit"] == 400 and quick["student_recipe"].epochs == 2
    # A seeded random sample, not the first rows of each file.
    assert quick["train_sample_seed"] == 0
    assert quick["student_recipe"].batching == "random"
    grouped = cli.glue_settings(parser.parse_args(["--batching", "length_grouped"]))
    assert grouped["student_recipe"].batching == "length_grouped"
    assert grouped["teacher_recipe"].batching == "length_grouped"
    paper = cli.glue_settings(parser.parse_args(["--paper", "--tasks", "sts-b"]))
    assert paper["tasks"] == ["stsb"] and paper["train_limit"] is None
    assert paper["train_sample_seed"] is None
    assert paper["teacher_recipe"] == keras_bam.FineTuningRecipe.bam_single_task()
    assert paper["student_recipe"] == keras_bam.FineTuningRecipe.bam_multi_task()
    mixed = cli.glue_settings(parser.parse_args(["--precision", "mixed_bfloat16"]))
    assert mixed["teacher_recipe"].precision == "mixed_bfloat16"
    assert mixed["student_recipe"].precision == "mixed_bfloat16"
    with pytest.raises(ValueError, match="Unknown students"):
        keras_bam.run_glue(["rte"], students=["teachers"])


def test_command_line_refuses_unknown_tasks(capsys):
    with pytest.raises(SystemExit):
        cli.main(["glue", "--tasks", "rte", "squad"])
    assert "squad" in capsys.readouterr().err


def test_dev_outputs_reproduce_the_dev_metrics(glue_run, glue_dir):
    from keras_bam.io_utils import load_dev_outputs

    rte_dev = keras_bam.read_glue_tsv("rte", "dev", glue_dir).labels[:16]
    student = glue_run.students["bam"]
    outputs = load_dev_outputs(student["dev_outputs_path"])
    assert set(outputs) == {"rte", "stsb"} and outputs["rte"]["dev"].shape == (16, 2)
    predictions = keras_bam.predictions_from_outputs("rte", outputs["rte"]["dev"])
    assert keras_bam.glue_metrics("rte", rte_dev, predictions) == pytest.approx(
        student["dev_metrics"]["rte"]["dev"]
    )
    teacher = load_dev_outputs(
        os.path.join(glue_run.output_dir, "teachers", "rte", "rte_dev_outputs.npz")
    )
    predictions = keras_bam.predictions_from_outputs("rte", teacher["rte"]["dev"])
    assert keras_bam.glue_metrics("rte", rte_dev, predictions) == pytest.approx(
        glue_run.teachers["rte"]["dev_metrics"]["dev"]
    )


@pytest.mark.integration
def test_student_command_distills_an_ensemble(glue_run, glue_dir, tmp_path, capsys):
    """`keras-bam student` trains a BAM student from existing teachers; several
    folders make an ensemble per task (here the same teachers twice)."""
    teachers = os.path.join(glue_run.output_dir, "teachers")
    output_dir = tmp_path / "student"
    code = cli.main(
        [
            "student",
            "--tasks",
            "rte",
            "stsb",
            "--teacher-dir",
            teachers,
            teachers,
            "--data-dir",
            glue_dir,
            "--output-dir",
            str(output_dir),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--compilation-cache",
            "none",
            "--epochs",
            "1",
            "--batch-size",
            "32",
            "--train-limit",
            "24",
            "--eval-limit",
            "8",
        ]
    )
    assert code == 0
    with open(output_dir / "summary.json") as f:
        summary = json.load(f)
    assert summary["teacher_dirs"] == [teachers, teachers]
    assert summary["multiples"] == {"rte": 4, "stsb": 2}
    assert summary["schedule"]["batching"] == "random"
    assert set(summary["dev_metrics"]) == {"rte", "stsb"}
    assert "rte" in capsys.readouterr().out


def test_command_line_says_where_it_looked_for_the_data(capsys, monkeypatch, tmp_path):
    missing = tmp_path / "no-glue-here"
    with pytest.raises(SystemExit):
        cli.main(["teacher", "--tasks", "rte", "--data-dir", str(missing)])
    error = capsys.readouterr().err
    assert str(missing) in error and "KERAS_BAM_DATA_DIR" in error
    monkeypatch.setenv("KERAS_BAM_DATA_DIR", str(tmp_path))
    parser = cli.argparse.ArgumentParser()
    cli.add_glue_arguments(parser)
    assert parser.parse_args([]).data_dir == str(tmp_path)


def test_command_line_verbosity_version_and_defaults_in_help(capsys):
    parser = cli.argparse.ArgumentParser()
    cli.add_glue_arguments(parser)
    assert cli.glue_settings(parser.parse_args(["-q"]))["verbose"] == 0
    assert cli.glue_settings(parser.parse_args(["-v"]))["verbose"] == 1
    assert cli.log_level(parser.parse_args(["-q"])) == cli.logging.WARNING
    assert cli.log_level(parser.parse_args(["-vv"])) == cli.logging.DEBUG
    assert "(default: random)" in " ".join(parser.format_help().split())
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("keras-bam ")
