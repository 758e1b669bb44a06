"""The multi-task training stream: tasks interleaved, with gold and teacher targets."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from keras_bam.data.batching import BATCHING
from keras_bam.data.batching import BucketedBatches
from keras_bam.data.batching import RandomBatches
from keras_bam.data.encoding import EncodedExamples
from keras_bam.data.encoding import concatenate_encoded
from keras_bam.data.examples import TaskExamples
from keras_bam.data.streams import BatchStream
from keras_bam.data.teacher_predictions import TeacherPredictions
from keras_bam.distillation.modes import get_teacher_combination
from keras_bam.tasks.registry import get_task
from keras_bam.utils.targets import LABEL
from keras_bam.utils.targets import TASK_ID
from keras_bam.utils.targets import TEACHER

MIXING = ("mixed", "per_task")
TEACHERS = ("given", "uninformative", "none")


@dataclasses.dataclass
class TaskPart:
    """One block of a task's training examples with its encoding and teachers.

    A task may have several parts, e.g. MRPC's examples and their swapped copies
    (BAM's `double_unordered`).

    Args:
        examples: the `TaskExamples`.
        encoded: their `EncodedExamples`, in the same order.
        teachers: teacher predictions for these examples; several are combined
            by `combine_teachers` (MT-DNN's multi-teacher distillation). Each is
            checked against the examples' fingerprints.
        sources: the teacher files, for error messages.
    """

    examples: TaskExamples
    encoded: EncodedExamples
    teachers: list = dataclasses.field(default_factory=list)
    sources: list = dataclasses.field(default_factory=list)

    def __post_init__(self):
        if len(self.examples) != len(self.encoded):
            raise ValueError(
                f"{len(self.examples)} examples but {len(self.encoded)} encodings."
            )
        sources = self.sources or [None] * len(self.teachers)
        for predictions, source in zip(self.teachers, sources):
            if not isinstance(predictions, TeacherPredictions):
                raise TypeError("teachers must be TeacherPredictions.")
            predictions.check_matches(self.examples, source=source)


def combine_teachers(
    task,
    outputs,
    combination: str = "probabilities",
    temperature: float = 1.0,
) -> np.ndarray:
    """Several teachers' outputs for the same examples, as one teacher's.

    For classification, the registered `combination`
    (`keras_bam.distillation.TeacherCombination`) does it: `"probabilities"`
    averages the teachers' distributions `softmax(logits / T)` (MT-DNN's
    multi-teacher distillation) and returns logits whose softmax at
    temperature `T` is that average; `"logits"` averages the logits.
    Regression scores are averaged either way, and one teacher's outputs are
    returned unchanged.

    Args:
        task: the task name or `Task`.
        outputs: a list of `(examples, num_outputs)` arrays, one per teacher.
        combination: a registered teacher combination's name
            (`"probabilities"` or `"logits"`, or one of yours).
        temperature: the distillation softmax temperature `T`.

    Returns:
        `(examples, num_outputs)` float32 outputs.

    Example:
    ```python
    logits = keras_bam.data.combine_teachers("rte", [teacher_a, teacher_b])
    ```
    """
    combine = get_teacher_combination(combination).combine
    task = get_task(task)
    stacked = np.stack([np.asarray(o, np.float64) for o in outputs])
    if len(stacked) == 1:
        return np.asarray(outputs[0], np.float32)
    if task.is_regression:
        return stacked.mean(axis=0).astype(np.float32)
    return np.asarray(combine(stacked, temperature), np.float32)


def multitask_targets(
    parts,
    tasks,
    teachers: str = "given",
    combination: str = "probabilities",
    temperature: float = 1.0,
):
    """Per-example `task_id`, `label` and `teacher` arrays for `MultiTaskModel`.

    Args:
        parts: the `TaskPart`s.
        tasks: the model's tasks, in `task_id` order.
        teachers: `"given"` (the parts' teacher predictions, combined by
            `combine_teachers` when there are several), `"uninformative"` (the
            control: uniform distributions for classification, the mean
            training target for regression), or `"none"` (zeros; for gold-only
            training).
        combination: how several teachers are combined (`combine_teachers`).
        temperature: the distillation softmax temperature (`combine_teachers`).

    Returns:
        A dict of arrays with one row per example of all parts, in order.
    """
    if teachers not in TEACHERS:
        raise ValueError(f"Unknown teachers {teachers!r}; use one of {TEACHERS}.")
    tasks = [get_task(t) for t in tasks]
    names = [t.name for t in tasks]
    width = max(t.num_outputs for t in tasks)
    regression_means = {}
    for task in tasks:
        if task.is_regression:
            labels = [p.examples.labels for p in parts if p.examples.task == task]
            if labels:
                regression_means[task.name] = float(
                    task.training_targets(np.mean(np.concatenate(labels)))
                )
    task_ids, labels, teacher_rows = [], [], []
    for part in parts:
        task = part.examples.task
        if task.name not in names:
            raise ValueError(f"{task.display_name} is not one of the model's tasks.")
        n = len(part.examples)
        task_ids.append(np.full(n, names.index(task.name), np.int32))
        if task.is_regression:
            labels.append(task.training_targets(part.examples.labels))
        else:
            labels.append(part.examples.labels.astype(np.float32))
        teacher = np.zeros((n, width), np.float32)
        if teachers == "given":
            if not part.teachers:
                raise ValueError(
                    f"No teacher predictions for {task.display_name} "
                    f"{part.examples.split}; pass them or use teachers='none'."
                )
            teacher[:, : task.num_outputs] = combine_teachers(
                task, [p.outputs for p in part.teachers], combination, temperature
            )
        elif teachers == "uninformative" and task.is_regression:
            teacher[:, 0] = regression_means[task.name]
        teacher_rows.append(teacher)
    return {
        TASK_ID: np.concatenate(task_ids),
        LABEL: np.concatenate(labels),
        TEACHER: np.concatenate(teacher_rows),
    }


class InterleavedBatches(BatchStream):
    """Batches drawn from several `BucketedBatches` in a seeded random order.

    MT-DNN's scheme: each batch holds one task; which task comes next is shuffled
    each epoch, so every batch of every task is seen once per epoch.

    Args:
        streams: the per-task `BucketedBatches`.
        seed: seeds the interleaving order.
    """

    def __init__(self, streams, seed: int = 0, **kwargs):
        super().__init__(seed, **kwargs)
        self.streams = list(streams)
        self._order = self._make_order()

    def _make_order(self):
        pairs = [
            (s, i) for s, stream in enumerate(self.streams) for i in range(len(stream))
        ]
        rng = np.random.default_rng([self.seed, self.epoch, 1])
        return [pairs[j] for j in rng.permutation(len(pairs))]

    def _order_epoch(self):
        for stream in self.streams:
            stream.set_epoch(self.epoch)
        self._order = self._make_order()

    def __len__(self):
        return len(self._order)

    def __getitem__(self, index):
        stream, batch = self._order[index]
        return self.streams[stream][batch]

    @property
    def packing(self):
        return self.streams[0].packing

    @property
    def row_multiple(self) -> int:
        return self.streams[0].row_multiple

    @property
    def padding_fraction(self) -> float:
        """The share of computed token positions that are padding."""
        padded = sum(stream.padded_tokens for stream in self.streams)
        real = sum(int(stream.encoded.row_lengths.sum()) for stream in self.streams)
        return 1.0 - real / padded if padded else 0.0


def multitask_batches(
    parts,
    tasks,
    batch_size: int = 128,
    multiples: dict | None = None,
    mixing: str = "mixed",
    teachers: str = "given",
    buckets=None,
    seed: int = 0,
    batching: str = "random",
    teacher_combination: str = "probabilities",
    temperature: float = 1.0,
    packing=False,
):
    """The multi-task training stream for `MultiTaskModel.fit`.

    Args:
        parts: `TaskPart`s (teacher predictions are checked on construction).
        tasks: the model's tasks, in `task_id` order.
        batch_size: examples per batch.
        multiples: task name to how many copies of its examples an epoch holds
            (BAM's dataset multiples, from `task_multiples_and_weights`); 1 by
            default.
        mixing: `"mixed"` (BAM: the examples of all tasks, with their
            multiples, are batched together) or `"per_task"` (MT-DNN: one task
            per batch, the order of the tasks' batches shuffled).
        teachers: see `multitask_targets`.
        buckets: padded lengths; see `RandomBatches` and `BucketedBatches`.
        seed: the data-order seed.
        batching: `"random"` (BAM: examples shuffled, so a mixed batch holds
            the tasks in proportion to their multiplied sizes; `RandomBatches`)
            or `"length_grouped"` (a speed option: batches of similar lengths,
            `BucketedBatches`, which also groups tasks whose lengths differ).
        teacher_combination: how several teachers of a task are combined; see
            `multitask_targets`.
        temperature: the distillation softmax temperature; see
            `multitask_targets`.
        packing: `False`, `True` or a `Packing`: pack each batch's examples
            into rows (see `PlannedBatches`); which examples share a batch is
            unchanged.

    Returns:
        A `keras.utils.PyDataset` of `(inputs, {"task_id", "label", "teacher"})`
        batches, with `to_tf_dataset()` for `tf.data` and `set_epoch()` for resuming.

    Example:
    ```python
    multiples, weights = keras_bam.training.task_multiples_and_weights(sizes)
    batches = keras_bam.data.multitask_batches(parts, tasks, multiples=multiples)
    student = keras_bam.MultiTaskModel(backbone, tasks, task_weights=[...])
    student.fit(keras_bam.backend.as_fit_input(batches), epochs=6, shuffle=False,
                callbacks=[keras_bam.TeacherAnnealing()])
    ```
    """
    if mixing not in MIXING:
        raise ValueError(f"Unknown mixing {mixing!r}; use one of {MIXING}.")
    if batching not in BATCHING:
        raise ValueError(f"Unknown batching {batching!r}; use one of {BATCHING}.")
    multiples = multiples or {}
    tasks = [get_task(t) for t in tasks]
    targets = dict(
        teachers=teachers, combination=teacher_combination, temperature=temperature
    )
    stream = functools.partial(
        _stream,
        tasks=tasks,
        multiples=multiples,
        targets=targets,
        batch_size=batch_size,
        buckets=buckets,
        batching=batching,
        packing=packing,
    )
    if mixing == "mixed":
        return stream(parts, seed=seed)
    streams = []
    for index, task in enumerate(tasks):
        task_parts = [p for p in parts if p.examples.task == task]
        if task_parts:
            streams.append(stream(task_parts, seed=seed + 1000 * index))
    return InterleavedBatches(streams, seed=seed)


def _stream(
    parts, tasks, multiples, targets, batch_size, buckets, seed, batching, packing
):
    targets = multitask_targets(parts, tasks, **targets)
    encoded = concatenate_encoded(*[p.encoded for p in parts])
    repeat = []
    start = 0
    for part in parts:
        n = len(part.examples)
        copies = int(multiples.get(part.examples.task.name, 1))
        if copies < 1:
            raise ValueError(f"Multiples must be at least 1, got {copies}.")
        repeat.append(np.tile(np.arange(start, start + n), copies))
        start += n
    index = np.concatenate(repeat)
    if len(index) != len(encoded):
        encoded = encoded.select(index)
        targets = {k: v[index] for k, v in targets.items()}
    stream = RandomBatches if batching == "random" else BucketedBatches
    return stream(
        encoded,
        targets,
        batch_size=batch_size,
        buckets=buckets,
        shuffle=True,
        seed=seed,
        packing=packing,
    )
