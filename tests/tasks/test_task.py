import json

import numpy as np
import pytest

import keras_bam
from keras_bam.tasks import Task
from keras_bam.tasks import TasksFileError
from keras_bam.tasks import load_tasks_file


def intent(**kwargs):
    fields = dict(
        name="intent",
        text_fields=("text",),
        label_names=("greet", "order", "cancel", "refund", "other"),
    )
    return Task(**{**fields, **kwargs})


def test_glue_tasks_are_tasks():
    for task in keras_bam.GLUE_TASKS.values():
        assert isinstance(task, Task) and isinstance(task, keras_bam.tasks.GlueTask)
    stsb = keras_bam.get_task("stsb")
    assert stsb.is_regression and stsb.score_range == (0.0, 5.0)
    assert stsb.target_scale == 5.0 and stsb.target_offset == 0.0
    assert keras_bam.get_task("rte").written_labels == ("entailment", "not_entailment")


def test_a_classification_task_has_its_classes_and_accuracy_by_default():
    task = intent()
    assert task.num_outputs == 5 and not task.is_regression and not task.is_pair
    assert task.metrics == ("accuracy",) and task.headline_metric == "accuracy"
    assert task.text_columns == ("text",) and task.label_column == "label"
    assert task.display_name == "intent"


def test_a_regression_task_trains_on_its_range_scaled_to_0_1():
    task = Task(name="sim", text_fields=("a", "b"), score_range=(-1, 3))
    assert task.is_pair and task.num_outputs == 1
    assert task.metrics == ("pearson", "spearman")
    targets = task.training_targets([-1.0, 1.0, 3.0])
    assert targets.dtype == np.float32
    np.testing.assert_array_equal(targets, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(task.scores_from_outputs(targets), [-1.0, 1.0, 3.0])


def test_stsb_targets_are_bams_score_over_5_bit_for_bit():
    scores = np.array([0.0, 1.2, 3.8, 5.0], np.float32)
    stsb = keras_bam.get_task("stsb")
    np.testing.assert_array_equal(stsb.training_targets(scores), scores / 5.0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": "my task"}, "is not a Python identifier"),
        ({"text_fields": ("a", "b", "c")}, "one text field or a pair"),
        ({"label_names": ("only",)}, "at least two classes"),
        ({"label_names": ("a", "b", "a")}, "repeats \\['a'\\]"),
        ({"label_names": (), "score_range": None}, "either label_names"),
        ({"score_range": (0, 1)}, "not both"),
        ({"metrics": ("pearson",)}, "not metrics of a classification task"),
        ({"metrics": ("f1",)}, "use 'macro_f1'"),
        ({"text_columns": ("a", "b")}, "one column per text field"),
    ],
)
def test_a_bad_definition_is_refused_with_its_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        intent(**kwargs)


def test_bad_score_ranges_are_refused():
    for score_range in [(1, 1), (0, float("inf")), ("low", "high")]:
        with pytest.raises(ValueError, match="score_range"):
            Task(name="sim", text_fields=("a",), score_range=score_range)


def test_config_round_trip_keeps_the_definition_and_its_files():
    task = intent(metrics=("macro_f1", "accuracy"), splits={"train": "x.csv"})
    config = json.loads(json.dumps(task.get_config()))
    again = Task.from_config(config)
    assert again == task and again.splits == {"train": "x.csv"}
    memory = intent(splits={"train": (["hi"], ["greet"])})
    assert "splits" not in memory.get_config()  # In-memory data is not config.


def test_own_tasks_are_found_by_name_once_registered():
    task = keras_bam.tasks.register_task(intent(name="intent_registry"))
    assert keras_bam.get_task("intent_registry") is task
    with pytest.raises(ValueError, match="Unknown task 'nope': not a GLUE task"):
        keras_bam.get_task("nope")


def test_a_name_of_glue_clashes():
    for name in ("RTE", "sst2", "Diagnostic"):
        with pytest.raises(ValueError, match="clashes with GLUE's"):
            keras_bam.tasks.register_task(intent(name=name))


def test_tasks_of_one_run_must_have_distinct_names():
    with pytest.raises(ValueError, match="given more than once"):
        keras_bam.tasks.resolve_tasks([intent(), intent(label_names=("a", "b"))])
    with pytest.raises(ValueError, match="given more than once"):
        keras_bam.tasks.resolve_tasks(["rte", "RTE"])


TOML = """
[tasks.topic]
text_fields = ["text"]
label_names = ["a", "b", "c"]
metrics = ["macro_f1", "accuracy"]
splits = { train = "data/train.csv", dev = "data/dev.csv" }

[tasks.closeness]
text_fields = ["first", "second"]
score_range = [0, 1]
double_unordered = true
splits = { train = "data/sim.jsonl" }
"""


def test_a_toml_tasks_file_defines_and_registers_tasks(tmp_path):
    path = tmp_path / "tasks.toml"
    path.write_text(TOML)
    topic, closeness = load_tasks_file(path)
    assert topic.name == "topic" and topic.metrics == ("macro_f1", "accuracy")
    assert topic.splits["train"] == str(tmp_path / "data" / "train.csv")
    assert closeness.is_regression and closeness.double_unordered
    assert keras_bam.get_task("closeness") is closeness


def test_json_and_yaml_tasks_files_read_alike(tmp_path):
    entry = {"text_fields": ["text"], "label_names": ["x", "y"]}
    (tmp_path / "tasks.json").write_text(json.dumps({"tasks": {"pair_json": entry}}))
    (tmp_path / "tasks.yaml").write_text(
        "tasks:\n  pair_yaml:\n    text_fields: [text]\n    label_names: [x, y]\n"
    )
    (json_task,) = load_tasks_file(tmp_path / "tasks.json")
    assert json_task.label_names == ("x", "y")
    (yaml_task,) = load_tasks_file(tmp_path / "tasks.yaml")
    assert yaml_task.label_names == json_task.label_names


@pytest.mark.parametrize(
    "content, message",
    [
        (
            '[tasks.topic]\ntext_fields = ["t"]\nlables = ["a", "b"]\n',
            "tasks.toml: tasks.topic: unknown key(s) ['lables']",
        ),
        ('[tasks.topic]\nlabel_names = ["a", "b"]\n', "tasks.toml: tasks.topic:"),
        ('[tasks.rte]\ntext_fields = ["t"]\nlabel_names = ["a", "b"]\n', "clashes"),
        ('[task.topic]\ntext_fields = ["t"]\n', "holds one table, 'tasks'"),
        ("[tasks.topic\n", "tasks.toml: not valid TOML"),
        (
            '[tasks.topic]\ntext_fields = ["t"]\nlabel_names = ["a", "b"]\n'
            "splits = { train = 3 }\n",
            "tasks.topic.splits: each split names a file",
        ),
    ],
)
def test_a_bad_tasks_file_names_the_file_and_entry(tmp_path, content, message):
    path = tmp_path / "tasks.toml"
    path.write_text(content)
    with pytest.raises(TasksFileError) as info:
        load_tasks_file(path)
    assert message in str(info.value)
    assert str(info.value).startswith(str(path))


def test_a_json_tasks_file_with_a_task_twice_is_refused(tmp_path):
    path = tmp_path / "tasks.json"
    entry = '{"text_fields": ["t"], "label_names": ["a", "b"]}'
    path.write_text(
        '{"tasks": {"twice": ENTRY, "twice": ENTRY}}'.replace("ENTRY", entry)
    )
    with pytest.raises(TasksFileError, match="given twice"):
        load_tasks_file(path)
