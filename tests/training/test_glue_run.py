import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_bam
from keras_bam_cli import main as cli_main
from tests.conftest import make_tiny_backbone
from tests.glue_runs import run_tiny_glue

# `glue_run`: the session's tiny run of the whole pipeline (tests/glue_runs.py).


def test_runs_teachers_students_and_writes_the_table(glue_run):
    out = glue_run.output_dir
    assert set(glue_run.teachers) == {"rte", "stsb"}
    assert set(glue_run.students) == {"multitask", "bam"}
    for task in ("rte", "stsb"):
        assert os.path.exists(
            keras_bam.data.teacher_predictions_path(out + "/teachers", task)
        )
    assert os.path.exists(
        keras_bam.data.teacher_predictions_path(
            out + "/teachers", "stsb", "train_swapped"
        )
    )
    # Each finished model kept without its optimizer's state (`save_optimizer`),
    # and no student's spent checkpoints.
    models = [glue_run.teachers[t]["model_path"] for t in ("rte", "stsb")]
    models += [glue_run.students[s]["model_path"] for s in ("multitask", "bam")]
    for path in models:
        assert not keras.saving.load_model(path).compiled, path
    for name in ("multitask", "bam"):
        assert os.listdir(os.path.join(out, "students", name))
        assert not os.path.exists(os.path.join(out, "students", name, "checkpoint"))
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
    # The run's eval_limit (16) holds for its test files too: a smoke run's.
    assert summary["submission_files"] == {"RTE.tsv": 16, "STS-B.tsv": 16}
    rte = open(os.path.join(summary["submission_dir"], "RTE.tsv")).read().splitlines()
    assert rte[0] == "index\tprediction" and len(rte) == 17
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
    examples = keras_bam.data.read_glue_tsv("rte", "dev", glue_dir)
    encoded = keras_bam.data.encode_examples(
        examples.select(np.arange(5)), tokenizer, 128
    )
    batch = encoded.pad_batch(np.arange(5))  # the longest of the five
    expected = model.predict(batch, verbose=0)
    for task in ("rte", "stsb"):
        served = getattr(reloaded, f"serve_{task}")(batch)
        np.testing.assert_allclose(served, expected[task], atol=1e-5)


def test_second_run_reuses_everything(glue_run, glue_dir, tokenizer):
    again = run_tiny_glue(glue_dir, glue_run.output_dir, make_tiny_backbone, tokenizer)
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
    # A finished student is reused only for the recipe it was trained with.
    with pytest.raises(ValueError, match="bam student in .* another recipe"):
        keras_bam.run_glue(
            ["rte", "stsb"],
            data_dir=glue_dir,
            output_dir=glue_run.output_dir,
            backbone=make_tiny_backbone,
            tokenizer=tokenizer,
            teacher_recipe=keras_bam.FineTuningRecipe(epochs=1, batch_size=8),
            student_recipe=keras_bam.FineTuningRecipe.bam_multi_task(
                epochs=1, batch_size=16, learning_rate=3e-5
            ),
            students=("bam",),
            train_limit=32,
            eval_limit=16,
        )


def test_dev_outputs_reproduce_the_dev_metrics(glue_run, glue_dir):
    from keras_bam.data.io_utils import load_dev_outputs

    rte_dev = keras_bam.data.read_glue_tsv("rte", "dev", glue_dir).labels[:16]
    student = glue_run.students["bam"]
    outputs = load_dev_outputs(student["dev_outputs_path"])
    assert set(outputs) == {"rte", "stsb"} and outputs["rte"]["dev"].shape == (16, 2)
    predictions = keras_bam.evaluation.predictions_from_outputs(
        "rte", outputs["rte"]["dev"]
    )
    assert keras_bam.evaluation.glue_metrics(
        "rte", rte_dev, predictions
    ) == pytest.approx(student["dev_metrics"]["rte"]["dev"])
    teacher = load_dev_outputs(
        os.path.join(glue_run.output_dir, "teachers", "rte", "rte_dev_outputs.npz")
    )
    predictions = keras_bam.evaluation.predictions_from_outputs(
        "rte", teacher["rte"]["dev"]
    )
    assert keras_bam.evaluation.glue_metrics(
        "rte", rte_dev, predictions
    ) == pytest.approx(glue_run.teachers["rte"]["dev_metrics"]["dev"])


def test_student_command_distills_an_ensemble(
    glue_run, glue_dir, tiny_preset_dir, tmp_path, capsys
):
    """`keras-bam student` trains a BAM student from existing teachers; several
    folders make an ensemble per task (here the same teachers twice). The
    student is the tiny BERT, given as a preset folder (`--backbone`)."""
    teachers = os.path.join(glue_run.output_dir, "teachers")
    output_dir = tmp_path / "student"
    code = cli_main(
        [
            "student",
            "--tasks",
            "rte",
            "stsb",
            "--teacher-dir",
            teachers,
            teachers,
            "--backbone",
            tiny_preset_dir,
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
            "32",
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


def test_evaluate_command_reproduces_the_runs_dev_metrics(glue_run, glue_dir, tmp_path):
    summary = glue_run.students["bam"]
    output = tmp_path / "metrics.json"
    arguments = [summary["model_path"], "--data-dir", glue_dir, "--limit", "16"]
    assert cli_main(["evaluate", *arguments, "--output", str(output)]) == 0
    with open(output) as f:
        evaluated = json.load(f)["dev_metrics"]
    assert set(evaluated) == {"rte", "stsb"}
    for task, splits in summary["dev_metrics"].items():
        for split, metrics in splits.items():
            assert evaluated[task][split] == pytest.approx(metrics, abs=1e-6)
    with pytest.raises(SystemExit, match="no CoLA head"):
        cli_main(["evaluate", *arguments, "--tasks", "cola"])


def test_predict_command_on_a_glue_split_and_on_raw_texts(
    glue_run, glue_dir, tmp_path, capsys
):
    summary = glue_run.students["bam"]
    model_path = summary["model_path"]
    split_file = tmp_path / "split.tsv"
    common = ["--task", "rte", "--data-dir", glue_dir]
    arguments = ["predict", model_path, *common, "--limit", "8"]
    assert cli_main([*arguments, "--output", str(split_file)]) == 0
    submitted = (
        open(os.path.join(summary["submission_dir"], "RTE.tsv")).read().splitlines()
    )
    assert open(split_file).read().splitlines() == submitted[:9]
    # The same eight test pairs as a file of raw texts (GLUE's test layout).
    test = keras_bam.data.read_glue_tsv("rte", "test", glue_dir)
    raw = tmp_path / "raw.tsv"
    rows = ["index\tsentence1\tsentence2"] + [
        f"{i}\t{a}\t{b}" for i, (a, b) in enumerate(zip(*test.texts)) if i < 8
    ]
    raw.write_text("\n".join(rows) + "\n")
    raw_file = tmp_path / "raw_predictions.tsv"
    predict_raw = ["predict", model_path, *common, "--input", str(raw)]
    assert cli_main([*predict_raw, "--output", str(raw_file)]) == 0
    assert open(raw_file).read().splitlines() == submitted[:9]
    # A row without its second sentence: an error naming the file, line and field.
    raw.write_text("index\tsentence1\tsentence2\n0\tA man sleeps.\n")
    # One line on stderr, exit status 1, no traceback.
    assert cli_main([*predict_raw, "--output", str(raw_file)]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"keras-bam: {raw}:2") and "Traceback" not in error
    with pytest.raises(SystemExit, match="Unknown task 'foo'"):
        cli_main(["predict", model_path, "--task", "foo", "--output", str(raw_file)])


def test_export_command_serves_the_student(glue_run, glue_dir, tokenizer, tmp_path):
    import keras

    summary = glue_run.students["bam"]
    exported = tmp_path / "saved_model"
    arguments = ["export", summary["model_path"], "--output-dir", str(exported)]
    assert cli_main(arguments) == 0
    model = keras.saving.load_model(summary["model_path"])
    reloaded = tf.saved_model.load(str(exported))
    examples = keras_bam.data.read_glue_tsv("stsb", "dev", glue_dir)
    encoded = keras_bam.data.encode_examples(
        examples.select(np.arange(4)), tokenizer, 128
    )
    batch = encoded.pad_batch(np.arange(4))
    np.testing.assert_allclose(
        reloaded.serve_stsb(batch), model.predict(batch, verbose=0)["stsb"], atol=1e-5
    )
