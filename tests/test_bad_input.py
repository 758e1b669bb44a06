"""Every bad input of the README's "Bad input: what you get" table, one test per row.

`MESSAGES` holds, in table order, the text each row promises; each test asserts
that its error contains it, and `test_the_readme_table_lists_these_messages` that
the README's table shows exactly these messages, so table and tests stay in sync.
"""

import dataclasses
import os
import re

import keras
import numpy as np
import pytest

import keras_bam
from keras_bam.data import GlueDataError
from tests.conftest import ROOT
from tests.conftest import make_tiny_backbone

MESSAGES = {
    "missing_file": "RTE/train.tsv: no such file: the RTE 'train' split is expected "
    "at <data_dir>/RTE/train.tsv.",
    "empty_file": "RTE/train.tsv: the file is empty; expected a header line.",
    "no_data_rows": "CoLA/train.tsv: the file has no data rows.",
    "wrong_field_count": "RTE/train.tsv:3: has 3 tab-separated fields, expected 4",
    "unknown_label": "RTE/train.tsv:3: field 'label': unknown label 'maybe'; RTE "
    "labels are ['entailment', 'not_entailment']",
    "empty_text": "RTE/train.tsv:2: field 'sentence2': is empty",
    "bad_score": "STS-B/train.tsv:2: field 'score': is not a number: 'high'",
    "score_out_of_range": "STS-B/train.tsv:2: field 'score': score '5.5' is outside "
    "[0, 5]",
    "invalid_utf8": "RTE/train.tsv:2: is not valid UTF-8 (invalid start byte at "
    "byte 3)",
    "missing_column": "RTE/train.tsv:1: the header has no 'sentence2' column (the "
    "text).",
    "unknown_task": "Unknown task 'rtee': not a GLUE task (ax, cola, mnli, mrpc, "
    "qnli, qqp, rte, sst2, stsb, wnli) nor a registered task of your own.",
    "cli_unknown_task": "keras-bam: error: Unknown task 'rtee': not a GLUE task",
    "unknown_split": "Task 'rte' has no split 'validation'. Known splits: ['dev', "
    "'test', 'train'].",
    "unknown_source": "Unknown data source 'csv'; use one of ('tsv', 'tfds').",
    "unknown_distribution": "distribution must be one of ('none', "
    "'data_parallel'), got 'mirrored'.",
    "cli_unknown_distribution": "keras-bam teacher: error: argument --distribution: "
    "invalid choice: 'mirrored'",
    "teacher_missing": "rte_train_teacher.npz: no such teacher-predictions file.",
    "teacher_empty": "rte_train_teacher.npz: the teacher-predictions file is empty "
    "(0 bytes)",
    "teacher_damaged": "rte_train_teacher.npz: not a readable keras-bam "
    "teacher-predictions file: it is truncated, corrupt or of another kind",
    "teacher_checksum": "rte_train_teacher.npz: field 'sha256': the file is corrupt",
    "teacher_other_data": "field 'fingerprints' does not match the data for 1 of 40 "
    "examples (first: example 10, ",
    "teacher_other_size": "40 predictions for 30 RTE train examples; they were made "
    "for other data.",
    "teacher_other_task": "field 'task' is 'rte', but the examples are WNLI.",
    "teacher_wrong_classes": "field 'outputs' has 3 values per example; RTE needs 2.",
    "teacher_not_finite": "field 'outputs' is not finite (NaN or infinite) for 1 of "
    "40 examples (first: example 7); the teacher diverged.",
    "teacher_pickle": "not a readable keras-bam teacher-predictions file: it is "
    "truncated, corrupt or of another kind (ValueError: Object arrays cannot be "
    "loaded when allow_pickle=False)",
    "cache_damaged": "is stale (unreadable (corrupt or truncated)",
    "vocabulary_mismatch": "The tokenizer's vocabulary has 30522 tokens but the "
    "backbone 'small_bert' embeds only 1000: they belong to different models.",
    "max_length_too_long": "max_length=512 is above the backbone's "
    "max_sequence_length 128 (the size of its position table); use max_length <= "
    "128.",
    "max_length_too_short": "max_length=3 leaves no room for text.",
    "unsupported_backend": "keras-bam supports the TensorFlow and JAX backends; Keras "
    "is running on '{backend}'. Set KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax "
    "before Python imports keras.",
    "own_missing_column": "intents/train.csv:1: field 'label': the column is missing",
    "own_unknown_label": "intents/train.csv:3: field 'label': unknown label 'jazz'; "
    "the task's labels are ['greet', 'order', 'cancel', 'refund', 'other']",
    "own_missing_label": "intents/train.csv:2: field 'label': the label is missing",
    "own_empty_text": "intents/train.csv:2: field 'text': is empty",
    "own_bad_score": "closeness/train.jsonl:1: field 'label': is not a number: 'high'",
    "own_score_out_of_range": "closeness/train.jsonl:1: field 'label': score 1.5 is "
    "outside [0, 1]",
    "own_label_sets": "intents/dev.csv:2: field 'label': the dev split has label(s) "
    "['refund'] that the train split",
    "own_name_clash": "Task name 'RTE' clashes with GLUE's RTE; give your task "
    "another name.",
    "own_name_twice": "Tasks ['intent'] are given more than once (task names must "
    "be distinct).",
    "tasks_file_unknown_key": "tasks.toml: tasks.intent: unknown key(s) ['lables']; "
    "a task's keys are [",
    "nul_byte": "RTE/train.tsv:2: field 'sentence1': holds a NUL byte (U+0000): the "
    "file is damaged",
    "own_nul_byte": "intents/train.csv:2: field 'text': holds a NUL byte "
    "(U+0000): the file is damaged",
    "own_control_character": "intents/train.csv:4: field 'text': holds the control "
    "character U+0007 at character 6: a damaged file? (a task whose texts hold them "
    "on purpose takes control_characters='keep')",
}

RTE_HEADER = "index\tsentence1\tsentence2\tlabel\n"


def write(root, folder, name, data):
    path = root / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return str(path)


def raised(error_type, function, *args, **kwargs) -> str:
    with pytest.raises(error_type) as info:
        function(*args, **kwargs)
    return str(info.value)


def test_the_readme_table_lists_these_messages():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    table = readme.split("<!-- bad-input-table -->")[1].split("<!-- /bad-input-table")
    rows = [line for line in table[0].splitlines() if line.startswith("| ")][1:]
    shown = [re.findall(r"`([^`]*)`", row.split(" | ")[-1])[0] for row in rows]
    assert shown == list(MESSAGES.values())


# The GLUE TSV files.


def test_missing_file(tmp_path):
    message = raised(
        FileNotFoundError, keras_bam.data.read_glue_tsv, "rte", "train", tmp_path
    )
    assert message.startswith(str(tmp_path / "RTE" / "train.tsv"))
    assert MESSAGES["missing_file"] in message


def test_empty_file(tmp_path):
    write(tmp_path, "RTE", "train.tsv", "")
    message = raised(
        GlueDataError, keras_bam.data.read_glue_tsv, "rte", "train", tmp_path
    )
    assert MESSAGES["empty_file"] in message


def test_file_without_data_rows(tmp_path):
    write(tmp_path, "CoLA", "train.tsv", "")  # CoLA's train file has no header.
    message = raised(
        GlueDataError, keras_bam.data.read_glue_tsv, "cola", "train", tmp_path
    )
    assert MESSAGES["no_data_rows"] in message
    write(tmp_path, "RTE", "train.tsv", RTE_HEADER)  # A header alone.
    message = raised(
        GlueDataError, keras_bam.data.read_glue_tsv, "rte", "train", tmp_path
    )
    assert "RTE/train.tsv: the file has no data rows." in message


@pytest.mark.parametrize(
    "key, folder, text",
    [
        ("wrong_field_count", "RTE", RTE_HEADER + "0\ta\tb\tentailment\n1\ta\tb\n"),
        ("unknown_label", "RTE", RTE_HEADER + "0\ta\tb\tentailment\n1\ta\tb\tmaybe\n"),
        ("empty_text", "RTE", RTE_HEADER + "0\ta\t \tentailment\n"),
        (
            "bad_score",
            "STS-B",
            "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\t"
            "sentence2\tscore\n0\tg\tf\t2012\t1\ts\ts\tA man.\tA woman.\thigh\n",
        ),
        (
            "score_out_of_range",
            "STS-B",
            "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\t"
            "sentence2\tscore\n0\tg\tf\t2012\t1\ts\ts\tA man.\tA woman.\t5.5\n",
        ),
        ("invalid_utf8", "RTE", RTE_HEADER.encode() + b"0\ta\xff\tb\tentailment\n"),
        ("missing_column", "RTE", "index\tsentence1\tsentence_2\tlabel\n0\ta\tb\t0\n"),
    ],
)
def test_bad_rows_name_file_line_and_field(tmp_path, key, folder, text):
    write(tmp_path, folder, "train.tsv", text)
    task = "stsb" if folder == "STS-B" else "rte"
    message = raised(
        GlueDataError, keras_bam.data.read_glue_tsv, task, "train", tmp_path
    )
    assert MESSAGES[key] in message
    if key != "missing_column":  # Bad rows: nothing is loaded, the count is given.
        assert "1 bad row(s) in" in message and "nothing was loaded" in message


# Names: tasks, splits, sources.


def test_unknown_task(tmp_path):
    assert MESSAGES["unknown_task"] in raised(
        ValueError, keras_bam.data.read_glue_tsv, "rtee", "train", tmp_path
    )
    assert MESSAGES["unknown_task"] in raised(
        ValueError, keras_bam.train_teacher, "rtee", data_dir=tmp_path
    )


def test_unknown_task_on_the_command_line(capsys):
    from keras_bam_cli import main

    with pytest.raises(SystemExit) as info:
        main(["teacher", "--tasks", "rte", "rtee"])
    assert info.value.code == 2
    assert MESSAGES["cli_unknown_task"] in capsys.readouterr().err


def test_unknown_distribution():
    assert MESSAGES["unknown_distribution"] in raised(
        ValueError, keras_bam.FineTuningRecipe, distribution="mirrored"
    )


def test_unknown_distribution_on_the_command_line(capsys):
    from keras_bam_cli import main

    with pytest.raises(SystemExit) as info:
        main(["teacher", "--tasks", "rte", "--distribution", "mirrored"])
    assert info.value.code == 2
    assert MESSAGES["cli_unknown_distribution"] in capsys.readouterr().err


def test_unknown_split(tmp_path):
    assert MESSAGES["unknown_split"] in raised(
        ValueError, keras_bam.data.read_glue_tsv, "rte", "validation", tmp_path
    )


def test_unknown_source(tmp_path):
    assert MESSAGES["unknown_source"] in raised(
        ValueError, keras_bam.load_glue, "rte", "train", "csv", tmp_path
    )


# Teacher predictions.


@pytest.fixture(scope="module")
def train(glue_dir):
    return keras_bam.data.read_glue_tsv("rte", "train", glue_dir).select(np.arange(40))


@pytest.fixture
def teacher_file(train, tmp_path):
    """Predictions for `train`, where `train_student` looks for them."""
    path = keras_bam.data.teacher_predictions_path(tmp_path, "rte")
    logits = np.random.default_rng(0).normal(size=(len(train), 2))
    keras_bam.data.TeacherPredictions.from_outputs(train, logits).save(path)
    return path


def test_teacher_file_missing(tmp_path):
    path = keras_bam.data.teacher_predictions_path(tmp_path, "rte")
    message = raised(FileNotFoundError, keras_bam.data.TeacherPredictions.load, path)
    assert message.startswith(path) and MESSAGES["teacher_missing"] in message


def test_teacher_file_empty(teacher_file):
    open(teacher_file, "wb").close()
    message = raised(
        GlueDataError, keras_bam.data.TeacherPredictions.load, teacher_file
    )
    assert message.startswith(teacher_file) and MESSAGES["teacher_empty"] in message


@pytest.mark.parametrize("damage", ["truncated", "bytes flipped in the middle"])
def test_teacher_file_truncated_or_corrupt(teacher_file, damage):
    data = bytearray(open(teacher_file, "rb").read())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        middle = len(data) // 2
        data[middle : middle + 4] = bytes(b ^ 0xFF for b in data[middle : middle + 4])
    with open(teacher_file, "wb") as f:
        f.write(data)
    message = raised(
        GlueDataError, keras_bam.data.TeacherPredictions.load, teacher_file
    )
    assert message.startswith(teacher_file) and MESSAGES["teacher_damaged"] in message


def test_teacher_file_changed_after_writing(teacher_file):
    """Arrays rewritten into a well-formed archive still fail the recorded SHA-256."""
    with np.load(teacher_file) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["outputs"] = arrays["outputs"].copy()
    arrays["outputs"][3, 1] += 1.0
    np.savez(teacher_file, **arrays)
    message = raised(
        GlueDataError, keras_bam.data.TeacherPredictions.load, teacher_file
    )
    assert MESSAGES["teacher_checksum"] in message


def test_teacher_predictions_of_other_data(train, teacher_file):
    predictions = keras_bam.data.TeacherPredictions.load(teacher_file)
    changed = train.select(np.arange(len(train)))
    changed.texts[0][10] = "Another premise."
    message = raised(
        GlueDataError, predictions.check_matches, changed, source=teacher_file
    )
    assert (
        message.startswith(teacher_file) and MESSAGES["teacher_other_data"] in message
    )
    assert "RTE/train.tsv:12" in message  # The example's line in the data file.


def test_teacher_predictions_of_another_sample(
    glue_dir, tokenizer, train, teacher_file
):
    """Through `train_student`: teachers made on 40 examples, a student on 30."""
    teacher_dir = os.path.dirname(os.path.dirname(teacher_file))
    message = raised(
        GlueDataError,
        keras_bam.train_student,
        ["rte"],
        data_dir=glue_dir,
        teacher_dir=teacher_dir,
        backbone=make_tiny_backbone(),
        tokenizer=tokenizer,
        train_limit=30,
        verbose=0,
    )
    assert (
        message.startswith(teacher_file) and MESSAGES["teacher_other_size"] in message
    )


def test_teacher_predictions_of_another_task(glue_dir, teacher_file):
    wnli = keras_bam.data.read_glue_tsv("wnli", "train", glue_dir).select(np.arange(40))
    predictions = keras_bam.data.TeacherPredictions.load(teacher_file)
    assert MESSAGES["teacher_other_task"] in raised(
        GlueDataError, predictions.check_matches, wnli, source=teacher_file
    )


def test_teacher_predictions_with_wrong_class_count(train, tmp_path):
    path = str(tmp_path / "three.npz")
    keras_bam.data.TeacherPredictions(
        "rte", "train", np.zeros((len(train), 3)), train.fingerprints()
    ).save(path)
    predictions = keras_bam.data.TeacherPredictions.load(path)
    assert MESSAGES["teacher_wrong_classes"] in raised(
        GlueDataError, predictions.check_matches, train, source=path
    )


def test_teacher_predictions_not_finite(train, tmp_path):
    outputs = np.zeros((len(train), 2))
    outputs[7, 0] = np.nan
    path = keras_bam.data.TeacherPredictions.from_outputs(train, outputs).save(
        tmp_path / "nan.npz"
    )
    assert MESSAGES["teacher_not_finite"] in raised(
        GlueDataError, keras_bam.data.TeacherPredictions.load, path
    )


def test_pickled_teacher_file_is_not_unpickled(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(
        path,
        outputs=np.zeros((1, 2)),
        fingerprints=np.zeros(1, "S16"),
        metadata=np.array([{"format": "x"}], dtype=object),
    )
    assert MESSAGES["teacher_pickle"] in raised(
        GlueDataError, keras_bam.data.TeacherPredictions.load, path
    )


# The encoded-split cache: derived data, so a damaged entry is rebuilt.


@pytest.mark.parametrize("damage", ["truncated", "bytes flipped in the middle"])
def test_damaged_cache_entry_is_rebuilt(train, tokenizer, tmp_path, caplog, damage):
    expected = np.array(
        keras_bam.data.EncodedCache(tmp_path).encode(train, tokenizer, 64).token_ids
    )
    (metadata,) = tmp_path.glob("*/metadata.json")
    path = metadata.parent
    data = bytearray((path / "token_ids.npy").read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        middle = len(data) // 2
        data[middle : middle + 4] = bytes(b ^ 0xFF for b in data[middle : middle + 4])
    (path / "token_ids.npy").write_bytes(bytes(data))
    cache = keras_bam.data.EncodedCache(tmp_path)
    with caplog.at_level("WARNING"):
        encoded = cache.encode(train, tokenizer, 64)
    assert cache.stale == 1 and cache.hits == 0
    assert f"Encoded cache entry {path} {MESSAGES['cache_damaged']}" in caplog.text
    np.testing.assert_array_equal(encoded.token_ids, expected)
    assert (
        keras_bam.data.EncodedCache(tmp_path).encode(train, tokenizer, 64) is not None
    )


# Backbone, tokenizer, lengths, backend.


def test_tokenizer_of_another_model(glue_dir, tokenizer):
    import keras_hub

    small = keras_hub.models.BertBackbone(
        vocabulary_size=1000,
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=128,
        name="small_bert",
    )
    message = raised(
        ValueError,
        keras_bam.train_teacher,
        "rte",
        data_dir=glue_dir,
        backbone=small,
        tokenizer=tokenizer,
    )
    assert MESSAGES["vocabulary_mismatch"] in message


def test_max_length_above_the_backbone_limit(glue_dir, tokenizer):
    recipe = keras_bam.FineTuningRecipe(max_length=512)
    message = raised(
        ValueError,
        keras_bam.train_student,
        ["rte"],
        data_dir=glue_dir,
        teachers="none",
        distillation="gold",
        backbone=make_tiny_backbone(),  # Its position table has 128 rows.
        tokenizer=tokenizer,
        recipe=recipe,
    )
    assert MESSAGES["max_length_too_long"] in message


def test_max_length_too_short(train, tokenizer):
    assert MESSAGES["max_length_too_short"] in raised(
        ValueError, keras_bam.data.encode_examples, train, tokenizer, 3
    )


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_unsupported_backend(monkeypatch, glue_dir, backend):
    monkeypatch.setattr(keras.backend, "backend", lambda: backend)
    message = MESSAGES["unsupported_backend"].format(backend=backend)
    assert message in raised(
        RuntimeError, keras_bam.train_teacher, "rte", data_dir=glue_dir
    )
    assert message in raised(
        RuntimeError, keras_bam.SingleTaskModel, make_tiny_backbone(), "rte"
    )


# Tasks of your own: their data, names and tasks files, each refused before any
# training with nothing written.

INTENTS = ("greet", "order", "cancel", "refund", "other")


def intent_task(root, train, dev=None):
    splits = {"train": write(root, "intents", "train.csv", train)}
    if dev is not None:
        splits["dev"] = write(root, "intents", "dev.csv", dev)
    return keras_bam.tasks.Task(
        name="intent", text_fields=("text",), label_names=INTENTS, splits=splits
    )


@pytest.mark.parametrize(
    "key, train",
    [
        ("own_missing_column", "text,labels\nhi,greet\n"),
        ("own_unknown_label", "text,label\nhi,greet\nsome jazz,jazz\n"),
        ("own_missing_label", "text,label\nhi,\n"),
        ("own_empty_text", "text,label\n ,greet\n"),
    ],
)
def test_own_task_bad_rows(tmp_path, key, train):
    task = intent_task(tmp_path, train)
    output_dir = tmp_path / "teacher"
    message = raised(
        GlueDataError, keras_bam.train_teacher, task, output_dir=output_dir
    )
    assert MESSAGES[key] in message
    assert not output_dir.exists()  # Refused before anything was written.


@pytest.mark.parametrize(
    "key, score", [("own_bad_score", '"high"'), ("own_score_out_of_range", "1.5")]
)
def test_own_task_bad_scores(tmp_path, key, score):
    path = write(
        tmp_path,
        "closeness",
        "train.jsonl",
        '{"first": "a", "second": "b", "label": SCORE}\n'.replace("SCORE", score),
    )
    task = keras_bam.tasks.Task(
        name="closeness",
        text_fields=("first", "second"),
        score_range=(0, 1),
        splits={"train": path},
    )
    assert MESSAGES[key] in raised(
        GlueDataError, keras_bam.data.read_task_split, task, "train"
    )


def test_own_task_label_sets_differ(tmp_path):
    task = intent_task(
        tmp_path, "text,label\nhi,greet\nbye,other\n", "text,label\nmoney back,refund\n"
    )
    output_dir = tmp_path / "run"
    message = raised(
        GlueDataError, keras_bam.run_glue, [task, "rte"], output_dir=output_dir
    )
    assert MESSAGES["own_label_sets"] in message
    assert not output_dir.exists()


def test_own_task_names(tmp_path):
    task = intent_task(tmp_path, "text,label\nhi,greet\n")
    clash = keras_bam.tasks.Task(name="RTE", text_fields=("text",), label_names=INTENTS)
    assert MESSAGES["own_name_clash"] in raised(
        ValueError, keras_bam.train_teacher, clash
    )
    assert MESSAGES["own_name_twice"] in raised(
        ValueError, keras_bam.train_student, [task, task], teachers="none"
    )


def test_tasks_file_with_an_unknown_key(tmp_path, capsys):
    from keras_bam_cli import main

    path = write(
        tmp_path,
        ".",
        "tasks.toml",
        '[tasks.intent]\ntext_fields = ["text"]\nlables = ["a", "b"]\n',
    )
    assert MESSAGES["tasks_file_unknown_key"] in raised(
        keras_bam.tasks.TasksFileError, keras_bam.tasks.load_tasks_file, path
    )
    with pytest.raises(SystemExit) as info:
        main(["teacher", "--tasks-file", path])
    assert info.value.code == 2
    assert MESSAGES["tasks_file_unknown_key"] in capsys.readouterr().err


def test_nul_byte_in_a_glue_file(tmp_path):
    write(
        tmp_path,
        "RTE",
        "train.tsv",
        RTE_HEADER + "0\tA man\x00 sleeps.\tNo.\tentailment\n",
    )
    assert MESSAGES["nul_byte"] in raised(
        GlueDataError, keras_bam.data.read_glue_tsv, "rte", "train", tmp_path
    )


def test_own_task_nul_byte(tmp_path):
    task = intent_task(tmp_path, "text,label\nhello\x00 there,greet\n")
    assert MESSAGES["own_nul_byte"] in raised(
        GlueDataError, keras_bam.data.read_task_split, task, "train"
    )
    # Refused even from a task that keeps other control characters.
    keeping = dataclasses.replace(task, control_characters="keep")
    assert MESSAGES["own_nul_byte"] in raised(
        GlueDataError, keras_bam.data.read_task_split, keeping, "train"
    )


def test_own_task_control_character(tmp_path):
    """A control character (a bell, here) marks a damaged file, unless the task
    keeps them; tabs and line ends inside a quoted field are text (lines 2 and 3
    of the file: the bell is on its line 4)."""
    train = 'text,label\n"two\tcoffees,\r\nplease",order\nhello\x07 there,greet\n'
    task = intent_task(tmp_path, train)
    assert MESSAGES["own_control_character"] in raised(
        GlueDataError, keras_bam.data.read_task_split, task, "train"
    )
    keeping = dataclasses.replace(task, control_characters="keep")
    examples = keras_bam.data.read_task_split(keeping, "train")
    assert examples.texts[0] == ["two\tcoffees,\r\nplease", "hello\x07 there"]
    with pytest.raises(ValueError, match="control_characters must be one of"):
        dataclasses.replace(task, control_characters="drop")
