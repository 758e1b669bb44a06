"""tf.data's autotuning against keras-bam's batch streams (TensorFlow), and the
time of one prediction batch per shape (JAX)."""

from __future__ import annotations

import time

from speedbench.timing import keras_pass_timer

from probebench.common import load

SHAPES = [(32, 13), (32, 16), (32, 45), (32, 48), (32, 61), (32, 64), (12, 128)]


def child_autotune(cfg: dict) -> dict:
    """Seconds of `predict_outputs` calls and `fit` epochs, autotuning off and on."""
    import keras

    import keras_bam
    from keras_bam.backend import set_seed
    from keras_bam.backend import to_tf_dataset
    from keras_bam.evaluation import prediction_batches
    from keras_bam.training import make_optimizer
    from keras_bam.training.teacher import task_loss
    from keras_bam.training.teacher import training_targets

    examples, encoded = load("mrpc", cfg["limit"], cfg["data_dir"])
    out = {}
    for autotune in (False, True):  # On: what `tf.data` does unless told.
        set_seed(0)
        model = keras_bam.SingleTaskModel(keras_bam.load_backbone(), "mrpc")
        calls = []
        for _ in range(cfg["calls"] + 1):  # The first call traces.
            start = time.perf_counter()
            # `predict_outputs`'s batches and dataset, with autotuning chosen.
            batches = prediction_batches(model, encoded, 32, None, None)
            model.predict(to_tf_dataset(batches, autotune=autotune), verbose=0)
            calls.append(time.perf_counter() - start)
        recipe = keras_bam.FineTuningRecipe.bam_single_task(batch_size=32)
        model.compile(
            optimizer=make_optimizer(recipe, 1000, 6),
            loss=task_loss(model.task, recipe.loss_reduction),
        )
        batches = keras_bam.data.BucketedBatches(
            encoded,
            training_targets(examples.task, examples.labels),
            batch_size=32,
            shuffle=True,
        )

        class FirstBatch(keras.callbacks.Callback):
            ends = []

            def on_train_batch_end(self, batch, logs=None):
                if batch == 0:
                    FirstBatch.ends.append(time.perf_counter())

        FirstBatch.ends = []
        timer = keras_pass_timer()
        model.fit(
            to_tf_dataset(batches, autotune=autotune),  # as `as_fit_input` makes it
            epochs=cfg["epochs"] + 1,  # The first epoch traces.
            shuffle=False,
            verbose=0,
            callbacks=[timer, FirstBatch()],
        )
        out["on" if autotune else "off"] = {
            "predict_seconds": calls[1:],
            "epoch_seconds": [e - b for b, e in zip(timer.begins, timer.ends)][1:],
            "first_batch_seconds": [
                e - b for b, e in zip(timer.begins, FirstBatch.ends)
            ][1:],
        }
    return out


def child_shapes(cfg: dict) -> dict:
    """Median milliseconds of one prediction batch per `(rows, length)`."""
    import numpy as np

    import keras_bam

    model = keras_bam.SingleTaskModel(keras_bam.load_backbone(), "mrpc")
    rng = np.random.default_rng(0)
    out = {}
    for rows, length in SHAPES:
        batch = {
            "token_ids": rng.integers(1000, 30000, (rows, length)).astype("int32"),
            "segment_ids": np.zeros((rows, length), "int32"),
            "padding_mask": np.ones((rows, length), "int32"),
        }
        model.predict_on_batch(batch)  # Compiles.
        seconds = []
        for _ in range(cfg["reps"]):
            start = time.perf_counter()
            model.predict_on_batch(batch)
            seconds.append(time.perf_counter() - start)
        out[f"{rows}x{length}"] = {
            "rows": rows,
            "length": length,
            "median_ms": 1000 * float(np.median(seconds)),
            "seconds": seconds,
        }
    return out
