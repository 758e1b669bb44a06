import json

import numpy as np
import pytest
import tensorflow as tf

import keras_bam
from keras_bam.data import GlueDataError
from keras_bam.data import check_task_data
from keras_bam.data import read_task_split
from keras_bam.tasks import Task

LABELS = ("neg", "neu", "pos")


def sentiment(data, split="train", **kwargs):
    fields = dict(name="sentiment", text_fields=("text",), label_names=LABELS)
    return Task(**{**fields, **kwargs, "splits": {split: data}})


def pairs(data, split="train", **kwargs):
    fields = dict(name="closeness", text_fields=("a", "b"), score_range=(0, 1))
    return Task(**{**fields, **kwargs, "splits": {split: data}})


def read(task, split="train"):
    return read_task_split(task, split)


def test_csv_tsv_and_json_lines_read_alike(tmp_path):
    csv_path = tmp_path / "train.csv"
    csv_path.write_text('id,text,label\n7,"good, very",pos\n8,"say ""meh""",neu\n')
    tsv_path = tmp_path / "train.tsv"
    tsv_path.write_text('id\ttext\tlabel\n7\tgood, very\tpos\n8\tsay "meh"\tneu\n')
    jsonl_path = tmp_path / "train.jsonl"
    rows = [{"id": 7, "text": "good, very", "label": "pos"}]
    rows.append({"id": 8, "text": 'say "meh"', "label": "neu"})
    jsonl_path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    for path, lines in ((csv_path, [2, 3]), (tsv_path, [2, 3]), (jsonl_path, [1, 2])):
        examples = read(sentiment(str(path)))
        assert examples.texts == (["good, very", 'say "meh"'],)
        np.testing.assert_array_equal(examples.labels, [2, 1])
        assert examples.ids == ["7", "8"] and list(examples.lines) == lines
        assert examples.source == str(path)


def test_a_quoted_csv_field_across_lines_keeps_the_next_rows_line(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text('text,label\n"two\nlines",pos\n,neg\n')
    with pytest.raises(GlueDataError) as info:
        read(sentiment(str(path)))
    assert info.value.line == 4 and info.value.field == "text"


def test_memory_forms_read_alike():
    texts, labels = ["awful", "fine", "lovely"], ["neg", "neu", "pos"]
    expected = np.array([0, 1, 2])
    frames = [
        (texts, labels),
        (texts, [0, 1, 2]),  # Keras's integer labels.
        {"text": texts, "label": labels},
        tf.data.Dataset.from_tensor_slices((texts, labels)),
        tf.data.Dataset.from_tensor_slices((texts, [0, 1, 2])),
        tf.data.Dataset.from_tensor_slices({"text": texts, "label": labels}),
    ]
    import pandas as pd

    frames.append(pd.DataFrame({"text": texts, "label": labels}))
    for data in frames:
        examples = read(sentiment(data))
        assert examples.texts == (texts,), type(data)
        np.testing.assert_array_equal(examples.labels, expected)


def test_pairs_from_memory_and_tf_data():
    firsts, seconds, scores = ["a cat", "a dog"], ["one cat", "a car"], [0.9, 0.1]
    for data in (
        ((firsts, seconds), scores),
        tf.data.Dataset.from_tensor_slices(((firsts, seconds), scores)),
    ):
        examples = read(pairs(data))
        assert examples.texts == (firsts, seconds)
        np.testing.assert_allclose(examples.labels, scores)
    unlabeled = tf.data.Dataset.from_tensor_slices((firsts, seconds))
    examples = read(pairs(unlabeled, split="test"), "test")
    assert examples.texts == (firsts, seconds) and not examples.is_labeled


def test_numeric_class_names_are_matched_by_name_not_index(tmp_path):
    stars = Task(
        name="stars",
        text_fields=("text",),
        label_names=("1", "2", "3", "4", "5"),
        splits={"train": (["bad", "great"], [1, 5])},
    )
    np.testing.assert_array_equal(read(stars).labels, [0, 4])
    path = tmp_path / "stars.jsonl"
    path.write_text('{"text": "bad", "label": 1}\n{"text": "ok", "label": 0}\n')
    stars = Task(**{**stars.get_config(), "splits": {"train": str(path)}})
    with pytest.raises(GlueDataError, match=":2: field 'label': unknown label 0"):
        read(stars)


def test_a_test_split_may_be_unlabeled(tmp_path):
    path = tmp_path / "test.csv"
    path.write_text("text\nhello\nbye\n")
    examples = read(sentiment(str(path), split="test"), "test")
    np.testing.assert_array_equal(examples.labels, [-1, -1])
    assert sentiment(str(path), split="test").submission_file == {
        "test": "sentiment_test.tsv"
    }


@pytest.mark.parametrize(
    "content, line, field, message",
    [
        ("text,labels\nhi,pos\n", 1, "label", "the column is missing"),
        ("text,label\nhi,great\n", 2, "label", "unknown label 'great'"),
        ("text,label\nhi,\n", 2, "label", "the label is missing"),
        ("text,label\n  ,pos\n", 2, "text", "is empty"),
        ("text,label\nhi,pos,extra\n", 2, None, "has 3 fields, expected 2"),
    ],
)
def test_bad_rows_name_file_line_and_field(tmp_path, content, line, field, message):
    path = tmp_path / "train.csv"
    path.write_text(content)
    with pytest.raises(GlueDataError) as info:
        read(sentiment(str(path)))
    error = info.value
    assert (error.path, error.line, error.field) == (str(path), line, field)
    assert message in str(error)


@pytest.mark.parametrize(
    "score, message",
    [("high", "is not a number: 'high'"), ("1.5", "score '1.5' is outside [0, 1]")],
)
def test_bad_scores_name_file_line_and_field(tmp_path, score, message):
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps({"a": "x", "b": "y", "label": score}) + "\n")
    with pytest.raises(GlueDataError) as info:
        read(pairs(str(path)))
    assert (info.value.line, info.value.field) == (1, "label")
    assert message in str(info.value)


def test_every_bad_row_is_listed_and_nothing_is_loaded(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("text,label\nok,pos\n,pos\nfine,meh\n")
    with pytest.raises(GlueDataError) as info:
        read(sentiment(str(path)))
    assert [(e[1], e[2]) for e in info.value.errors] == [(3, "text"), (4, "label")]
    assert "2 bad row(s)" in str(info.value)


def test_bad_memory_rows_name_the_split_and_row():
    with pytest.raises(GlueDataError) as info:
        read(sentiment((["fine", None], ["pos", "neg"])))
    assert info.value.path == "sentiment/train (texts, labels)"
    assert (info.value.line, info.value.field) == (1, "text")
    assert "is missing" in str(info.value)


def test_unreadable_sources_are_clear(tmp_path):
    with pytest.raises(GlueDataError, match="cannot tell the format"):
        read(sentiment(str(tmp_path / "train.xlsx")))
    with pytest.raises(FileNotFoundError, match="no such file"):
        read(sentiment(str(tmp_path / "train.csv")))
    with pytest.raises(TypeError, match="cannot read a int"):
        read(sentiment(3))
    path = tmp_path / "train.jsonl"
    path.write_text('{"text": "a", "label": "pos"}\n[1, 2]\n{"text": \n')
    with pytest.raises(GlueDataError) as info:
        read(sentiment(str(path)))
    assert [e[1] for e in info.value.errors] == [2, 3]


def test_a_dev_label_that_train_never_has_is_refused(tmp_path):
    train, dev = tmp_path / "train.csv", tmp_path / "dev.csv"
    train.write_text("text,label\na,neg\nb,pos\n")
    dev.write_text("text,label\nc,pos\nd,neu\n")
    task = Task(
        name="sentiment",
        text_fields=("text",),
        label_names=LABELS,
        splits={"train": str(train), "dev": str(dev)},
    )
    with pytest.raises(GlueDataError) as info:
        check_task_data(task)
    assert (info.value.path, info.value.line, info.value.field) == (
        str(dev),
        3,
        "label",
    )
    assert "label(s) ['neu'] that the train split" in str(info.value)
    assert check_task_data(keras_bam.get_task("rte")) == {}


def test_own_tasks_load_through_the_split_loader(tokenizer):
    task = sentiment((["awful", "fine", "lovely"], ["neg", "neu", "pos"]))
    loader = keras_bam.data.SplitLoader(tokenizer)
    examples, encoded = loader.load(task, "train", limit=2)
    assert len(examples) == len(encoded) == 2
