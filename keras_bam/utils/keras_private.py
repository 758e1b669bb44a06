"""Every use of Keras's (and KerasHub's) private API in keras-bam, in one place.

Each seam below is something no public API offers; its comment says why it is
needed. All were checked against `CHECKED_KERAS` and `CHECKED_KERAS_HUB`.
`missing_seams()` lists the ones a newer release has moved, and the test suite
fails on any, naming it, so an upgrade is caught here and not deep in a run.
Public Keras API is used everywhere else.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import sys
import tempfile
import types
import zipfile

import keras
import keras_hub

# The releases every seam was checked against.
CHECKED_KERAS = "3.15.1"
CHECKED_KERAS_HUB = "0.32.0"

try:
    # `unscale_loss_for_distribution`: under a distribution strategy Keras
    # scales each replica's loss for the gradient; the logged loss is unscaled
    # as Keras's own train step does it. `MetricsList`: Keras's callbacks read
    # a monitored metric's direction only from the metric lists Keras builds
    # for `compile`; a group of ours is one.
    from keras.src.losses.loss import unscale_loss_for_distribution  # noqa: F401
    from keras.src.trainers.compile_utils import MetricsList  # noqa: F401
except ImportError as e:
    raise ImportError(
        f"keras-bam needs {e.name} from Keras's private API, which this Keras "
        f"({keras.__version__}) no longer has (checked against {CHECKED_KERAS}): "
        "see keras_bam/utils/keras_private.py."
    ) from e

# `Trainer._maybe_symbolic_build`, which builds the model from one batch before
# `fit`, and its `_symbolic_build`, which fetches that batch.
_MAYBE_SYMBOLIC_BUILD = "_maybe_symbolic_build"
_SYMBOLIC_BUILD = "_symbolic_build"

# `keras.models.clone_model`'s clone of a functional model: the function that
# calls the model's class with the cloned graph, `cls(inputs, outputs, name=)`.
_CLONE_FUNCTIONAL_MODEL = "_clone_functional_model"

# KerasHub `TransformerEncoder`'s sublayers, run one by one for the `[CLS]`-only
# last layer: KerasHub exposes them only as private attributes.
_ENCODER_SUBLAYERS = {
    "attention_norm": "_self_attention_layer_norm",
    "attention": "_self_attention_layer",
    "attention_dropout": "_self_attention_dropout",
    "feedforward_norm": "_feedforward_layer_norm",
    "intermediate": "_feedforward_intermediate_dense",
    "output": "_feedforward_output_dense",
    "feedforward_dropout": "_feedforward_dropout",
}


class TrainerSeams:
    """Mixin for a `keras.Model` subclass: the two trainer internals keras-bam's
    task models adapt, each through a public-looking hook of the model.

    - `symbolic_build_batch(iterator)`: the batch to build the model from before
      `fit` (`None`: Keras's own choice). Several processes must build from a
      local batch; Keras has no hook for it.
    - `loss_mean(tracker)`: the tracker Keras's `compile` makes for
      the logged `loss` (also when a `.keras` file is loaded), replaced without
      overriding `compile`. Keras's `loss` averages steps equally; ours are
      averaged by their examples.
    - `get_compile_config`: overridden as Keras requires of a model whose
      `compile` takes arguments of its own (`save_compile_arguments`).
    """

    def symbolic_build_batch(self, iterator):
        return None

    def loss_mean(self, tracker):
        return tracker

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        batch = self.symbolic_build_batch(iterator)
        if batch is not None:
            iterator, data_batch = None, batch
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def get_compile_config(self):
        # Keras reloads a compiled model whose class overrides `compile` only
        # if it overrides this too; the config is Keras's own, with what
        # `save_compile_arguments` added (none within `saved_uncompiled`).
        if self.__dict__.get("_saving_uncompiled"):
            return None
        return super().get_compile_config()

    @property
    def _loss_tracker(self):
        return self.__dict__.get("_wrapped_loss_tracker")

    @_loss_tracker.setter
    def _loss_tracker(self, tracker):
        self.__dict__["_wrapped_loss_tracker"] = self.loss_mean(tracker)


def clones_as_its_class(init):
    """Decorates the `__init__` of a functional `keras.Model` subclass built from
    its own arguments, so that `keras.models.clone_model` returns that class.

    Keras clones any functional model through its graph, and keeps a
    subclass's class only when `inspect.getfullargspec(cls.__init__)` shows
    `(*args, **kwargs)`, calling `cls(inputs, outputs, name=...)` with the
    cloned graph; otherwise the clone is a plain `Functional`, without the
    subclass's attributes, loss or `compile`. The decorated `__init__` has that
    form for Keras's check (`inspect.signature`, `help` and docs read
    `init`'s own, through `__wrapped__`), and when `clone_model` calls it so, it
    builds the model from the cloned model's `clone_arguments()` (its
    constructor's keyword arguments) instead of from Keras's graph.

    `init` must take a required argument: Keras's `Operation.__new__` binds a
    model's constructor arguments (none, for a `keras.Model`) through
    `inspect.signature` but reads its `*args` through `getfullargspec`, and
    the two agree only when that binding fails.

    Args:
        init: the class's `__init__`.

    Returns:
        The decorated `__init__`.
    """

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        source = _model_being_cloned(self, args, sys._getframe(1))
        if source is not None:
            return init(self, **source.clone_arguments())
        return init(self, *args, **kwargs)

    return __init__


def _model_being_cloned(instance, args, caller):
    """The model `clone_model` is cloning when `caller` is Keras's clone of a
    functional model constructing `instance`'s class from the cloned graph (its
    inputs as the first argument), else `None`."""
    code = caller.f_code
    if code.co_name != _CLONE_FUNCTIONAL_MODEL or "keras" not in code.co_filename:
        return None
    model = caller.f_locals.get("model")
    inputs = caller.f_locals.get("input_tensors")
    if type(model) is type(instance) and args and args[0] is inputs:
        return model
    return None


@contextlib.contextmanager
def saved_uncompiled(model):
    """Within it, `model.save` writes a `.keras` file without the optimizer's
    state and compile settings (loaded uncompiled), as Keras's HDF5 files do with
    `include_optimizer=False`: Keras's saving stores the optimizer it finds as
    `model.optimizer`, and the compile settings `get_compile_config` returns."""
    optimizer = model.optimizer
    model.optimizer = None
    model.__dict__["_saving_uncompiled"] = True
    try:
        yield
    finally:
        model.optimizer = optimizer
        model.__dict__["_saving_uncompiled"] = False


def loss_tracker(model):
    """The tracker of the `loss` that `fit` logs (a custom train step updates it
    as Keras's own does)."""
    return model._loss_tracker


def update_metrics_variables(model, metrics_variables, loss, x, y, y_pred, weight):
    """JAX: Keras's stateless update of the compiled metrics after a train step
    (`(logs, metrics_variables)`), for a train step written in full."""
    return model._update_metrics_variables(
        metrics_variables, loss, x, y, y_pred, weight
    )


def save_compile_arguments(model, **entries) -> None:
    """Adds `entries` to what `model.get_compile_config()` saves, so a `.keras`
    file recompiles the model with them (a custom `compile`'s own arguments)."""
    model._compile_config.config.update(entries)


def set_metric_direction(metric, direction: str) -> None:
    """Whether a larger `metric` is better (`"up"`) or worse (`"down"`), for
    callbacks' `mode="auto"` (Keras infers it only for its own metrics)."""
    metric._direction = direction


def inside_symbolic_build() -> bool:
    """Whether Keras's trainer is fetching a batch only to build the model.

    That fetch looks like any other to a data set: with one batch per epoch it
    would complete a pass. Keras exposes no flag for it, so this looks for its
    `Trainer._symbolic_build` frame on the stack.
    """
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == _SYMBOLIC_BUILD and "keras" in code.co_filename:
            return True
        frame = frame.f_back
    return False


def all_layers(model: keras.layers.Layer) -> list:
    """`model` and every layer inside it, recursively, in Keras's order
    (`model.layers` lists only the direct children)."""
    return list(model._flatten_layers(include_self=True, recursive=True))


def symbolic_calls(layer: keras.layers.Layer) -> int:
    """How many times `layer` was called on symbolic inputs (its nodes)."""
    return len(layer._inbound_nodes)


def encoder_sublayers(encoder) -> types.SimpleNamespace:
    """A KerasHub `TransformerEncoder`'s sublayers by role: `attention_norm`,
    `attention`, `attention_dropout`, `feedforward_norm`, `intermediate`,
    `output` and `feedforward_dropout`."""
    return types.SimpleNamespace(
        **{role: getattr(encoder, name) for role, name in _ENCODER_SUBLAYERS.items()}
    )


def export_archive_trackable(archive):
    """TensorFlow: the `tf.Module` a `keras.export.ExportArchive` writes, whose
    variable lists decide what the SavedModel stores."""
    return archive._tf_trackable


class _CloneProbe(keras.Model):
    """A functional model of `clones_as_its_class`, for `missing_seams`."""

    @clones_as_its_class
    def __init__(self, units: int, **kwargs):
        inputs = keras.Input((2,))
        super().__init__(inputs, keras.layers.Dense(units)(inputs), **kwargs)
        self.units = units

    def clone_arguments(self):
        return {"units": self.units}


def _saves_its_optimizer_uncompiled() -> bool:
    """Whether `saved_uncompiled` fails to keep a trained model's optimizer
    state out of its `.keras` file."""
    import h5py  # Keras's own dependency, for its weights files.

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.optimizer.build(model.trainable_variables)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "probe.keras")
        with saved_uncompiled(model):
            model.save(path)
        with zipfile.ZipFile(path) as saved:
            saved.extract("model.weights.h5", folder)
        with h5py.File(os.path.join(folder, "model.weights.h5"), "r") as weights:
            return "optimizer" in weights


def missing_seams() -> list:
    """The seams above that this Keras and KerasHub no longer offer.

    Returns:
        One line per missing seam, naming it and the release it was checked
        against; empty when all are where they were.

    Example:
    ```python
    from keras_bam.utils import keras_private

    assert not keras_private.missing_seams()
    ```
    """
    missing = []
    trainer = keras.Model
    tensorflow = keras.backend.backend() == "tensorflow"
    # TensorFlow's trainer alone builds through `_maybe_symbolic_build`.
    names = (
        (_MAYBE_SYMBOLIC_BUILD, _SYMBOLIC_BUILD) if tensorflow else (_SYMBOLIC_BUILD,)
    )
    for name in names:
        if not callable(getattr(trainer, name, None)):
            missing.append(f"keras.Model.{name} (a trainer method)")
    build = getattr(trainer, _MAYBE_SYMBOLIC_BUILD, None)
    if tensorflow and build is not None:
        parameters = inspect.signature(build).parameters
        if not {"iterator", "data_batch"} <= set(parameters):
            missing.append(
                f"keras.Model.{_MAYBE_SYMBOLIC_BUILD}(iterator=, data_batch=)"
            )
    model = keras.Sequential([keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    if not isinstance(getattr(model, "_loss_tracker", None), keras.metrics.Mean):
        missing.append("keras.Model._loss_tracker (set by compile)")
    compile_config = getattr(getattr(model, "_compile_config", None), "config", None)
    if not isinstance(compile_config, dict):
        missing.append("keras.Model._compile_config.config")
    jax_trainer = keras.backend.backend() == "jax"
    if jax_trainer and not hasattr(model, "_update_metrics_variables"):
        missing.append("keras.Model._update_metrics_variables (JAX trainer)")
    if type(keras.models.clone_model(_CloneProbe(1))) is not _CloneProbe:
        missing.append(
            f"keras.src.models.cloning.{_CLONE_FUNCTIONAL_MODEL} building a "
            "functional subclass of (*args, **kwargs) as its class"
        )
    if _saves_its_optimizer_uncompiled():
        missing.append("keras.Model.save storing the optimizer of `model.optimizer`")
    if not hasattr(model, "_flatten_layers"):
        missing.append("keras.layers.Layer._flatten_layers")
    if not hasattr(keras.layers.Dense(1), "_inbound_nodes"):
        missing.append("keras.layers.Layer._inbound_nodes")
    from keras.src.callbacks import monitor_callback

    if "_direction" not in inspect.getsource(monitor_callback):
        missing.append("keras.metrics.Metric._direction (read by callbacks)")
    encoder = keras_hub.layers.TransformerEncoder(intermediate_dim=4, num_heads=1)
    encoder.build((1, 2, 4))
    for name in _ENCODER_SUBLAYERS.values():
        if not isinstance(getattr(encoder, name, None), keras.layers.Layer):
            missing.append(f"keras_hub.layers.TransformerEncoder.{name}")
    if tensorflow:
        archive = keras.export.ExportArchive()
        if not hasattr(archive, "_tf_trackable"):
            missing.append("keras.export.ExportArchive._tf_trackable")
    return [
        f"{seam} is gone (checked against Keras {CHECKED_KERAS}, KerasHub "
        f"{CHECKED_KERAS_HUB}; now Keras {keras.__version__}, KerasHub "
        f"{keras_hub.__version__}): see keras_bam/utils/keras_private.py."
        for seam in missing
    ]
