import pytest

import keras_bam
from keras_bam.tasks.glue_tasks import GLUE_TASKS


def test_every_task_is_consistent():
    for name, task in GLUE_TASKS.items():
        assert task.name == name
        assert len(task.text_fields) in (1, 2)
        if task.is_regression:
            assert task.num_outputs == 1 and not task.label_names
        else:
            assert len(task.label_names) == len(task.tsv_labels) == task.num_outputs
        assert set(task.tfds_splits) == set(task.splits)
        for split in task.eval_split:
            assert task.split(split).label_column is not None
        for split in task.submission_file:
            assert task.split(split).label_column is None
        for layout in task.splits.values():
            assert len(layout.text_columns) == len(task.text_fields)


@pytest.mark.parametrize(
    "alias, name",
    [
        ("RTE", "rte"),
        ("STS-B", "stsb"),
        ("sst-2", "sst2"),
        (" MNLI ", "mnli"),
        ("diagnostic", "ax"),
    ],
)
def test_aliases(alias, name):
    assert keras_bam.get_task(alias).name == name


def test_unknown_task_names_the_known_ones():
    with pytest.raises(
        ValueError, match="Unknown task 'rtee': not a GLUE task .*cola.*wnli"
    ):
        keras_bam.get_task("rtee")


def test_unknown_split():
    with pytest.raises(ValueError, match="no split 'dev'.*dev_matched"):
        keras_bam.get_task("mnli").split("dev")


def test_official_metrics_and_submission_names():
    assert keras_bam.get_task("cola").metrics == ("matthews_corrcoef",)
    assert keras_bam.get_task("mrpc").metrics == ("f1", "accuracy")
    assert keras_bam.get_task("qqp").metrics == ("f1", "accuracy")
    assert keras_bam.get_task("stsb").metrics == ("pearson", "spearman")
    assert keras_bam.get_task("mnli").eval_split == ("dev_matched", "dev_mismatched")
    assert keras_bam.get_task("mnli").submission_file == {
        "test_matched": "MNLI-m.tsv",
        "test_mismatched": "MNLI-mm.tsv",
    }
    assert keras_bam.get_task("ax").submission_file == {"test": "AX.tsv"}
    doubled = {name for name, task in GLUE_TASKS.items() if task.double_unordered}
    assert doubled == {"mrpc", "stsb"}  # As BAM's double_unordered.
