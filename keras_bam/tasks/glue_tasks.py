"""The GLUE task registry: one description per task, shared by every module."""

from __future__ import annotations

import dataclasses


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


@dataclasses.dataclass(frozen=True)
class GlueTask:
    """Everything keras-bam needs to know about one GLUE task.

    Args:
        name: the canonical short name, e.g. `"rte"`.
        display_name: the name GLUE uses, e.g. `"RTE"`.
        text_fields: names of the text fields, one or two (TFDS's feature names).
        label_names: class names in label-index order (TFDS's order); empty for
            regression.
        tsv_labels: the label strings of the TSV files and of GLUE submission
            files, in label-index order; empty for regression.
        is_regression: True for STS-B.
        metrics: the official GLUE dev metrics, in reporting order. The first is the
            task's headline score.
        tfds_name: the TFDS builder, e.g. `"glue/rte"`.
        tsv_folder: the folder name in the standard GLUE layout.
        splits: split name to `TsvSplit`.
        tfds_splits: our split name to TFDS's split name.
        submission_file: the GLUE leaderboard file name for the test predictions.
        target_scale: regression targets are divided by this for training (BAM
            trains STS-B on score / 5) and predictions multiplied back.
        double_unordered: BAM trains this task on both text orders (its
            `double_unordered` option; MRPC and STS-B, whose label does not depend
            on the order of the two sentences).
        eval_split: the default dev split(s) for evaluation.
    """

    name: str
    display_name: str
    text_fields: tuple
    label_names: tuple
    tsv_labels: tuple
    is_regression: bool
    metrics: tuple
    tfds_name: str
    tsv_folder: str
    splits: dict
    tfds_splits: dict
    submission_file: dict
    target_scale: float = 1.0
    double_unordered: bool = False
    eval_split: tuple = ("dev",)

    @property
    def num_outputs(self) -> int:
        """Width of the task head: 1 for regression, else the number of classes."""
        return 1 if self.is_regression else len(self.label_names)

    @property
    def is_pair(self) -> bool:
        """Whether examples hold two texts."""
        return len(self.text_fields) == 2

    @property
    def headline_metric(self) -> str:
        return self.metrics[0]

    def split(self, split: str) -> TsvSplit:
        if split not in self.splits:
            raise ValueError(
                f"Task '{self.name}' has no split '{split}'. "
                f"Known splits: {sorted(self.splits)}."
            )
        return self.splits[split]


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
        is_regression=False,
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
        is_regression=False,
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
        is_regression=False,
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
        is_regression=True,
        metrics=("pearson", "spearman"),
        tfds_name="glue/stsb",
        tsv_folder="STS-B",
        splits=_pair_splits(
            "train.tsv", "dev.tsv", "test.tsv", ("sentence1", "sentence2"), "score"
        ),
        tfds_splits={"train": "train", "dev": "validation", "test": "test"},
        submission_file={"test": "STS-B.tsv"},
        target_scale=5.0,
        double_unordered=True,
    ),
    "qqp": GlueTask(
        name="qqp",
        display_name="QQP",
        text_fields=("question1", "question2"),
        label_names=("not_duplicate", "duplicate"),
        tsv_labels=("0", "1"),
        is_regression=False,
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
        is_regression=False,
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
        is_regression=False,
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
        is_regression=False,
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
        is_regression=False,
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
        is_regression=False,
        metrics=(),
        tfds_name="glue/ax",
        tsv_folder="diagnostic",
        splits={"test": TsvSplit("diagnostic.tsv", ("sentence1", "sentence2"))},
        tfds_splits={"test": "test"},
        submission_file={"test": "AX.tsv"},
        eval_split=(),
    ),
}

_ALIASES = {
    "sst-2": "sst2",
    "sts-b": "stsb",
    "mnli-m": "mnli",
    "diagnostic": "ax",
}


def get_task(name: str | GlueTask) -> GlueTask:
    """Returns the `GlueTask` for a name such as `"rte"`, `"STS-B"` or `"sst-2"`.

    Args:
        name: a task name, case-insensitive, or a `GlueTask` (returned as is).

    Returns:
        The registered `GlueTask`.

    Example:
    ```python
    task = keras_bam.get_task("STS-B")
    task.is_regression  # True
    ```
    """
    if isinstance(name, GlueTask):
        return name
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in GLUE_TASKS:
        raise ValueError(
            f"Unknown GLUE task '{name}'. Known tasks: {', '.join(sorted(GLUE_TASKS))}."
        )
    return GLUE_TASKS[key]
