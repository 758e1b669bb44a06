"""Compilation: JAX's program cache, TensorFlow's traces of Keras's steps."""

import keras
import numpy as np

import keras_bam


def test_compilation_cache_keeps_programs_on_jax_only(tmp_path):
    directory = tmp_path / "xla"
    if keras.backend.backend() != "jax":
        assert keras_bam.backend.enable_compilation_cache(directory) is False
        assert not directory.exists()
        return
    import jax

    names = (
        "jax_compilation_cache_dir",
        "jax_persistent_cache_min_compile_time_secs",
    )
    before = {name: getattr(jax.config, name) for name in names}
    try:
        assert keras_bam.backend.enable_compilation_cache(
            directory, min_compile_seconds=0
        )
        # A program no other test compiles (its shape), so it is compiled here.
        x = np.arange(7 * 13, dtype="float32").reshape(7, 13)
        np.asarray(jax.jit(lambda a: (a @ a.T).sum(axis=0))(x))
        assert any(p.name.startswith("jit_") for p in directory.iterdir())
        assert jax.config.jax_compilation_cache_dir == str(directory)
    finally:
        from jax.experimental.compilation_cache import compilation_cache

        for name, value in before.items():
            jax.config.update(name, value)
        compilation_cache.reset_cache()


def test_keras_steps_of_many_models_log_no_retracing_warning(caplog):
    """TensorFlow counts the traces of every model's predict step together (one
    Python function): the sixth model of a run would read as a function retraced
    five times. keras-bam's models keep that false alarm out of the log; other
    functions' retracing warnings pass."""
    import logging

    from keras_bam.backend.compilation import _KerasStepRetracingFilter
    from tests.conftest import make_tiny_backbone

    rng = np.random.default_rng(0)
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        for length in range(6, 12):
            model = keras_bam.SingleTaskModel(make_tiny_backbone(num_layers=1), "rte")
            model.predict(
                {
                    "token_ids": rng.integers(1, 100, (2, length)).astype("int32"),
                    "segment_ids": np.zeros((2, length), "int32"),
                    "padding_mask": np.ones((2, length), "int32"),
                },
                verbose=0,
            )
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]
    keras_step, users = (
        logging.LogRecord(
            "tensorflow",
            logging.WARNING,
            "",
            0,
            f"5 out of the last 8 calls to "
            f"<function {name} at 0x1> triggered tf.function retracing.",
            None,
            None,
        )
        for name in (
            "TensorFlowTrainer.make_predict_function.<locals>.one_step_on_data",
            "my_step",
        )
    )
    quiet = _KerasStepRetracingFilter()
    assert not quiet.filter(keras_step) and quiet.filter(users)


def test_fit_traces_the_train_step_once():
    """Keras on TensorFlow builds the optimizer inside the first trace of the
    train step, and `tf.function`, seeing variables created, traces it again:
    keras-bam's models build it first, so each `fit` traces its step once (on
    JAX too), with the optimizer's variables as Keras would make them."""
    from tests.conftest import make_tiny_backbone

    model = keras_bam.SingleTaskModel(make_tiny_backbone(num_layers=1), "rte")
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    traces = []
    step = model.train_step

    def counted_step(*args):  # JAX's takes the state too.
        traces.append(1)  # Runs only while the step is traced.
        return step(*args)

    model.train_step = counted_step
    rng = np.random.default_rng(0)
    x = {
        "token_ids": rng.integers(1, 100, (8, 10)).astype("int32"),
        "segment_ids": np.zeros((8, 10), "int32"),
        "padding_mask": np.ones((8, 10), "int32"),
    }
    model.fit(x, rng.integers(0, 2, 8), batch_size=4, epochs=2, verbose=0)
    assert len(traces) == 1
    names = [v.path for v in model.optimizer.variables]
    assert len(names) == 2 + 2 * len(model.trainable_variables)  # Adam's.
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 4
