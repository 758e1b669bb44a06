"""The speed benchmark's `keras-hub` child: KerasHub's `BertTextClassifier` on raw
strings, on the backend the parent chose."""

from __future__ import annotations

import gc
import math

import numpy as np

from speedbench.data import load_examples
from speedbench.flops import length_stats
from speedbench.timing import calls_timed
from speedbench.timing import emit
from speedbench.timing import fit_timed
from speedbench.timing import keras_device
from speedbench.timing import say
from speedbench.timing import timed_passes


def child_keras_hub(cfg: dict) -> None:
    """KerasHub's `BertTextClassifier` on raw strings, as a Keras user writes it."""
    import keras
    import keras_hub

    import keras_bam

    keras.config.set_dtype_policy(cfg["precision"])
    backend = keras.backend.backend()
    base = {
        "system": cfg["system"],
        "backend": backend,
        "device": keras_device(),
        "variant": "keras-hub",
    }
    batch_size, warmup, length = (
        cfg["batch_size"],
        cfg["warmup_passes"],
        cfg["max_length"],
    )
    for name in cfg["tasks"]:
        task = keras_bam.get_task(name)
        examples = load_examples(cfg, name)
        x = tuple(np.array(texts) for texts in examples.texts)
        x = x[0] if len(x) == 1 else x
        if task.is_regression:
            y = np.asarray(examples.labels, np.float32)
            loss = keras.losses.MeanSquaredError()
        else:
            y = np.asarray(examples.labels, np.int32)
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        keras.utils.set_random_seed(0)
        preprocessor = keras_hub.models.BertTextClassifierPreprocessor.from_preset(
            cfg["model"], sequence_length=length
        )
        classifier = keras_hub.models.BertTextClassifier.from_preset(
            cfg["model"], num_classes=task.num_outputs, preprocessor=preprocessor
        )
        classifier.compile(
            optimizer=keras.optimizers.AdamW(
                5e-5, weight_decay=0.01, epsilon=1e-6, global_clipnorm=1.0
            ),
            loss=loss,
        )
        # Real lengths from its own preprocessing (not timed).
        lengths = np.concatenate(
            [
                np.asarray(
                    preprocessor(
                        x=tuple(t[s : s + 256] for t in x)
                        if isinstance(x, tuple)
                        else x[s : s + 256]
                    )["padding_mask"]
                ).sum(axis=1)
                for s in range(0, len(y), 256)
            ]
        )
        steps = math.ceil(len(y) / batch_size)
        passes = timed_passes(steps, cfg["steps"])
        record = {
            **base,
            "workload": name,
            **length_stats(lengths),
            "steps_per_pass": steps,
            "padded_tokens": [len(y) * length] * passes,
            "warmup_passes": warmup,
        }
        if "train" in cfg["modes"]:
            say(f"{backend} KerasHub train {name}: {warmup}+{passes} passes")
            warmup_s, seconds = fit_timed(
                classifier, x, warmup, passes, y=y, batch_size=batch_size
            )
            emit(
                {
                    **record,
                    "mode": "train",
                    "pass_seconds": seconds,
                    "warmup_seconds": warmup_s,
                }
            )
        if "predict" in cfg["modes"]:
            say(f"{backend} KerasHub predict {name}: {warmup}+{passes} passes")
            warmup_s, seconds = calls_timed(
                lambda c=classifier, x=x: c.predict(
                    x, batch_size=batch_size, verbose=0
                ),
                warmup,
                passes,
            )
            emit(
                {
                    **record,
                    "mode": "predict",
                    "pass_seconds": seconds,
                    "warmup_seconds": warmup_s,
                }
            )
        del classifier
        gc.collect()
