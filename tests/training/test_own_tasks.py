"""Tasks of your own ride GLUE's path: the same teachers and students from the
same data, and a whole run of your tasks beside a GLUE task, from Python and
from the command line."""

import csv
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_bam
from keras_bam.data.io_utils import load_dev_outputs
from keras_bam.tasks import Task
from keras_bam_cli import main as cli_main
from tests.conftest import make_tiny_backbone
from tests.glue_runs import EVAL_LIMIT
from tests.glue_runs import TRAIN_LIMIT
from tests.glue_runs import run_tiny_glue


def glue_copies(glue_dir, folder):
    """RTE as CSV and STS-B as JSON Lines files, copied from the GLUE TSVs,
    and the two tasks of your own that read them."""
    os.makedirs(folder, exist_ok=True)
    splits = {"my_rte": {}, "my_stsb": {}}
    for split in ("train", "dev"):
        rte = keras_bam.data.read_glue_tsv("rte", split, glue_dir)
        path = os.path.join(folder, f"rte_{split}.csv")
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["premise", "hypothesis", "label"])
            labels = [rte.task.label_names[i] for i in rte.labels]
            writer.writerows(zip(*rte.texts, labels))
        splits["my_rte"][split] = path
        stsb = keras_bam.data.read_glue_tsv("stsb", split, glue_dir)
        path = os.path.join(folder, f"stsb_{split}.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            for a, b, score in zip(*stsb.texts, stsb.labels.tolist()):
                f.write(json.dumps({"s1": a, "s2": b, "score": score}) + "\n")
        splits["my_stsb"][split] = path
    my_rte = Task(
        name="my_rte",
        text_fields=("premise", "hypothesis"),
        label_names=("entailment", "not_entailment"),
        splits=splits["my_rte"],
        control_characters="keep",  # Read as GLUE's own files are.
    )
    my_stsb = Task(
        name="my_stsb",
        text_fields=("s1", "s2"),
        score_range=(0, 5),
        label_column="score",
        double_unordered=True,
        splits=splits["my_stsb"],
        control_characters="keep",  # STS-B's files hold a U+0012.
    )
    return my_rte, my_stsb


def student(tasks, teacher_dir, tokenizer, glue_dir):
    keras.backend.clear_session()
    return keras_bam.train_student(
        tasks,
        teacher_dir=teacher_dir,
        data_dir=glue_dir,
        backbone=make_tiny_backbone(),
        tokenizer=tokenizer,
        recipe=keras_bam.FineTuningRecipe.bam_multi_task(epochs=1, batch_size=16),
        # BAM's table of GLUE's sizes is GLUE's alone: both students weigh
        # their tasks by the formula over the trained sizes.
        weighting="bam_trained",
        train_limit=TRAIN_LIMIT,
        eval_limit=EVAL_LIMIT,
        verbose=0,
    )


def test_glue_tasks_defined_as_own_tasks_train_bit_identically(
    glue_run, glue_dir, tokenizer, tmp_path
):
    """RTE and STS-B from CSV and JSON Lines copies, as tasks of your own:
    their teachers (`glue_run`'s recipe and seed) predict exactly what GLUE's
    did, and BAM students from either teachers give the same dev outputs."""
    my_rte, my_stsb = glue_copies(glue_dir, tmp_path / "data")
    own = run_tiny_glue(
        glue_dir,
        tmp_path / "run",
        make_tiny_backbone,
        tokenizer,
        tasks=[my_rte, my_stsb],
        students=(),
        export=False,
        submission=False,
    )
    glue_teachers = os.path.join(glue_run.output_dir, "teachers")
    own_teachers = os.path.join(own.output_dir, "teachers")
    for glue, mine, split in [
        ("rte", "my_rte", "train"),
        ("stsb", "my_stsb", "train"),
        ("stsb", "my_stsb", "train_swapped"),
    ]:
        paths = [
            keras_bam.data.teacher_predictions_path(folder, task, split)
            for folder, task in ((glue_teachers, glue), (own_teachers, mine))
        ]
        expected, got = (keras_bam.data.TeacherPredictions.load(p) for p in paths)
        np.testing.assert_array_equal(got.outputs, expected.outputs)
        dev = [
            load_dev_outputs(os.path.join(folder, task, f"{task}_dev_outputs.npz"))
            for folder, task in ((glue_teachers, glue), (own_teachers, mine))
        ]
        np.testing.assert_array_equal(dev[1][mine]["dev"], dev[0][glue]["dev"])
    assert (
        own.teachers["my_rte"]["dev_metrics"] == glue_run.teachers["rte"]["dev_metrics"]
    )

    glue_student = student(["rte", "stsb"], glue_teachers, tokenizer, glue_dir)
    own_student = student([my_rte, my_stsb], own_teachers, tokenizer, glue_dir)
    for glue, mine in (("rte", "my_rte"), ("stsb", "my_stsb")):
        np.testing.assert_array_equal(
            own_student.dev_outputs[mine]["dev"], glue_student.dev_outputs[glue]["dev"]
        )


TOPICS = ("sports", "music", "cooking", "travel", "science")
WORDS = {
    "sports": "goal match team score league",
    "music": "song guitar band album chord",
    "cooking": "recipe oven flour sauce bake",
    "travel": "flight hotel beach passport map",
    "science": "atom cell theory lab experiment",
}


def topic_rows(count, seed):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(count):
        topic = TOPICS[i % len(TOPICS)]
        words = rng.choice(WORDS[topic].split(), 3)
        rows.append({"text": "about " + " ".join(words), "label": topic})
    return rows


def closeness_rows(count, seed):
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(count):
        a, b = rng.choice(TOPICS, 2)
        score = 1.0 if a == b else float(rng.uniform(0.0, 0.4))
        rows.append({"first": f"a {a} story", "second": f"a {b} tale", "score": score})
    return rows


@pytest.fixture(scope="module")
def own_tasks_dir(tmp_path_factory):
    """A five-class topic task (CSV) and a regression task on pairs (JSON
    Lines), with train, dev and unlabeled test files, and a tasks file."""
    root = tmp_path_factory.mktemp("own_tasks")
    for split, count, seed in (("train", 40, 0), ("dev", 15, 1), ("test", 10, 2)):
        with open(root / f"topic_{split}.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, ["text", "label"])
            writer.writeheader()
            for row in topic_rows(count, seed):
                writer.writerow(row if split != "test" else {"text": row["text"]})
        with open(root / f"closeness_{split}.jsonl", "w") as f:
            for row in closeness_rows(count, seed):
                if split == "test":
                    del row["score"]
                f.write(json.dumps(row) + "\n")
    (root / "tasks.toml").write_text(
        f"""
[tasks.topic]
text_fields = ["text"]
label_names = {json.dumps(list(TOPICS))}
metrics = ["macro_f1", "accuracy", "matthews_corrcoef"]
splits = {{ train = "topic_train.csv", dev = "topic_dev.csv", test = "topic_test.csv" }}

[tasks.closeness]
text_fields = ["first", "second"]
score_range = [0, 1]
label_column = "score"
double_unordered = true
splits = {{ train = "closeness_train.jsonl", dev = "closeness_dev.jsonl", \
test = "closeness_test.jsonl" }}
"""
    )
    return root


@pytest.fixture(scope="module")
def own_run(own_tasks_dir, glue_dir, tokenizer, tmp_path_factory):
    """`run_glue` on the two tasks of your own and RTE: teachers, a BAM
    student, the dev table, the export and the test files."""
    topic, closeness = keras_bam.tasks.load_tasks_file(own_tasks_dir / "tasks.toml")
    return run_tiny_glue(
        glue_dir,
        tmp_path_factory.mktemp("own_run"),
        make_tiny_backbone,
        tokenizer,
        tasks=[topic, closeness, "rte"],
        students=("bam",),
    )


def test_a_run_of_own_tasks_beside_a_glue_task(own_run):
    assert own_run.tasks == ["topic", "closeness", "rte"]
    bam = own_run.students["bam"]
    assert set(bam["dev_metrics"]) == {"topic", "closeness", "rte"}
    assert set(bam["dev_metrics"]["topic"]["dev"]) == {
        "macro_f1",
        "accuracy",
        "matthews_corrcoef",
        "score",
    }
    assert set(bam["dev_metrics"]["closeness"]["dev"]) == {
        "pearson",
        "spearman",
        "score",
    }
    # RTE keeps BAM's multiple from its table; the others are placed beside it.
    assert bam["multiples"]["rte"] == 4
    table = open(os.path.join(own_run.output_dir, "dev_table.md")).read()
    assert "topic (macro_f1/accuracy/matthews_corrcoef)" in table
    assert table.splitlines()[0].endswith("| average |")
    # The first EVAL_LIMIT (16) examples of each test split: all of yours.
    assert bam["submission_files"] == {
        "topic_test.tsv": 10,
        "closeness_test.tsv": 10,
        "RTE.tsv": EVAL_LIMIT,
    }
    rows = open(os.path.join(bam["submission_dir"], "topic_test.tsv")).read()
    assert {line.split("\t")[1] for line in rows.splitlines()[1:]} <= set(TOPICS)


def test_own_tasks_survive_save_load_and_predict_raw_text(own_run):
    bam = own_run.students["bam"]
    model = keras.saving.load_model(bam["model_path"])
    assert [t.name for t in model.tasks] == ["topic", "closeness", "rte"]
    assert model.tasks[0].label_names == TOPICS
    assert model.tasks[1].score_range == (0.0, 1.0)
    single = model.predict(["about goal match team", "about song band"], verbose=0)
    assert single["topic"].shape == (2, 5)
    pair = model.predict((["a music story"], ["a music tale"]), verbose=0)
    assert pair["closeness"].shape == (1, 1)
    score = keras_bam.evaluation.predictions_from_outputs(
        model.tasks[1], pair["closeness"]
    )
    assert score.shape == (1,)


EXPORT_CHECK = """
import sys
import numpy as np
import tensorflow as tf
served = tf.saved_model.load(sys.argv[1])
batch = {k: tf.constant(v) for k, v in np.load(sys.argv[2]).items()}
np.savez(sys.argv[3], **{
    name: getattr(served, f"serve_{name}")(batch).numpy()
    for name in ("topic", "closeness", "rte")})
"""


def serve_in_clean_tensorflow(saved_model, tokenizer, folder) -> dict:
    """Each task's endpoint of `saved_model` on one encoded text, run by plain
    TensorFlow in a fresh process (no Keras backend chosen, no keras-bam
    imported); also the `batch` it served."""
    encoded = keras_bam.data.encode_texts((["about goal match team"],), tokenizer, 32)
    batch = encoded.pad_batch(np.arange(1))
    np.savez(folder / "batch.npz", **batch)
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    command = [sys.executable, "-c", EXPORT_CHECK, saved_model]
    command += [str(folder / "batch.npz"), str(folder / "served.npz")]
    subprocess.run(command, check=True, env=env, cwd=folder, timeout=600)
    with np.load(folder / "served.npz") as served:
        return {"batch": batch, **{name: served[name] for name in served.files}}


def test_the_export_serves_every_task_in_a_clean_tensorflow_process(
    own_run, tokenizer, tmp_path
):
    bam = own_run.students["bam"]
    model = keras.saving.load_model(bam["model_path"])
    served = serve_in_clean_tensorflow(bam["saved_model_path"], tokenizer, tmp_path)
    expected = model.predict(served["batch"], verbose=0)
    for name in ("topic", "closeness", "rte"):
        np.testing.assert_allclose(served[name], expected[name], atol=1e-5)


def test_the_command_line_trains_evaluates_predicts_and_exports_own_tasks(
    own_tasks_dir, glue_dir, tiny_preset_dir, tmp_path, capsys
):
    """`keras-bam teacher` and `student` with `--tasks-file` (the two tasks of
    your own and RTE), then `evaluate`, `predict` on a file of raw texts, and
    `export`, served in a clean TensorFlow process."""
    tasks_file = str(own_tasks_dir / "tasks.toml")
    common = [
        "--tasks-file",
        tasks_file,
        "--backbone",
        tiny_preset_dir,
        "--data-dir",
        glue_dir,
        "--compilation-cache",
        "none",
        "--epochs",
        "1",
        "--train-limit",
        str(TRAIN_LIMIT),
        "--eval-limit",
        str(EVAL_LIMIT),
        "-q",
    ]
    teachers = tmp_path / "teachers"
    teacher = ["teacher", "--tasks", "topic", "closeness", "rte"]
    teacher += ["--output-dir", str(teachers)]
    assert cli_main([*teacher, *common, "--batch-size", "8"]) == 0
    for task in ("topic", "closeness", "rte"):
        assert os.path.exists(keras_bam.data.teacher_predictions_path(teachers, task))
    student_dir = tmp_path / "student"
    arguments = ["student", "--tasks", "topic", "closeness", "rte"]
    arguments += ["--teacher-dir", str(teachers), "--output-dir", str(student_dir)]
    assert cli_main([*arguments, *common, "--batch-size", "16"]) == 0
    model_path = str(student_dir / "student.keras")
    metrics_path = tmp_path / "metrics.json"
    evaluate = ["evaluate", model_path, "--tasks-file", tasks_file]
    evaluate += ["--data-dir", glue_dir, "--output", str(metrics_path)]
    assert cli_main(evaluate) == 0
    with open(metrics_path) as f:
        assert set(json.load(f)["dev_metrics"]) == {"topic", "closeness", "rte"}
    raw = tmp_path / "raw.csv"
    raw.write_text("text\nabout goal team score\nabout oven flour bake\n")
    output = tmp_path / "topics.tsv"
    predict = ["predict", model_path, "--task", "topic", "--tasks-file", tasks_file]
    assert cli_main([*predict, "--input", str(raw), "--output", str(output)]) == 0
    lines = output.read_text().splitlines()
    assert lines[0] == "index\tprediction" and len(lines) == 3
    assert {line.split("\t")[1] for line in lines[1:]} <= set(TOPICS)
    export_dir = tmp_path / "serving"
    assert cli_main(["export", model_path, "--output-dir", str(export_dir)]) == 0
    assert "serve_topic" in capsys.readouterr().out
    model = keras.saving.load_model(model_path)
    served = serve_in_clean_tensorflow(str(export_dir), model.tokenizer, tmp_path)
    expected = model.predict(served["batch"], verbose=0)
    for name in ("topic", "closeness", "rte"):
        np.testing.assert_allclose(served[name], expected[name], atol=1e-5)


def test_bad_own_data_stops_a_run_before_training(own_tasks_dir, tmp_path, capsys):
    bad = tmp_path / "topic_train.csv"
    bad.write_text("text,label\nabout a goal,sports\nabout a song,jazz\n")
    tasks_file = tmp_path / "tasks.toml"
    tasks_file.write_text(
        '[tasks.topic]\ntext_fields = ["text"]\n'
        f"label_names = {json.dumps(list(TOPICS))}\n"
        'splits = { train = "topic_train.csv" }\n'
    )
    output_dir = tmp_path / "out"
    code = cli_main(
        ["teacher", "--tasks-file", str(tasks_file), "--output-dir", str(output_dir)]
    )
    assert code == 1
    error = capsys.readouterr().err
    assert f"{bad}:3: field 'label': unknown label 'jazz'" in error
    assert "Traceback" not in error and not output_dir.exists()
    tasks_file.write_text('[tasks.topic]\ntext_fields = ["text"]\nlabels = ["a"]\n')
    with pytest.raises(SystemExit) as info:
        cli_main(["teacher", "--tasks-file", str(tasks_file)])
    assert info.value.code == 2
    assert "tasks.topic: unknown key(s) ['labels']" in capsys.readouterr().err


def test_cross_fitting_an_own_task(own_tasks_dir, tokenizer, tmp_path):
    """Out-of-fold teacher predictions for a task of your own: every training
    example predicted once, by the fold teacher that did not train on it."""
    topic, _ = keras_bam.tasks.load_tasks_file(own_tasks_dir / "tasks.toml")
    keras.backend.clear_session()
    run = keras_bam.cross_fit_teacher(
        topic,
        tmp_path / "topic",
        folds=2,
        backbone=make_tiny_backbone,
        tokenizer=tokenizer,
        recipe=keras_bam.FineTuningRecipe(epochs=1, batch_size=8),
        train_limit=20,
        eval_limit=5,
        verbose=0,
    )
    predictions = keras_bam.data.TeacherPredictions.load(run.predictions_paths["train"])
    examples = keras_bam.data.read_task_split(topic, "train").select(np.arange(20))
    predictions.check_matches(examples)
    assert predictions.outputs.shape == (20, 5)
