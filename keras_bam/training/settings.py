"""Settings objects: where a run reads its data, and how a student distills."""

from __future__ import annotations

import dataclasses
import os

from keras_bam.data.loading import SplitLoader
from keras_bam.data.multitask import MIXING
from keras_bam.data.multitask import TEACHERS
from keras_bam.distillation.modes import DISTILLATION_MODES
from keras_bam.distillation.modes import TEACHER_COMBINATIONS
from keras_bam.training.task_weighting import WEIGHTINGS


@dataclasses.dataclass
class DataSettings:
    """Where and how a run reads and encodes GLUE.

    The same settings serve teachers, students and cross-fitting, so that a
    student reads exactly the examples its teachers predicted.

    Args:
        data_dir: the GLUE TSV folder (or TFDS's data folder with
            `source="tfds"`).
        source: `"tsv"` or `"tfds"`.
        tfds_manual_dir: TFDS's manual folder (offline GLUE archives).
        cache_dir: where encoded splits are cached; no caching when `None`.
        train_limit: use only the first N training examples of each task.
        eval_limit: evaluate on only the first N dev examples of each task (and
            in `run_glue`, predict only the first N test examples into the
            submission files: a smoke run's, which GLUE's server does not take).
        train_sample_seed: with `train_limit`, a random sample of N training
            examples of each task drawn with this seed instead.

    Example:
    ```python
    data = keras_bam.training.DataSettings("../shared/glue", train_limit=400,
                                           train_sample_seed=0)
    loader = data.loader(keras_bam.load_tokenizer(), max_length=128)
    train, train_encoded = data.load_train(loader, "rte")
    ```
    """

    data_dir: str | os.PathLike | None = None
    source: str = "tsv"
    tfds_manual_dir: str | os.PathLike | None = None
    cache_dir: str | os.PathLike | None = None
    train_limit: int | None = None
    eval_limit: int | None = None
    train_sample_seed: int | None = None

    def loader(self, tokenizer, max_length: int) -> SplitLoader:
        """A `SplitLoader` reading from these settings with `tokenizer`."""
        return SplitLoader(
            tokenizer,
            max_length,
            self.source,
            self.data_dir,
            self.tfds_manual_dir,
            self.cache_dir,
        )

    def load_train(self, loader: SplitLoader, task) -> tuple:
        """The training examples (limited or sampled) and their encoding."""
        return loader.load(
            task, "train", self.train_limit, sample_seed=self.train_sample_seed
        )

    def load_eval(self, loader: SplitLoader, task, split: str) -> tuple:
        """An evaluation split's examples (limited) and their encoding."""
        return loader.load(task, split, self.eval_limit)

    def training_sample(self) -> dict:
        """What decides which training examples a run sees (for run configs)."""
        return {
            "train_limit": self.train_limit,
            "train_sample_seed": self.train_sample_seed,
        }

    def to_dict(self) -> dict:
        values = dataclasses.asdict(self)
        for key in ("data_dir", "tfds_manual_dir", "cache_dir"):
            if values[key] is not None:
                values[key] = os.fspath(values[key])
        return values

    @classmethod
    def from_dict(cls, values: dict) -> DataSettings:
        return cls(**values)


@dataclasses.dataclass
class DistillationSettings:
    """What a multi-task student learns from, and how its tasks are mixed.

    Args:
        distillation: `"annealed"` (BAM: λ rises from 0 to 1), `"fixed"`
            (teacher weight `teacher_weight` throughout), or `"gold"` (plain
            multi-task training).
        teachers: `"given"` (the teachers' prediction files),
            `"uninformative"` (the control: uniform / mean teacher under the
            same schedule) or `"none"` (with `"gold"`).
        teacher_weight: the teacher's weight for `distillation="fixed"`.
        distillation_temperature: the softmax temperature applied to teacher
            logits (1 in BAM).
        teacher_combination: how several teachers of a task are combined:
            `"probabilities"` (their distributions averaged, MT-DNN's) or
            `"logits"`; see `combine_teachers`.
        mixing: `"mixed"` (BAM: the tasks' examples batched together) or
            `"per_task"` (MT-DNN: one task per batch).
        weighting: how much each task counts (see `task_multiples_and_weights`).
        weighting_temperature: the temperature of `weighting="temperature"`.

    Example:
    ```python
    settings = keras_bam.training.DistillationSettings(distillation="fixed",
                                                       teacher_weight=0.5)
    settings.to_dict()["teacher_weight"]  # 0.5
    ```
    """

    distillation: str = "annealed"
    teachers: str = "given"
    teacher_weight: float = 0.5
    distillation_temperature: float = 1.0
    teacher_combination: str = "probabilities"
    mixing: str = "mixed"
    weighting: str = "bam"
    weighting_temperature: float = 2.0

    def __post_init__(self):
        for field, value, known in (
            ("distillation", self.distillation, tuple(DISTILLATION_MODES)),
            ("teachers", self.teachers, TEACHERS),
            (
                "teacher_combination",
                self.teacher_combination,
                tuple(TEACHER_COMBINATIONS),
            ),
            ("mixing", self.mixing, MIXING),
            ("weighting", self.weighting, WEIGHTINGS),
        ):
            if value not in known:
                raise ValueError(f"Unknown {field} {value!r}; use one of {known}.")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> DistillationSettings:
        return cls(**values)


def with_keywords(settings, keywords: dict):
    """`settings` (a settings dataclass, e.g. `DataSettings`) with the fields
    named in `keywords` replaced, those keywords taken out of `keywords`.

    What lets `train_teacher(task, data_dir=..., train_limit=...)` stand for
    `train_teacher(task, data=DataSettings(data_dir=..., train_limit=...))`.

    Example:
    ```python
    keywords = {"train_limit": 400, "verbose": 0}
    data = keras_bam.training.settings.with_keywords(
        keras_bam.training.DataSettings(), keywords)
    data.train_limit, keywords  # 400, {"verbose": 0}
    ```
    """
    names = {field.name for field in dataclasses.fields(settings)}
    chosen = {name: keywords.pop(name) for name in list(keywords) if name in names}
    return dataclasses.replace(settings, **chosen) if chosen else settings


def check_all_used(keywords: dict, function: str):
    """Raises a `TypeError` naming the keywords no settings object took."""
    if keywords:
        raise TypeError(
            f"{function}() got unexpected keyword arguments {sorted(keywords)}."
        )
