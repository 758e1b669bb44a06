"""The GLUE task registry: one description per task, shared by every module."""

from __future__ import annotations

import dataclasses

from keras_bam.tasks.task import Task


@dataclasses.dataclass(frozen=True)
class TsvSplit:
    """Where one split of a task lives in the standard GLUE folder and how to read it.

    Columns are named by their header, so files whose column count differs between
    splits (MNLI's dev files carry five annotator labels, its test file none) are read
    by the same code. Files without a header (CoLA train/dev) name columns by index.

    Args:
        file: file name inside the task's folder, e.g. `"dev_matched.tsv"`.
        text_columns: header names (or integer indices) of the one or two text fields.
        label_column: header name (or index) of the gold label, `None` for unlabeled
            splits.
        has_header: whether the first line is a header.
        num_columns: the number of fields every row must have when the file has no
            header; with a header, the header's own field count is used.
    """

    file: str
    text_columns: tuple
    label_column: str | int | None = None
    has_header: bool = True
    num_columns: int | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class GlueTask(Task):
    """A GLUE task: a `Task` read from GLUE's TSV folder or TFDS, with its
    leaderboard file.

    Its `splits` are `TsvSplit`s, where each split lies in the standard GLUE
    folder and how to read it.

    Args:
        tsv_labels: the label strings of the TSV files and of GLUE submission
            files, in label-index order; empty for regression.
        tfds_name: the TFDS builder, e.g. `"glue/rte"`.
        tsv_folder: the folder name in the standard GLUE layout.
        tfds_splits: our split name to TFDS's split name.
        **kwargs: `Task`'s fields. `label_names` are TFDS's class names;
            `metrics` are the official GLUE dev metrics, in reporting order;
            STS-B's `score_range` is (0, 5), so it trains on score / 5 as BAM
            does; `double_unordered` is set for MRPC and STS-B, whose label
            does not depend on the order of the two sentences;
            `control_characters` is `"keep"`: GLUE's own files hold a few
            (CoLA's U+0008, STS-B's U+0012), read as GLUE has them.
    """

    tsv_labels: tuple
    tfds_name: str
    tsv_folder: str
    tfds_splits: dict
    control_characters: str = "keep"

    @property
    def written_labels(self) -> tuple:
        return self.tsv_labels

    def get_config(self) -> dict:
        raise TypeError(
            f"GLUE's {self.display_name} is known by its name, {self.name!r}; "
            "it has no config of its own."
        )


def _pair_splits(train, dev, test, text, label, test_text=None):
    test_text = test_text or text
    return {
        "train": TsvSplit(train, text, label),
        "dev": TsvSplit(dev, text, label),
        "test": TsvSplit(test, test_text, None),
    }


GLUE_TASKS: dict[str, GlueTask] = {
    "cola": GlueTask(
        name="cola",
        display_name="CoLA",
        text_fields=("sentence",),
        label_names=("unacceptable", "acceptable"),
        tsv_labels=("0", "1"),
        metrics=("matthews_corrcoef",),
        tfds_name="glue/cola",
        tsv_folder="CoLA",
        splits={
            # CoLA train/dev have no header: source, label, original label, sentence.
            "train": TsvSplit("train.tsv", (3,), 1, has_header=False, num_columns=4),
            "dev": TsvSplit("dev.tsv", (3,), 1, has_header=False, num_columns=4),
            "test": TsvSplit("test.tsv", ("sentence",), None),
        },
        tfds_splits={"train": "train", "dev": "validation", "test": "test"},
        submission_file={"test": "CoLA.tsv"},
    ),
    "sst2": GlueTask(
        name="sst2",
        display_name="SST-2",
        text_fields=("sentence",),
        label_names=("negative", "positive"),
        tsv_labels=("0", "1"),
        metrics=("accuracy",),
        tfds_name="glue/sst2",
        tsv_folder="SST-2",
        splits={
            "train": TsvSplit("train.tsv", ("sentence",), "label"),
            "dev": TsvSplit("dev.tsv", ("sentence",), "label"),
            "test": TsvSplit("test.tsv", ("sentence",), None),
        },
        tfds_splits={"train": "train", "dev": "validation", "test": "test"},
        submission_file={"test": "SST-2.tsv"},
    ),
    "mrpc": GlueTask(
        name="mrpc",
        display_name="MRPC",
        text_fields=("sentence1", "sentence2"),
        label_names=("not_equivalent", "equivalent"),
        tsv_labels=("0", "1"),
        metrics=("f1", "accuracy"),
        tfds_name="glue/mrpc",
        tsv_folder="MRPC",
        splits=_pair_splits(
            "train.tsv", "dev.tsv", "test.tsv", ("#1 String", "#2 String"), "Quality"
        ),
        tfds_splits={"train": "train", "dev": "validation", "test": "test"},
        submission_file={"test": "MRPC.tsv"},
        double_unordered=True,
    ),
    "stsb": GlueTask(
        name="stsb",
        display_name="STS-B",
        text_fields=("sentence1", "sentence2"),
        label_names=(),
        tsv_labels=(),
        metrics=("pearson", "spearman"),
        tfds_name="glue/stsb",
        tsv_folder="STS-B",
        splits=_pair_splits(
            "train.tsv", "dev.tsv", "test.tsv", ("sentence1", "sentence2"), "score"
        ),
        tfds_splits={"train": "train", "dev": "validation", "test": "test"},
        submission_file={"test": "STS-B.tsv"},
        score_range=(0.0, 5.0),
        double_unordered=True,
    ),
    "qqp": GlueTask(
        name="qqp",
        display_name="QQP",
        text_fields=("question1", "question2"),
        label_names=("not_duplicate", "duplicate"),
        tsv_labels=("0", "1"),
        metrics=("f1", "accuracy"),
        tfds_name="glue/qqp",
        tsv_folder="QQP",
        splits=_pair_splits(
            "train.tsv",
            "dev.tsv",
            "test.tsv",
            ("question1", "question2"),
            "is_duplicate",
        ),
        tfds_splits={"train": "train", "dev": "validation", "test": "test"},
        submission_file={"test": "QQP.tsv"},
    ),
    "mnli": GlueTask(
        name="mnli",
        display_name="MNLI",
        text_fields=("premise", "hypothesis"),
        label_names=("entailment", "neutral", "contradiction"),
        tsv_labels=("entailment", "neutral", "contradiction"),
        metrics=("accuracy",),
        tfds_name="glue/mnli",
        tsv_folder="MNLI",
        splits={
            "train": TsvSplit("train.tsv", ("sentence1", "sentence2"), "gold_label"),
            "dev_matched": TsvSplit(
                "dev_matched.tsv", ("sentence1", "sentence2"), "gold_label"
            ),
            "dev_mismatched": TsvSplit(
                "dev_mismatched.tsv", ("sentence1", "sentence2"), "gold_label"
            ),
            "test_matched": TsvSplit("test_matched.tsv", ("sentence1", "sentence2")),
            "test_mismatched": TsvSplit(
                "test_mismatched.tsv", ("sentence1", "sentence2")
            ),
        },
        tfds_splits={
            "train": "train",
            "dev_matched": "validation_matched",
            "dev_mismatched": "validation_mismatched",
            "test_matched": "test_matched",
            "test_mismatched": "test_mismatched",
        },
        submission_file={
            "test_matched": "MNLI-m.tsv",
            "test_mismatched": "MNLI-mm.tsv",
        },
        eval_split=("dev_matched", "dev_mismatched"),
    ),
    "qnli": GlueTask(
        name="qnli",
        display_name="QNLI",
        text_fields=("question", "sentence"),
        label_names=("entailment", "not_entailment"),
        tsv_labels=("entailment", "not_entailment"),
        metrics=("accuracy",),
        tfds_name="glue/qnli",
        tsv_folder="QNLI",
        splits=_pair_splits(
            "train.tsv", "dev.tsv", "test.tsv", ("question", "sentence"), "label"
        ),
        tfds_splits={"train": "train", "dev": "validation", "test": "test"},
        submission_file={"test": "QNLI.tsv"},
    ),
    "rte": GlueTask(
        name="rte",
        display_name="RTE",
        text_fields=("sentence1", "sentence2"),
        label_names=("entailment", "not_entailment"),
        tsv_labels=("entailment", "not_entailment"),
        metrics=("accuracy",),
        tfds_name="glue/rte",
        tsv_folder="RTE",
        splits=_pair_splits(
            "train.tsv", "dev.tsv", "test.tsv", ("sentence1", "sentence2"), "label"
        ),
        tfds_splits={"train": "train", "dev": "validation", "test": "test"},
        submission_file={"test": "RTE.tsv"},
    ),
    "wnli": GlueTask(
        name="wnli",
        display_name="WNLI",
        text_fields=("sentence1", "sentence2"),
        label_names=("not_entailment", "entailment"),
        tsv_labels=("0", "1"),
        metrics=("accuracy",),
        tfds_name="glue/wnli",
        tsv_folder="WNLI",
        splits=_pair_splits(
            "train.tsv", "dev.tsv", "test.tsv", ("sentence1", "sentence2"), "label"
        ),
        tfds_splits={"train": "train", "dev": "validation", "test": "test"},
        submission_file={"test": "WNLI.tsv"},
    ),
    "ax": GlueTask(
        name="ax",
        display_name="AX",
        text_fields=("premise", "hypothesis"),
        label_names=("entailment", "neutral", "contradiction"),
        tsv_labels=("entailment", "neutral", "contradiction"),
        metrics=(),
        tfds_name="glue/ax",
        tsv_folder="diagnostic",
        splits={"test": TsvSplit("diagnostic.tsv", ("sentence1", "sentence2"))},
        tfds_splits={"test": "test"},
        submission_file={"test": "AX.tsv"},
        eval_split=(),
    ),
}

GLUE_ALIASES = {
    "sst-2": "sst2",
    "sts-b": "stsb",
    "mnli-m": "mnli",
    "diagnostic": "ax",
}
