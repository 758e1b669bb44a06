"""Task models built on a shared KerasHub backbone."""

from __future__ import annotations

import inspect
import json
import os
import tempfile

import keras
import numpy as np
from keras import ops

from keras_bam.backend.compilation import build_optimizer_before_tracing
from keras_bam.backend.compilation import quiet_keras_step_retracing
from keras_bam.backend.compilation import released_gradient_registrations
from keras_bam.backend.distribution import global_sum
from keras_bam.backend.distribution import loss_replicas
from keras_bam.backend.fit_input import build_batch
from keras_bam.backend.fit_input import gathered_predict_function
from keras_bam.backend.fit_input import replica_logs
from keras_bam.backend.micro_batching import micro_batched_train_step
from keras_bam.backend.supported import check_backend
from keras_bam.data.encoding import encode_texts
from keras_bam.data.task_reader import read_labels
from keras_bam.data.task_reader import training_targets
from keras_bam.distillation.annealing import LastValue
from keras_bam.distillation.annealing import TeacherAnnealingState
from keras_bam.distillation.losses import blend_classification_targets
from keras_bam.distillation.losses import blend_regression_targets
from keras_bam.distillation.losses import soft_cross_entropy
from keras_bam.distillation.losses import squared_error
from keras_bam.distillation.modes import get_distillation_mode
from keras_bam.metrics.task_metrics import MetricGroup
from keras_bam.metrics.task_metrics import TaskMetrics
from keras_bam.models.backbones import as_task_backbone
from keras_bam.models.backbones import as_tokenizer
from keras_bam.models.backbones import load_backbone
from keras_bam.models.backbones import load_tokenizer
from keras_bam.models.backbones import pooled_output
from keras_bam.models.export import export_saved_model
from keras_bam.models.layers import TaskHead
from keras_bam.models.packed_encoder import is_packed
from keras_bam.models.packed_encoder import packed_pooled_output
from keras_bam.tasks.glue_tasks import GlueTask
from keras_bam.tasks.registry import resolve_tasks
from keras_bam.tasks.task import Task
from keras_bam.utils.keras_private import TrainerSeams
from keras_bam.utils.keras_private import clones_as_its_class
from keras_bam.utils.keras_private import save_compile_arguments
from keras_bam.utils.keras_private import saved_uncompiled
from keras_bam.utils.keras_private import set_metric_direction
from keras_bam.utils.targets import LABEL
from keras_bam.utils.targets import TASK_ID
from keras_bam.utils.targets import TEACHER


class _ExampleWeightedMean(keras.metrics.Mean):
    """Keras's `loss` tracker, weighting each step's loss by the examples it
    holds (`examples()`, set by the model's `compute_loss`: per replica under
    tf.distribute) instead of by the rows of the first input: a packed batch's
    rows hold several examples, and padding rows (data parallelism) hold none."""

    def __init__(self, examples, **kwargs):
        super().__init__(**kwargs)
        self._examples = examples

    def update_state(self, values, sample_weight=None):
        examples = self._examples()
        if examples is not None:
            sample_weight = examples
        return super().update_state(values, sample_weight=sample_weight)


_RAW_TEXT_FORMS = (
    "raw texts are a string, a list of strings, a list of pairs "
    "[(first, second), ...], a tuple of two lists (firsts, seconds), a NumPy "
    "array of strings (n,) or of pairs (n, 2), or a tf.data.Dataset of them"
)


def _is_text(value) -> bool:
    return isinstance(value, (str, np.str_, bytes))


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _texts_of(values) -> list | None:
    """`values` as a list of strings, or `None` unless it holds only strings."""
    if isinstance(values, np.ndarray):
        if values.ndim != 1 or values.dtype.kind not in "USO":
            return None
    elif not isinstance(values, (list, tuple)):
        return None
    if not len(values) or not all(_is_text(v) for v in values):
        return None
    return [_text(v) for v in values]


def _is_text_dataset(x) -> bool:
    """Whether `x` is a `tf.data.Dataset` whose elements are strings or
    tuples of strings (a distributed or encoded dataset is left to Keras)."""
    if not type(x).__module__.startswith("tensorflow"):
        return False
    spec = getattr(x, "element_spec", None)
    specs = list(spec) if isinstance(spec, tuple) else [spec]
    return (
        bool(specs)
        and all(
            getattr(getattr(s, "dtype", None), "name", None) == "string" for s in specs
        )
        and hasattr(x, "as_numpy_iterator")
    )


def _dataset_texts(dataset):
    """A `tf.data.Dataset` of strings (or of string pairs), batched or not,
    as one list of its elements."""
    elements = list(dataset.as_numpy_iterator())
    if all(isinstance(e, tuple) and len(e) == 2 for e in elements):
        columns = [np.concatenate([np.ravel(e[i]) for e in elements]) for i in (0, 1)]
        return tuple(columns)
    return np.concatenate([np.ravel(e) for e in elements]) if elements else None


def _raw_texts(x) -> tuple | None:
    """`x` as `encode_texts`' texts (one list, or two lists for pairs) when it
    holds raw strings, else `None` (encoded inputs, left to Keras).

    Columns are a tuple of two lists, `(firsts, seconds)`; rows a list of
    pairs, `[(first, second), ...]`. Two pairs of two texts written any other
    way could be either, and are refused rather than guessed.

    Raises:
        ValueError: `x` holds strings in none of the forms above.
    """
    if _is_text(x):
        return ([_text(x)],)
    if _is_text_dataset(x):
        x = _dataset_texts(x)
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "USO":
            return None
        if x.ndim == 2 and x.shape[1] == 2:
            x = [tuple(row) for row in x]
        elif x.ndim == 1:
            x = list(x)
        else:
            raise ValueError(f"A {x.shape} array of strings: {_RAW_TEXT_FORMS}.")
    if not isinstance(x, (list, tuple)) or not len(x):
        return None
    texts = _texts_of(x)
    if texts is not None:
        return (texts,)
    columns = [_texts_of(v) for v in x]
    if isinstance(x, tuple) and len(x) == 2 and None not in columns:
        whole = all(isinstance(v, (list, np.ndarray)) for v in x)
        if whole or len(columns[0]) != 2 or len(columns[1]) != 2:
            if len(columns[0]) != len(columns[1]):
                raise ValueError(
                    f"{len(columns[0])} first texts but {len(columns[1])} second "
                    f"texts; {_RAW_TEXT_FORMS}."
                )
            return tuple(columns)
    rows = [c if c is not None and len(c) == 2 else None for c in columns]
    if None not in rows:
        if len(x) == 2 and not (
            isinstance(x, list) and all(isinstance(v, tuple) for v in x)
        ):
            raise ValueError(
                "Two items of two texts each are either two pairs or two columns "
                "of two texts: write pairs as a list of tuples [(first, second), "
                "...] and columns as a tuple of lists (firsts, seconds)."
            )
        return tuple([row[i] for row in rows] for i in (0, 1))
    if any(_is_text(v) or c is not None for v, c in zip(x, columns)):
        raise ValueError(f"Mixed or malformed texts: {_RAW_TEXT_FORMS}.")
    return None


_NEEDS_TOKENIZER = (
    "Raw strings need a tokenizer: build the model with `from_preset`, or pass "
    "`tokenizer=` to it."
)
_LABELED_DATASET = (
    "a tf.data.Dataset for fit and evaluate yields (texts, labels) or "
    "((firsts, seconds), labels), batched or not, and takes no separate y"
)
# A student's raw-text targets: the keys of `y` in `fit` and `evaluate`.
_RAW_TASK, _RAW_LABEL, _RAW_TEACHER = "task", "label", "teacher"


def _is_string_spec(spec) -> bool:
    return getattr(getattr(spec, "dtype", None), "name", None) == "string"


def _is_labeled_text_dataset(x) -> bool:
    """Whether `x` is a `tf.data.Dataset` of `(texts, labels)` (or `(texts,
    labels, sample_weights)`), `texts` strings or a pair of strings."""
    if not type(x).__module__.startswith("tensorflow"):
        return False
    spec = getattr(x, "element_spec", None)
    if not isinstance(spec, tuple) or len(spec) not in (2, 3):
        return False
    texts = spec[0] if isinstance(spec[0], tuple) else (spec[0],)
    return (
        len(texts) in (1, 2)
        and all(_is_string_spec(s) for s in texts)
        and hasattr(x, "as_numpy_iterator")
    )


def _joined(parts: list, batched: bool):
    """The dataset elements `parts` (arrays, or tuples or dicts of them) as one
    structure of arrays, one row per example."""
    first = parts[0]
    if isinstance(first, dict):
        return {k: _joined([p[k] for p in parts], batched) for k in first}
    if isinstance(first, tuple):
        return tuple(_joined([p[i] for p in parts], batched) for i in range(len(first)))
    return np.concatenate(parts) if batched else np.stack(parts)


def _labeled_dataset_columns(dataset) -> tuple:
    """A dataset of `_is_labeled_text_dataset`, read once in its order, as
    `(texts, labels, sample_weights, batch_size)`: `batch_size` its first
    batch's size (0 unbatched), `sample_weights` `None` unless yielded."""
    elements = list(dataset.as_numpy_iterator())
    if not elements:
        raise ValueError(f"The dataset is empty: {_LABELED_DATASET}.")
    texts = elements[0][0]
    first_texts = texts[0] if isinstance(texts, tuple) else texts
    batched = np.ndim(first_texts) > 0
    columns = _joined(elements, batched)
    batch_size = len(first_texts) if batched else 0
    weights = columns[2] if len(columns) == 3 else None
    return columns[0], columns[1], weights, batch_size


def _check_text_form(task: Task, texts: tuple):
    """Raises unless `texts` are pairs for a pair task, single texts otherwise."""
    if task.is_pair != (len(texts) == 2):
        want = "text pairs" if task.is_pair else "single texts"
        got = "pairs" if len(texts) == 2 else "single texts"
        raise ValueError(
            f"Task '{task.name}' has {want}, but the texts are {got}; "
            f"{_RAW_TEXT_FORMS}."
        )


def _label_values(y, count: int, name: str) -> np.ndarray:
    """`y` as a 1-D object array of `count` labels (Python values: NumPy's
    are unboxed, so that class indices read as `int`s)."""
    values = np.asarray(y, dtype=object)
    if values.ndim == 0:
        values = values.reshape(1)
    elif values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(
            f"{name} holds one label per text (or pair); got an array of shape "
            f"{values.shape}."
        )
    if len(values) != count:
        raise ValueError(
            f"{count} texts (or pairs) but {len(values)} labels in {name}: one "
            "label per text."
        )
    return values


def _bind(method, *args, **kwargs) -> inspect.BoundArguments:
    """`method`'s arguments, by name (a `TypeError` as the call would raise)."""
    return inspect.signature(method).bind(*args, **kwargs)


# A `save_to_preset` folder's task files, named as KerasHub names its tasks'.
TOKENIZER_CONFIG = "tokenizer.json"
TASK_CONFIG = "task.json"
TASK_WEIGHTS = "task.weights.h5"


def _saved_tokenizer(preset: str):
    """The tokenizer a `save_to_preset` folder holds, or `None`. Read from its
    own config: KerasHub's `Tokenizer.from_preset` looks for a tokenizer class
    made for the backbone's class, and none is made for `BamBertBackbone`."""
    path = os.path.join(preset, TOKENIZER_CONFIG)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        tokenizer = keras.saving.deserialize_keras_object(json.load(f))
    tokenizer.load_preset_assets(preset)
    return tokenizer


def _vocabulary_size(tokenizer) -> int | None:
    """The tokenizer's vocabulary size; `None` without a tokenizer, or before
    its vocabulary is set (a deserialized one, until `load_assets`)."""
    if tokenizer is None:
        return None
    try:
        return int(tokenizer.vocabulary_size())
    except ValueError:  # KerasHub's tokenizers: "No vocabulary has been set".
        return None


def _copied_tokenizer(tokenizer):
    """A new tokenizer of `tokenizer`'s config and vocabulary (its assets, as a
    `.keras` file stores them), or `None`."""
    if tokenizer is None:
        return None
    copy = keras.layers.deserialize(keras.layers.serialize(tokenizer))
    with tempfile.TemporaryDirectory() as folder:
        tokenizer.save_assets(folder)
        copy.load_assets(folder)
    return copy


class BackboneTaskModel(TrainerSeams, keras.Model):
    """Base of keras-bam's task models: a functional model over a KerasHub
    backbone's pooled output, whose config holds the serialized backbone.

    Besides the backbone's padded inputs, the model takes packed ones (several
    examples per row; `EncodedExamples.pack_batch`, `PlannedBatches(packing=...)`):
    then its outputs have one row per packing slot, each the output the
    example in that slot gets alone (`packed_pooled_output`).
    """

    def call(self, inputs, training=None, mask=None):
        if is_packed(inputs):
            pooled = packed_pooled_output(self.backbone, inputs, training=training)
            return self.head_outputs(pooled, training=training)
        return super().call(inputs, training=training, mask=mask)

    def head_outputs(self, pooled, training=None):
        """The model's outputs from pooled `(examples, hidden)` encodings."""
        raise NotImplementedError

    def export(self, filepath, format="tf_saved_model", verbose=True, **kwargs):
        """`keras.Model.export`: for `"tf_saved_model"`, keras-bam's export
        (`keras_bam.export_saved_model`: a serving endpoint per task, dynamic
        batch and length on both backends), which Keras's own cannot do for a
        KerasHub encoder under JAX (its position embedding needs the length
        bounded). Other formats and arguments are Keras's."""
        if format == "tf_saved_model" and not kwargs:
            return export_saved_model(self, filepath, verbose=bool(verbose))
        return super().export(filepath, format=format, verbose=verbose, **kwargs)

    def save(
        self, filepath, overwrite=True, zipped=None, include_optimizer=True, **kwargs
    ):
        """`keras.Model.save`. `include_optimizer=False` (which Keras honours for
        HDF5 files only) writes a `.keras` file without the optimizer's state and
        compile settings, as Keras's HDF5 files do: a third of the size under
        Adam, loaded uncompiled.

        Example:
        ```python
        model.save("student.keras", include_optimizer=False)
        ```
        """
        keras_file = str(filepath).endswith(".keras")
        if include_optimizer or not keras_file or not self.compiled:
            if not keras_file:
                kwargs["include_optimizer"] = include_optimizer
            return super().save(filepath, overwrite=overwrite, zipped=zipped, **kwargs)
        with saved_uncompiled(self):
            return super().save(filepath, overwrite=overwrite, zipped=zipped, **kwargs)

    def fit(self, x=None, y=None, *args, **kwargs):
        """Trains the model: `keras.Model.fit`, also on raw text.

        With a tokenizer attached, `x` (and `validation_data`'s) may be raw
        strings in every form `predict` takes: a list of strings, a list of
        pairs `[(first, second), ...]`, a tuple of two lists `(firsts,
        seconds)`, a NumPy array of strings `(n,)` or of pairs `(n, 2)`; the
        texts are encoded as in training (`keras_bam.data.encode_texts`, to
        `max_length`) and `y` read as the model's targets:

        - a `SingleTaskModel`'s labels: the task's class names or class
          indices, or a regression task's scores in its `score_range` (trained
          on the scaled score, as `train_teacher` does);
        - a `MultiTaskModel`'s dict (see its docstring): `"task"` (each
          example's task, by name or index; one name for all), `"label"` (as
          above, per its task) and, unless the model's `distillation` is
          `"gold"`, `"teacher"` (the teachers' outputs).

        `x` may instead be a `tf.data.Dataset` of `(texts, labels)` or
        `((firsts, seconds), labels)`, batched or not (with no `y`): it is
        read once, in its order (`shuffle=False` and its batch size unless
        given). Encoded inputs go to Keras as they are, and so does training
        on them: without TensorFlow's leak of each traced train step
        (`keras_bam.backend.released_gradient_registrations`). NumPy
        `token_ids` (in `x` or `validation_data`) outside the backbone's
        vocabulary are refused; tensors and `tf.data` datasets are not scanned.

        Args:
            x: the inputs: encoded (as `keras.Model.fit` takes them), raw
                texts, or a dataset of raw texts and labels.
            y: the targets: encoded, or the raw texts' labels as above.
            *args: `keras.Model.fit`'s other arguments.
            **kwargs: `keras.Model.fit`'s other arguments; `validation_data`
                may be `(raw_texts, labels)` or a dataset as `x`.

        Returns:
            A `keras.callbacks.History`.

        Raises:
            ValueError: texts in none of the forms above, or in a form their
                task does not take (pairs for a single-text task); labels that
                are not the task's, or not one per text; no tokenizer.

        Example:
        ```python
        model = keras_bam.SingleTaskModel.from_preset(None, "rte")
        model.compile(optimizer="adam",
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit([("A man sleeps.", "Nobody sleeps."), ("It rains.", "It is wet.")],
                  ["not_entailment", "entailment"], batch_size=2)
        ```
        """
        bound = _bind(super().fit, x, y, *args, **kwargs)
        self._encode_raw_arguments(bound, training=True)
        self._check_token_ids(bound.arguments.get("x"))
        self._check_token_ids(bound.arguments.get("validation_data"))
        build_optimizer_before_tracing(self)  # One trace of the train step.
        with released_gradient_registrations():
            return super().fit(*bound.args, **bound.kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """Evaluates the model: `keras.Model.evaluate`, also on raw text.

        Takes raw texts and their labels as `fit` does (a `MultiTaskModel`
        needs no teacher outputs: its evaluation loss is against the gold
        labels); the loss and metrics are those of the encoded texts and
        targets. NumPy `token_ids` outside the backbone's vocabulary are
        refused (tensors and `tf.data` datasets are not scanned).

        Args:
            x: the inputs: encoded, raw texts, or a dataset of raw texts and
                labels (see `fit`).
            y: the targets: encoded, or the raw texts' labels (see `fit`).
            *args: `keras.Model.evaluate`'s other arguments.
            **kwargs: `keras.Model.evaluate`'s other arguments.

        Returns:
            As `keras.Model.evaluate`: the loss, and the metrics.

        Raises:
            ValueError: as `fit`.

        Example:
        ```python
        model.evaluate(["A gripping film.", "Dull."], ["positive", "negative"],
                       return_dict=True)  # {"loss": ..., ...}
        ```
        """
        bound = _bind(super().evaluate, x, y, *args, **kwargs)
        self._encode_raw_arguments(bound, training=False)
        self._check_token_ids(bound.arguments.get("x"))
        return super().evaluate(*bound.args, **bound.kwargs)

    def _encode_raw_arguments(self, bound: inspect.BoundArguments, training: bool):
        """Replaces raw texts and labels in `fit`'s or `evaluate`'s arguments
        by the model's inputs and targets (encoded ones are left as they are)."""
        arguments = bound.arguments
        raw = self._raw_text_data(
            arguments.get("x"),
            arguments.get("y"),
            arguments.get("sample_weight"),
            training=training,
        )
        if raw is not None:
            arguments["x"], arguments["y"], weights, dataset = raw
            if weights is not None:
                arguments["sample_weight"] = weights
            if dataset is not None:  # Read in its order, in its batches.
                if "shuffle" in bound.signature.parameters:
                    arguments.setdefault("shuffle", False)
                if dataset:
                    arguments.setdefault("batch_size", dataset)
        validation = arguments.get("validation_data")
        if validation is None:
            return
        if _is_labeled_text_dataset(validation):
            raw = self._raw_text_data(validation, None, None, training=False)
        elif isinstance(validation, (tuple, list)) and len(validation) in (2, 3):
            weights = validation[2] if len(validation) == 3 else None
            raw = self._raw_text_data(*validation[:2], weights, training=False)
        else:
            return
        if raw is not None:
            val_x, val_y, weights, dataset = raw
            arguments["validation_data"] = (val_x, val_y) + (
                () if weights is None else (weights,)
            )
            if dataset:
                arguments.setdefault("validation_batch_size", dataset)

    def _raw_text_data(self, x, y, sample_weight, training: bool) -> tuple | None:
        """`(inputs, targets, sample_weight, dataset)` for raw texts `x` and
        their labels `y`, or `None` when `x` holds no raw texts; `dataset` is
        `None` unless `x` is a dataset, else its batch size (0 unbatched)."""
        dataset = None
        if _is_labeled_text_dataset(x):
            if y is not None or sample_weight is not None:
                raise ValueError(f"A dataset yields its labels: {_LABELED_DATASET}.")
            x, y, sample_weight, dataset = _labeled_dataset_columns(x)
        elif _is_text_dataset(x):
            raise ValueError(f"A dataset of texts alone: {_LABELED_DATASET}.")
        texts = _raw_texts(x)
        if texts is None:
            return None
        if self.tokenizer is None:
            raise ValueError(_NEEDS_TOKENIZER)
        if y is None:
            raise ValueError(
                "Raw texts need their labels: fit(texts, labels) or "
                "evaluate(texts, labels)."
            )
        targets = self.raw_text_targets(texts, y, training=training)
        return self._encoded_texts(texts), targets, sample_weight, dataset

    def raw_text_targets(self, texts: tuple, y, training: bool):
        """The model's training targets for raw `texts` (one list, or two for
        pairs) and their labels `y` (see `fit`).

        Args:
            texts: the texts, as `encode_texts` takes them.
            y: their labels, as `fit` takes them.
            training: for `fit` (else `evaluate`, a validation pass).

        Returns:
            The targets Keras's `fit` and `evaluate` are given.
        """
        raise NotImplementedError

    def _encoded_texts(self, texts: tuple) -> dict:
        """The model's padded inputs for raw `texts` (`_raw_texts`)."""
        if self.tokenizer is None:
            raise ValueError(_NEEDS_TOKENIZER)
        encoded = encode_texts(texts, self.tokenizer, self.max_length)
        return encoded.pad_batch(np.arange(len(encoded)))

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return replica_logs(super().compute_metrics(x, y, y_pred, sample_weight))

    def make_predict_function(self, force=False):
        super().make_predict_function(force)
        self.predict_function = gathered_predict_function(self.predict_function)
        return self.predict_function

    def symbolic_build_batch(self, iterator):
        # TensorFlow's trainer only: several processes build from a local batch.
        return build_batch(self, iterator)

    def loss_mean(self, tracker):
        # The logged `loss` averages steps by their examples (`compute_loss`
        # sets them), not equally.
        if type(tracker) is keras.metrics.Mean:
            tracker = _ExampleWeightedMean(
                lambda: getattr(self, "_step_examples", None), name=tracker.name
            )
        return tracker

    @staticmethod
    def pooled_encoder(backbone, exact_gelu: bool):
        """`(backbone, inputs, pooled_output)`: the backbone as the model runs
        it, with its GELU and dropout sampling set (`as_task_backbone`: one not
        in that form, e.g. a KerasHub `BertBackbone.from_preset`, is copied and
        the one passed in left as it was), and its inputs and pooled output
        (see `pooled_output`: the last layer runs for `[CLS]` only)."""
        check_backend()
        quiet_keras_step_retracing()  # Each model's steps trace anew, by design.
        backbone = as_task_backbone(backbone, exact_gelu)
        inputs = dict(backbone.input)
        pooled = pooled_output(backbone)
        # Every task model takes the same three inputs, whatever its encoder:
        # those without segment embeddings (RoBERTa, DistilBERT, DeBERTa-v3)
        # leave `segment_ids` unused.
        inputs.setdefault(
            "segment_ids", keras.Input((None,), dtype="int32", name="segment_ids")
        )
        return backbone, inputs, pooled

    def backbone_config(self) -> dict:
        """The config entries every task model shares."""
        tokenizer = self.tokenizer
        return {
            "backbone": keras.layers.serialize(self.backbone),
            "dropout": self.dropout,
            "exact_gelu": self.exact_gelu,
            "tokenizer": None
            if tokenizer is None
            else keras.layers.serialize(tokenizer),
            "max_length": self.max_length,
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        # The model's own backbone, converted in place (never copied).
        config["backbone"] = as_task_backbone(
            keras.layers.deserialize(config["backbone"]),
            config.get("exact_gelu", True),
            in_place=True,
        )
        if config.get("tokenizer") is not None:
            # Its vocabulary comes back with the model's assets (`load_assets`).
            config["tokenizer"] = keras.layers.deserialize(config["tokenizer"])
        return cls(**config)

    def clone_arguments(self) -> dict:
        """The constructor arguments of a new model like this one, which
        `keras.models.clone_model` builds: its config, a backbone built anew
        from the backbone's config (new weights, as Keras's clones have) and a
        copy of its tokenizer, vocabulary included.

        Returns:
            Keyword arguments for the model's class.

        Example:
        ```python
        clone = keras.models.clone_model(student)  # A MultiTaskModel.
        clone.predict(["A new sentence."])
        ```
        """
        config = self.get_config()
        config["backbone"] = as_task_backbone(
            keras.layers.deserialize(config["backbone"]),
            self.exact_gelu,
            in_place=True,
        )
        config["tokenizer"] = _copied_tokenizer(self.tokenizer)
        return config

    @classmethod
    def from_preset(cls, preset=None, *args, load_weights: bool = True, **kwargs):
        """A task model on a pretrained backbone, with its tokenizer attached.

        As KerasHub tasks' `from_preset`: `preset` is a KerasHub preset name, an
        `hf://` or `kaggle://` handle, or a local folder (the offline MiniLM by
        default); the model then takes raw strings in `predict`.

        Args:
            preset: the backbone and tokenizer; see `keras_bam.load_backbone`.
            *args: the model's arguments after the backbone (a `SingleTaskModel`'s
                task, a `MultiTaskModel`'s tasks).
            load_weights: load the pretrained weights (else random ones).
            **kwargs: the model's keyword arguments (`max_length`, ...).

        Returns:
            The model.

        Example:
        ```python
        student = keras_bam.MultiTaskModel.from_preset(None, ["rte", "sst2"])
        student.predict((["A man sleeps."], ["Nobody sleeps."]))["rte"]
        ```
        """
        task_file = None if preset is None else os.path.join(preset, TASK_CONFIG)
        if task_file is not None and os.path.isfile(task_file):
            return cls._from_task_preset(preset, task_file, load_weights, args, kwargs)
        backbone = load_backbone(
            preset, kwargs.get("exact_gelu", True), load_weights=load_weights
        )
        return cls(backbone, *args, tokenizer=load_tokenizer(preset), **kwargs)

    @classmethod
    def _from_task_preset(cls, preset, task_file, load_weights, args, kwargs):
        """The task model a `save_to_preset` folder holds: its config, then its
        backbone, tokenizer and (with `load_weights`) every weight."""
        with open(task_file, encoding="utf-8") as f:
            saved = json.load(f)
        if saved["class_name"] != cls.__name__ or args:
            raise ValueError(
                f"{preset} holds a saved {saved['class_name']} with its tasks; load "
                f"it with keras_bam.{saved['class_name']}.from_preset({preset!r}), "
                "without tasks."
            )
        config = {**saved["config"], **kwargs}
        config["backbone"] = load_backbone(
            preset, config.get("exact_gelu", True), load_weights=False
        )
        config["tokenizer"] = _saved_tokenizer(preset)
        model = cls(**config)
        if load_weights:
            model.load_weights(os.path.join(preset, TASK_WEIGHTS))
        return model

    def save_to_preset(self, preset_dir):
        """Saves the model as a preset folder, as KerasHub tasks do: the
        backbone's files (`config.json`, `model.weights.h5`), the tokenizer's
        (`tokenizer.json` and its vocabulary), and the task model's config
        (`task.json`: its tasks, heads and options) and weights
        (`task.weights.h5`). `from_preset(preset_dir)` loads it back, and
        `keras_hub.upload_preset` shares it.

        Args:
            preset_dir: the folder to write.

        Example:
        ```python
        student.save_to_preset("presets/my_student")
        again = keras_bam.MultiTaskModel.from_preset("presets/my_student")
        ```
        """
        preset_dir = os.fspath(preset_dir)
        os.makedirs(preset_dir, exist_ok=True)
        self.backbone.save_to_preset(preset_dir)
        if self.tokenizer is not None:
            self.tokenizer.save_to_preset(preset_dir)
        config = {
            k: v
            for k, v in self.get_config().items()
            if k not in ("backbone", "tokenizer")
        }
        with open(os.path.join(preset_dir, TASK_CONFIG), "w", encoding="utf-8") as f:
            json.dump(
                {"class_name": type(self).__name__, "config": config}, f, indent=2
            )
        self.save_weights(os.path.join(preset_dir, TASK_WEIGHTS))

    def set_tokenizer(self, tokenizer, max_length: int):
        """Attaches the tokenizer (a KerasHub tokenizer, or a preprocessor holding
        one) with which `predict`, `fit` and `evaluate` encode raw strings."""
        # Kept out of Keras's layer tracking: the model's layers (and where its
        # weights are stored) stay those of its graph; `save_assets` stores the
        # vocabulary instead.
        self.__dict__["_tokenizer"] = as_tokenizer(tokenizer)
        self.max_length = int(max_length)
        self._check_tokenizer()

    def _check_tokenizer(self):
        """Refuses a tokenizer whose vocabulary holds ids the backbone has no
        embedding for (one of another model)."""
        tokens = _vocabulary_size(self.tokenizer)
        size = getattr(self.backbone, "vocabulary_size", None)
        if tokens is not None and size is not None and tokens > size:
            raise ValueError(
                f"The tokenizer's vocabulary has {tokens} tokens, but the "
                f"backbone's embedding has {size} (ids 0 to {size - 1}): its ids "
                f"from {size} on have no embedding. Pass the tokenizer of the "
                "backbone's preset (`keras_bam.load_tokenizer`)."
            )

    def _check_token_ids(self, x):
        """Refuses NumPy `token_ids` (in `x`, a dict of arrays, or in a tuple
        holding one, as `validation_data`) outside the backbone's vocabulary: on
        TensorFlow they fail deep inside the graph, on JAX they silently give
        NaN. Tensors and `tf.data` datasets are not scanned."""
        size = getattr(self.backbone, "vocabulary_size", None)
        inputs = [x] if isinstance(x, dict) else []
        if isinstance(x, (tuple, list)):
            inputs = [item for item in x if isinstance(item, dict)]
        for item in inputs:
            ids = item.get("token_ids")
            if size is None or not isinstance(ids, np.ndarray) or not ids.size:
                continue
            largest, smallest = int(ids.max()), int(ids.min())
            if largest >= size or smallest < 0:
                raise ValueError(
                    f"token_ids hold ids from {smallest} to {largest}, but the "
                    f"backbone's vocabulary has {size} tokens (ids 0 to "
                    f"{size - 1}): were they encoded by another model's "
                    "tokenizer? Encode them with the backbone's own."
                )

    @property
    def tokenizer(self):
        """The attached tokenizer, or `None`."""
        return self.__dict__.get("_tokenizer")

    def save_assets(self, dir_path):
        if self.tokenizer is not None:
            self.tokenizer.save_assets(dir_path)

    def load_assets(self, dir_path):
        if self.tokenizer is not None:
            self.tokenizer.load_assets(dir_path)
            self._check_tokenizer()

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """`keras.Model.predict`; also takes raw strings when a tokenizer is
        attached: a string, a sequence of strings, or a pair of sequences
        (first and second texts), encoded as in training. NumPy `token_ids`
        outside the backbone's vocabulary are refused (tensors and `tf.data`
        datasets are not scanned)."""
        texts = _raw_texts(x)
        if texts is not None:
            x = self._encoded_texts(texts)
        self._check_token_ids(x)
        return super().predict(
            x, batch_size=batch_size, verbose=verbose, steps=steps, callbacks=callbacks
        )


@keras.saving.register_keras_serializable(package="keras_bam")
class SingleTaskModel(BackboneTaskModel):
    """A BERT encoder with one task head: a BAM single-task teacher.

    A Keras functional model: the backbone's pooled `[CLS]` output goes through
    `TaskHead` (dropout 0.1, then dense). Classification heads output logits;
    a regression head outputs `(score - low) / (high - low)` (STS-B: score / 5).

    Args:
        backbone: a KerasHub BERT-family backbone.
        task: a GLUE task name or a `Task` (see `keras_bam.tasks.Task`).
        dropout: head dropout rate.
        exact_gelu: use exact GELU in the backbone (what BERT checkpoints were
            trained with); stored in the config so `.keras` files keep it.
        tokenizer: a KerasHub tokenizer (or a preprocessor holding one) with
            which `predict`, `fit` and `evaluate` encode raw strings;
            saved with the model.
        max_length: the length raw strings are encoded to.
        **kwargs: standard `keras.Model` arguments.

    With a tokenizer attached (`from_preset`, or `tokenizer=`), `fit`,
    `evaluate` and `predict` take raw texts, and `fit` and `evaluate` the
    task's labels: class names or indices, or scores in its `score_range`.

    Example:
    ```python
    backbone = keras_bam.load_backbone()
    model = keras_bam.SingleTaskModel(backbone, "rte")
    logits = model.predict(encoded.pad_batch([0, 1]))

    sst2 = keras_bam.SingleTaskModel.from_preset(None, "sst2")
    sst2.compile(optimizer="adam",
                 loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    sst2.fit(["a gripping film", "dull"], ["positive", "negative"], batch_size=2)
    ```
    """

    @clones_as_its_class
    def __init__(
        self,
        backbone,
        task,
        dropout: float = 0.1,
        exact_gelu: bool = True,
        tokenizer=None,
        max_length: int = 128,
        **kwargs,
    ):
        (task,) = resolve_tasks([task])
        backbone, inputs, pooled = self.pooled_encoder(backbone, exact_gelu)
        head = TaskHead(task.num_outputs, dropout=dropout, name=f"{task.name}_head")
        outputs = head(pooled)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.backbone = backbone
        self.task = task
        self.head = head
        self.dropout = dropout
        self.exact_gelu = exact_gelu
        self.set_tokenizer(tokenizer, max_length)

    def head_outputs(self, pooled, training=None):
        return self.head(pooled, training=training)

    def raw_text_targets(self, texts: tuple, y, training: bool) -> np.ndarray:
        """The task's training targets for raw `texts` and their labels `y`:
        int32 class indices from class names or indices, or `(n, 1)` scaled
        scores from scores in the task's `score_range` (as a teacher trains).

        Args:
            texts: the texts (one list, or two for pairs).
            y: one label per text.
            training: unused: a task's targets are alike in training and
                evaluation.

        Returns:
            The targets, as `train_teacher` fits on them.
        """
        _check_text_form(self.task, texts)
        if isinstance(y, dict):
            raise ValueError(
                "A SingleTaskModel's labels are one label per text (class names, "
                "class indices or scores), not a dict."
            )
        values = _label_values(y, len(texts[0]), "y")
        return training_targets(self.task, read_labels(self.task, values, "y"))

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        loss = super().compute_loss(x, y, y_pred, sample_weight, training=training)
        # The step's examples: rows with a nonzero weight (an empty packing
        # slot or a padding row has weight 0).
        if sample_weight is None:
            examples = ops.cast(ops.shape(y_pred)[0], "float32")
        else:
            weight = ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
            examples = ops.sum(ops.cast(weight > 0, "float32"))
        # Alike on every replica (see `MultiTaskModel.compute_loss`).
        self._step_examples = global_sum(examples) / loss_replicas()
        return loss

    def get_config(self):
        return {**self.backbone_config(), "task": task_config(self.task)}


def task_config(task: Task):
    """How a model's config records a task: GLUE's by name, yours by its
    definition (`Task.get_config`), so a `.keras` file rebuilds it."""
    return task.name if isinstance(task, GlueTask) else task.get_config()


class _TaskLosses:
    """One `<task>_loss` mean per task, and the compiled per-task metrics, held
    outside Keras's attribute tracking so that `.keras` files and checkpoints do
    not store them (files written before they existed still load);
    `MultiTaskModel.metrics` lists them."""

    def __init__(self, tasks):
        self.metrics = [keras.metrics.Mean(name=f"{t.name}_loss") for t in tasks]
        for metric in self.metrics:
            set_metric_direction(metric, "down")  # For callbacks' mode="auto".
        self.group = MetricGroup(self.metrics, name="task_losses")
        self.compiled = None


@keras.saving.register_keras_serializable(package="keras_bam")
class MultiTaskModel(BackboneTaskModel):
    """A BAM student: one shared BERT encoder, one `TaskHead` per task.

    The forward pass gives every task's head output for every example (a dict,
    task name to logits or scaled score); in training only an example's own task
    contributes to the loss, as in BAM. Training targets are a dict:

    - `task_id`: int, the index of the example's task in `tasks` (-1: a row
      that only pads the batch, with no loss);
    - `label`: the gold class index (as a number) or the scaled regression score;
    - `teacher`: the teacher's outputs, `(batch, widest head)`, each task using its
      first `num_outputs` columns (logits, or the scaled score).

    The per-example loss is cross-entropy against
    `λ * onehot(gold) + (1 - λ) * softmax(teacher / T)` (`T`: the
    `distillation_temperature`), or squared error against
    `λ * gold + (1 - λ) * teacher` for regression, times the task's loss weight,
    summed over the batch (BAM) or averaged; each task's share is logged as
    `<task>_loss` (so `StopOnNonFiniteLoss` can name a diverging task).
    `distillation` picks λ:
    `"annealed"` (BAM: from `TeacherAnnealing`), `"fixed"` (λ = 1 -
    `teacher_weight`), or `"gold"` (λ = 1: plain multi-task training).

    With a tokenizer attached, `fit` and `evaluate` take raw texts (as
    `predict` does; in one call all single texts or all pairs) and, as `y`, a
    dict of the raw targets, one entry per example:

    - `"task"`: the example's task, by name or index in `tasks` (one name for
      all examples);
    - `"label"`: its label, as its task reads labels (class names or indices,
      or scores in its `score_range`, trained on the scaled score);
    - `"teacher"` (optional): the teachers' outputs, `(examples, widest
      head)`, as the `teacher` target above. Without it only `"gold"`
      distillation trains (zeros stand in for the teacher, weighted 0);
      `evaluate` never needs it.

    Args:
        backbone: a KerasHub BERT-family backbone, shared by all tasks.
        tasks: GLUE task names or `Task`s; their order defines `task_id`.
        dropout: head dropout rate.
        exact_gelu: use exact GELU in the backbone.
        distillation: a registered mode (`keras_bam.distillation`):
            `"annealed"`, `"fixed"` or `"gold"`.
        teacher_weight: the teacher's weight for `"fixed"`.
        distillation_temperature: the softmax temperature `T` applied to teacher
            logits (1 in BAM).
        task_weights: per-task loss weights (BAM's rounding correction), in `tasks`
            order; 1 for all by default.
        loss_reduction: `"sum"` over the batch (BAM) or `"mean"`.
        tokenizer: a KerasHub tokenizer (or a preprocessor holding one) with
            which `predict`, `fit` and `evaluate` encode raw strings;
            saved with the model.
        max_length: the length raw strings are encoded to.
        **kwargs: standard `keras.Model` arguments.

    Example:
    ```python
    student = keras_bam.MultiTaskModel(keras_bam.load_backbone(), ["rte", "stsb"])
    student.compile(optimizer="adam")
    student.fit(keras_bam.backend.as_fit_input(batches), epochs=6, shuffle=False,
                callbacks=[keras_bam.TeacherAnnealing()])

    # On raw texts, labels only (BAM's "gold" multi-task baseline):
    student = keras_bam.MultiTaskModel.from_preset(
        None, ["sst2", "cola"], distillation="gold")
    student.compile(optimizer="adam")
    student.fit(["a gripping film", "Him went home."],
                {"task": ["sst2", "cola"], "label": ["positive", "unacceptable"]})
    ```
    """

    @clones_as_its_class
    def __init__(
        self,
        backbone,
        tasks,
        dropout: float = 0.1,
        exact_gelu: bool = True,
        distillation: str = "annealed",
        teacher_weight: float = 0.5,
        distillation_temperature: float = 1.0,
        task_weights=None,
        loss_reduction: str = "sum",
        tokenizer=None,
        max_length: int = 128,
        **kwargs,
    ):
        tasks = resolve_tasks(tasks)
        get_distillation_mode(distillation)  # Known, or a clear error.
        if loss_reduction not in ("sum", "mean"):
            raise ValueError("loss_reduction must be 'sum' or 'mean'.")
        backbone, inputs, pooled = self.pooled_encoder(backbone, exact_gelu)
        heads = [
            TaskHead(t.num_outputs, dropout=dropout, name=f"{t.name}_head")
            for t in tasks
        ]
        outputs = {t.name: head(pooled) for t, head in zip(tasks, heads)}
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.backbone = backbone
        self.tasks = tasks
        self.dropout = dropout
        self.exact_gelu = exact_gelu
        self.distillation = distillation
        self.teacher_weight = float(teacher_weight)
        self.distillation_temperature = float(distillation_temperature)
        self.task_weights = [float(w) for w in (task_weights or [1.0] * len(tasks))]
        if len(self.task_weights) != len(tasks):
            raise ValueError("task_weights needs one weight per task.")
        self.loss_reduction = loss_reduction
        self.set_tokenizer(tokenizer, max_length)
        self.annealing = TeacherAnnealingState(name="teacher_annealing")
        self.gold_weight_tracker = LastValue(name="gold_weight")
        self._task_losses = _TaskLosses(tasks)

    @property
    def metrics(self):
        compiled = self._task_losses.compiled
        return (
            super().metrics
            + [self._task_losses.group]
            + ([compiled] if compiled is not None else [])
        )

    def compile(
        self,
        optimizer="rmsprop",
        loss=None,
        metrics=None,
        micro_batches: int = 1,
        **kwargs,
    ):
        """`keras.Model.compile`, with `metrics` per task.

        The targets are one dict for all tasks, so metrics name their task:
        `metrics="glue"` logs each task's streamed GLUE metrics
        (`keras_bam.metrics.glue_task_metrics`) and `glue_score`, or a dict
        from task name to metrics (`{"rte": ["accuracy"], "stsb": ["pearson"]}`,
        Keras `Metric`s welcome). Each is logged as `<task>_<metric>`
        (`val_rte_accuracy` in validation), computed on that task's examples
        only, and carries its direction for callbacks' `mode="auto"`. `loss` is
        the model's own (BAM's blended targets): leave it `None`.

        Args:
            optimizer: as `keras.Model.compile`.
            loss: must be `None` (anything else is refused: the loss is
                the model's own).
            metrics: `None`, `"glue"`, or a dict from task name to metrics.
            micro_batches: compute each training step's gradient in this many
                slices of its batch, added up
                (`keras_bam.backend.micro_batched_train_step`): the same step
                (BAM's summed loss: the same gradient, to float rounding;
                dropout draws its masks per slice), with about `1 /
                micro_batches` of the activation memory, at some speed.
            **kwargs: other `keras.Model.compile` arguments.

        Example:
        ```python
        student.compile(optimizer="adam", metrics="glue")
        student.fit(train, validation_data=dev, callbacks=[
            keras_bam.TeacherAnnealing(),
            keras.callbacks.EarlyStopping("val_glue_score", patience=2)])
        ```
        """
        if kwargs.get("weighted_metrics"):
            raise ValueError(
                "A student's metrics are per task: pass them as `metrics`."
            )
        if loss is not None:
            raise ValueError(
                f"A student's loss is its own (BAM's blended targets per task), "
                f"not {loss!r}: compile without `loss`, and choose it with the "
                "model's `distillation`, `task_weights` and `loss_reduction` (or "
                "`keras_bam.distillation.register_distillation_mode`)."
            )
        compiled = None if metrics is None else TaskMetrics(self.tasks, metrics)
        if int(micro_batches) != micro_batches or micro_batches < 1:
            raise ValueError(
                f"micro_batches must be a positive integer: {micro_batches}."
            )
        super().compile(optimizer=optimizer, loss=loss, **kwargs)
        self.micro_batches = int(micro_batches)
        # Saved with the model, so a reloaded student logs the same metrics.
        save_compile_arguments(self, metrics=metrics, micro_batches=self.micro_batches)
        self._task_losses.compiled = compiled

    def compile_from_config(self, config):
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def train_step(self, *args):
        if getattr(self, "micro_batches", 1) > 1:
            return micro_batched_train_step(self, self.micro_batches, *args)
        return super().train_step(*args)

    def raw_text_targets(self, texts: tuple, y, training: bool) -> dict:
        """The student's targets (`task_id`, `label`, `teacher`) for raw
        `texts` and `y`, a dict of `"task"`, `"label"` and `"teacher"` (see
        the class docstring).

        Args:
            texts: the texts (one list, or two for pairs).
            y: the dict.
            training: for `fit`: teacher outputs are needed unless the model's
                `distillation` is `"gold"` (evaluation compares against the
                gold labels alone).

        Returns:
            The targets dict the model's loss reads.
        """
        keys = (_RAW_TASK, _RAW_LABEL, _RAW_TEACHER)
        if not isinstance(y, dict) or not {_RAW_TASK, _RAW_LABEL} <= set(y) <= set(
            keys
        ):
            got = sorted(y) if isinstance(y, dict) else type(y).__name__
            raise ValueError(
                "A student's labels on raw texts are a dict: {'task': each "
                "example's task (a name or index of the model's tasks, or one "
                "name for all), 'label': its label (a class name or index, or a "
                "score), and optionally 'teacher': the teachers' outputs, "
                f"(examples, widest head)}}; got {got}."
            )
        count = len(texts[0])
        task_ids = self._raw_task_ids(y[_RAW_TASK], count)
        values = _label_values(y[_RAW_LABEL], count, "y['label']")
        labels = np.zeros(count, np.float32)
        for index in np.unique(task_ids):
            task = self.tasks[index]
            _check_text_form(task, texts)
            positions = np.flatnonzero(task_ids == index)
            read = read_labels(task, values[positions], "y['label']", positions)
            labels[positions] = training_targets(task, read).reshape(-1)
        teacher = self._raw_teacher_outputs(y.get(_RAW_TEACHER), count, training)
        return {TASK_ID: task_ids, LABEL: labels, TEACHER: teacher}

    def _raw_task_ids(self, tasks, count: int) -> np.ndarray:
        """`y["task"]`, task names or indices (or one name for all), as int32
        indices in `tasks`."""
        names = [t.name for t in self.tasks]
        values = np.asarray(tasks, dtype=object)
        if values.ndim == 0:
            values = np.full(count, values.item(), dtype=object)
        if values.ndim != 1 or len(values) != count:
            raise ValueError(
                f"{count} texts (or pairs) but y['task'] of shape {values.shape}: "
                "one task per text, or one task name for all."
            )
        ids, unknown = np.zeros(count, np.int32), []
        for position, value in enumerate(values):
            value = _text(value) if _is_text(value) else value
            if isinstance(value, str) and value in names:
                ids[position] = names.index(value)
            elif type(value) is int and 0 <= value < len(names):
                ids[position] = value
            else:
                unknown.append(value)
        if unknown:
            raise ValueError(
                f"Unknown tasks in y['task']: {sorted(set(map(repr, unknown)))[:5]}; "
                f"the model's tasks are {names} (by name, or index)."
            )
        return ids

    def _raw_teacher_outputs(self, teacher, count: int, training: bool):
        """`y["teacher"]` as the `(examples, widest head)` float32 targets;
        zeros when absent, which only gold-only training and evaluation allow."""
        width = max(t.num_outputs for t in self.tasks)
        if teacher is None:
            if training and self.distillation != "gold":
                raise ValueError(
                    f"A student trained with distillation='{self.distillation}' "
                    "learns from its teachers: pass their outputs as "
                    f"y['teacher'], ({count}, {width}) (each example's teacher "
                    "logits, or a regression teacher's scaled score, in its "
                    "first columns), or build the model with "
                    "distillation='gold' to train on the labels alone."
                )
            return np.zeros((count, width), np.float32)
        teacher = np.asarray(teacher, np.float32)
        if teacher.ndim == 1 and width == 1:
            teacher = teacher[:, None]
        if teacher.shape != (count, width):
            raise ValueError(
                f"y['teacher'] holds one row of {width} teacher outputs per "
                f"example (the widest head's width), ({count}, {width}); got "
                f"shape {teacher.shape}."
            )
        return teacher

    def head_outputs(self, pooled, training=None):
        # Looked up by name: an attribute holding the heads would change where
        # `.keras` files store their weights.
        return {
            task.name: self.get_layer(f"{task.name}_head")(pooled, training=training)
            for task in self.tasks
        }

    def step_gold_weight(self, training: bool):
        """λ, the gold labels' weight, for this step (advancing the annealing
        step when training).

        Outside training (`evaluate`, a validation pass) λ is 1: the loss is
        against the gold labels, which is what model selection should compare,
        and it needs no `TeacherAnnealing`.
        """
        if not training:
            return ops.convert_to_tensor(1.0, "float32")
        return get_distillation_mode(self.distillation).training_gold_weight(self)

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        gold_weight = self.step_gold_weight(training)
        examples = self.step_examples(y)
        task_sums = self.task_loss_sums(y, y_pred, gold_weight)
        return self.record_step_loss(task_sums, examples, gold_weight, training)

    def step_examples(self, y):
        """The step's examples: rows with a task (`task_id` ≥ 0; -1 marks empty
        packing slots and padding rows), summed over `tf.distribute` replicas."""
        task_ids = ops.reshape(y[TASK_ID], (-1,))
        return global_sum(ops.sum(ops.cast(task_ids >= 0, "float32")))

    def task_loss_sums(self, y, y_pred, gold_weight) -> list:
        """Each task's loss summed over its examples in `y`, times its loss
        weight (a list in `tasks` order), against targets blended with λ =
        `gold_weight`."""
        task_ids = ops.cast(ops.reshape(y[TASK_ID], (-1,)), "int32")
        label = ops.reshape(ops.cast(y[LABEL], "float32"), (-1,))
        sums = []
        for index, task in enumerate(self.tasks):
            output = y_pred[task.name]
            teacher = ops.cast(y[TEACHER], "float32")[:, : task.num_outputs]
            if task.is_regression:
                targets = blend_regression_targets(label, teacher[:, 0], gold_weight)
                per_example = squared_error(output, targets)
            else:
                targets = blend_classification_targets(
                    label, teacher, gold_weight, self.distillation_temperature
                )
                per_example = soft_cross_entropy(output, targets)
            # `where`, not a product with the mask: another task's non-finite
            # targets must not make this task's loss NaN.
            mine = ops.equal(task_ids, index)
            sums.append(
                self.task_weights[index] * ops.sum(ops.where(mine, per_example, 0.0))
            )
        return sums

    def reduce_step_loss(self, task_sums: list, examples):
        """The loss to differentiate: the tasks' sums added, and divided by the
        step's `examples` for `loss_reduction="mean"`."""
        total = sum(task_sums[1:], task_sums[0])
        if self.loss_reduction == "mean":
            total = total / ops.maximum(examples, 1.0)
        return total

    def record_step_loss(self, task_sums: list, examples, gold_weight, training):
        """Logs a step's per-task losses, examples and λ; returns its loss
        (`reduce_step_loss`)."""
        # Under tf.distribute each replica sees a share of the batch (not
        # always as many examples as the others), Keras sums the replicas'
        # gradients and multiplies each replica's logged loss by `replicas`:
        # a mean divides by the whole batch's examples, and logged values are
        # weighted alike on every replica (the batch's examples per replica).
        replicas = loss_replicas()
        weight = examples / replicas
        for metric, task_sum in zip(self._task_losses.metrics, task_sums):
            logged = task_sum * replicas
            if self.loss_reduction == "mean":
                logged = logged / ops.maximum(examples, 1.0)
            # Weighted by examples, as `loss` is: the per-task means add up to it.
            metric.update_state(logged, sample_weight=weight)
        self._step_examples = weight
        if training:
            self.gold_weight_tracker.update_state(gold_weight)
        # Read when compute_metrics is traced, right after, in the same step.
        self._step_is_training = bool(training)
        return self.reduce_step_loss(task_sums, examples)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if self._task_losses.compiled is not None:
            self._task_losses.compiled.update_tasks(y[TASK_ID], y[LABEL], y_pred)
        logs = super().compute_metrics(x, y, y_pred, sample_weight)
        if not getattr(self, "_step_is_training", True):
            # λ is training's: an evaluation logs no `val_gold_weight`.
            logs = {k: v for k, v in logs.items() if k != "gold_weight"}
        return logs

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        # Files written before the distillation temperature had its own name.
        if "temperature" in config:
            config["distillation_temperature"] = config.pop("temperature")
        return super().from_config(config)

    def get_config(self):
        return {
            **self.backbone_config(),
            "tasks": [task_config(t) for t in self.tasks],
            "distillation": self.distillation,
            "teacher_weight": self.teacher_weight,
            "distillation_temperature": self.distillation_temperature,
            "task_weights": self.task_weights,
            "loss_reduction": self.loss_reduction,
        }
