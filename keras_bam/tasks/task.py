"""`Task`: what one text classification or regression task is, GLUE's or yours."""

from __future__ import annotations

import dataclasses
import math
import os
import re

import numpy as np

# Each metric's name, what it needs, and what it reads (`evaluation.scoring`).
CLASSIFICATION_METRICS = ("accuracy", "f1", "macro_f1", "matthews_corrcoef")
REGRESSION_METRICS = ("pearson", "spearman")
# A task's name becomes a head's layer name, metric names (`<task>_<metric>`),
# file names and a SavedModel endpoint (`serve_<task>`): a Python identifier.
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# What a task does with a text holding a control character (`Task`).
CONTROL_CHARACTERS = ("refuse", "keep")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Task:
    """One text classification or regression task: its texts, labels, metrics and data.

    A task has one or two text fields, and either class names (binary or
    multi-class, any count) or a regression range. Regression scores are
    trained as `(score - low) / (high - low)`, as BAM trains STS-B on score / 5,
    and predictions are mapped back. GLUE's tasks are `GlueTask`s, a subclass
    that adds GLUE's files, TFDS builders and leaderboard files.

    `splits` maps a split name (`"train"`, `"dev"`, `"test"`, ...) to its data:
    a CSV, TSV or JSON Lines file (by its extension: `.csv`, `.tsv`, `.jsonl`)
    with a header (or keys) naming the columns; a pandas `DataFrame`; a dict of
    column lists; a `(texts, labels)` pair, `texts` a list of strings (or, for
    pairs, a tuple of two lists) and `labels` `None` for unlabeled data; or a
    `tf.data.Dataset` of `(texts, label)` (of texts alone, unlabeled).
    Labels are class names (or, in memory, class indices) or scores; a split
    without a label column (a test file) is unlabeled.
    `keras_bam.data.read_task_split` reads and checks a split.

    Args:
        name: the task's name, a Python identifier (`"intent"`): it names the
            task's head, metrics, files and serving endpoint.
        text_fields: the names of the one or two text fields.
        label_names: the class names, in head order (classification).
        score_range: `(low, high)`, the range of the scores (regression).
        metrics: the dev metrics, the first the headline: `"accuracy"`,
            `"f1"` (binary: the second class is the positive one),
            `"macro_f1"`, `"matthews_corrcoef"`; `"pearson"`, `"spearman"`.
            Accuracy, or Pearson and Spearman, by default.
        splits: split name to data (see above).
        text_columns: the columns (or keys) holding the text fields, when
            they are named other than `text_fields`.
        label_column: the column (or key) holding the label.
        display_name: the name in tables; `name` by default.
        double_unordered: train on both orders of a pair (BAM's option for
            tasks whose label does not depend on the order, as STS-B's).
        eval_split: the dev split(s) a run evaluates on.
        submission_file: test split to the file its predictions are written
            to; `<name>_<split>.tsv` for each split whose name starts with
            `"test"` by default.
        control_characters: `"refuse"` a text holding a control character
            (other than tab and line ends), the mark of a damaged file, naming
            its file, line and field; or `"keep"` it, for texts that hold them
            on purpose (GLUE's do: CoLA's U+0008, STS-B's U+0012; BERT's
            tokenizer drops them). A NUL byte is refused either way.

    Example:
    ```python
    intent = keras_bam.tasks.Task(
        name="intent",
        text_fields=("text",),
        label_names=("greet", "order", "cancel"),
        splits={"train": (["hi there", "two coffees", "stop it"],
                          ["greet", "order", "cancel"])},
    )
    intent.num_outputs  # 3
    ```
    """

    name: str
    text_fields: tuple
    label_names: tuple = ()
    score_range: tuple | None = None
    metrics: tuple | None = None
    splits: dict = dataclasses.field(default_factory=dict, compare=False)
    text_columns: tuple | None = None
    label_column: str | int | None = "label"
    display_name: str = ""
    double_unordered: bool = False
    eval_split: tuple = ("dev",)
    submission_file: dict | None = None
    control_characters: str = "refuse"

    def __post_init__(self):
        def put(field, value):
            object.__setattr__(self, field, value)

        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(
                f"Task name {self.name!r} is not a Python identifier (letters, "
                "digits and '_', starting with a letter): it names the task's "
                "head, metrics, files and serving endpoint."
            )
        put("text_fields", _strings(self.text_fields, "text_fields", self.name))
        if len(self.text_fields) not in (1, 2):
            raise ValueError(
                f"Task '{self.name}': text_fields holds {len(self.text_fields)} "
                "names; a task has one text field or a pair."
            )
        put("label_names", _strings(self.label_names or (), "label_names", self.name))
        self._check_target()
        metrics = self._default_metrics() if self.metrics is None else self.metrics
        put("metrics", _strings(metrics, "metrics", self.name))
        self._check_metrics()
        if self.text_columns is None:
            put("text_columns", self.text_fields)
        else:
            put("text_columns", tuple(self.text_columns))
        if len(self.text_columns) != len(self.text_fields):
            raise ValueError(
                f"Task '{self.name}': text_columns {list(self.text_columns)} "
                f"must name one column per text field {list(self.text_fields)}."
            )
        if self.control_characters not in CONTROL_CHARACTERS:
            raise ValueError(
                f"Task '{self.name}': control_characters must be one of "
                f"{CONTROL_CHARACTERS}, not {self.control_characters!r}."
            )
        put("display_name", self.display_name or self.name)
        put("splits", dict(self.splits or {}))
        put("eval_split", tuple(self.eval_split))
        if self.submission_file is None:
            tests = [s for s in self.splits if s.startswith("test")]
            put("submission_file", {s: f"{self.name}_{s}.tsv" for s in tests})

    def _check_target(self):
        if bool(self.label_names) == (self.score_range is not None):
            raise ValueError(
                f"Task '{self.name}' needs either label_names (classification) or "
                "score_range (regression), not both and not neither."
            )
        if self.label_names:
            if len(self.label_names) < 2:
                raise ValueError(
                    f"Task '{self.name}': label_names needs at least two classes, "
                    f"got {list(self.label_names)}."
                )
            repeated = sorted(
                {x for x in self.label_names if self.label_names.count(x) > 1}
            )
            if repeated:
                raise ValueError(f"Task '{self.name}': label_names repeats {repeated}.")
            return
        try:
            low, high = (float(x) for x in self.score_range)
        except (TypeError, ValueError):
            raise ValueError(
                f"Task '{self.name}': score_range must be (low, high) numbers, got "
                f"{self.score_range!r}."
            ) from None
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(
                f"Task '{self.name}': score_range {self.score_range!r} must be "
                "finite with low < high."
            )
        object.__setattr__(self, "score_range", (low, high))

    def _default_metrics(self) -> tuple:
        return REGRESSION_METRICS if self.is_regression else ("accuracy",)

    def _check_metrics(self):
        known = REGRESSION_METRICS if self.is_regression else CLASSIFICATION_METRICS
        unknown = [m for m in self.metrics if m not in known]
        if unknown:
            kind = "a regression" if self.is_regression else "a classification"
            raise ValueError(
                f"Task '{self.name}': metrics {unknown} are not metrics of "
                f"{kind} task; use some of {list(known)}."
            )
        if "f1" in self.metrics and len(self.label_names) != 2:
            raise ValueError(
                f"Task '{self.name}': 'f1' is the positive class's F1 of a binary "
                f"task; with {len(self.label_names)} classes use 'macro_f1'."
            )

    @property
    def is_regression(self) -> bool:
        """Whether the task predicts a score rather than a class."""
        return self.score_range is not None

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

    @property
    def target_scale(self) -> float:
        """Regression: the width of the score range (`high - low`); 1 otherwise."""
        if not self.is_regression:
            return 1.0
        low, high = self.score_range
        return high - low

    @property
    def target_offset(self) -> float:
        """Regression: the low end of the score range; 0 otherwise."""
        return self.score_range[0] if self.is_regression else 0.0

    @property
    def written_labels(self) -> tuple:
        """The label strings of the task's files and prediction files."""
        return self.label_names

    def training_targets(self, scores) -> np.ndarray:
        """Regression scores as the head is trained on them: float32
        `(score - low) / (high - low)` (STS-B: score / 5)."""
        scores = np.asarray(scores, np.float32)
        if self.target_offset:
            scores = scores - np.float32(self.target_offset)
        return scores / self.target_scale

    def scores_from_outputs(self, outputs) -> np.ndarray:
        """A regression head's outputs back on the score scale."""
        scores = np.asarray(outputs) * self.target_scale
        if self.target_offset:
            scores = scores + self.target_offset
        return scores

    def split(self, split: str):
        """The data of `split`; a clear error for a split the task lacks."""
        if split not in self.splits:
            raise ValueError(
                f"Task '{self.name}' has no split '{split}'. "
                f"Known splits: {sorted(self.splits)}."
            )
        return self.splits[split]

    def get_config(self) -> dict:
        """The task's definition as plain values: everything but in-memory
        data (file paths are kept), for `.keras` files and run folders."""
        config = {
            "name": self.name,
            "text_fields": list(self.text_fields),
            "display_name": self.display_name,
            "metrics": list(self.metrics),
            "double_unordered": self.double_unordered,
            "eval_split": list(self.eval_split),
            "text_columns": list(self.text_columns),
            "label_column": self.label_column,
            "control_characters": self.control_characters,
        }
        if self.is_regression:
            config["score_range"] = list(self.score_range)
        else:
            config["label_names"] = list(self.label_names)
        files = {
            s: os.fspath(d)
            for s, d in self.splits.items()
            if isinstance(d, (str, os.PathLike))
        }
        if files:
            config["splits"] = files
        return config

    @classmethod
    def from_config(cls, config: dict) -> Task:
        """The task of `get_config`'s `config`."""
        config = dict(config)
        for key in ("text_fields", "label_names", "metrics", "eval_split"):
            if key in config:
                config[key] = tuple(config[key])
        for key in ("score_range", "text_columns"):
            if config.get(key) is not None:
                config[key] = tuple(config[key])
        return cls(**config)


def _strings(values, field: str, task: str = "") -> tuple:
    """`values` as a tuple of non-empty strings (a lone string is one value)."""
    values = (values,) if isinstance(values, str) else tuple(values)
    bad = [v for v in values if not isinstance(v, str) or not v]
    if bad:
        where = f"Task '{task}': " if task else ""
        raise ValueError(f"{where}{field} must be non-empty strings, got {bad}.")
    return values
