"""Model outputs over encoded examples, and teacher-prediction files written as
they are made."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np

from keras_bam.backend.compilation import compiles_each_shape
from keras_bam.backend.distribution import is_chief
from keras_bam.backend.fit_input import as_fit_input
from keras_bam.backend.fit_input import strip_padding
from keras_bam.data.batching import BucketedBatches
from keras_bam.data.batching import RandomBatches
from keras_bam.data.encoding import EncodedExamples
from keras_bam.data.examples import TaskExamples
from keras_bam.data.io_utils import arrays_sha256
from keras_bam.data.teacher_predictions import TeacherPredictions
from keras_bam.evaluation.scoring import glue_metrics
from keras_bam.evaluation.scoring import predictions_from_outputs
from keras_bam.models.packed_encoder import batch_packing

EVAL_BATCH_SIZE = 128
PREDICTION_CHUNK = 65536


def prediction_batches(
    model,
    encoded: EncodedExamples,
    batch_size: int = EVAL_BATCH_SIZE,
    buckets=None,
    packing=None,
):
    """The batches `predict_outputs` runs `model` on.

    Prediction may put any examples together (outputs go back to example
    order), so the layout is the fastest one: packed rows where every batch
    shape is compiled (JAX, or TensorFlow with `jit_compile`), since packing
    keeps the shapes to two; on TensorFlow without XLA, where any shape runs
    at once, length buckets of sorted examples compute fewer positions than
    `max_length` rows, and run faster.

    Args:
        model: a `SingleTaskModel` or `MultiTaskModel`.
        encoded: the `EncodedExamples`.
        batch_size: examples per batch.
        buckets: padded lengths (see `BucketedBatches`), without packing.
        packing: pack (`True`, or a `Packing`), pad to length buckets
            (`False`), or `None`: pack when its batch shapes are compiled
            (`compiles_each_shape`); a backbone that cannot take packed inputs
            gets buckets (`keras_bam.models.batch_packing`).

    Returns:
        A `RandomBatches` (packed, examples in order) or `BucketedBatches`.

    Example:
    ```python
    batches = keras_bam.evaluation.prediction_batches(run.model, dev_encoded)
    ```
    """
    packing = batch_packing(packing, model.backbone, default=compiles_each_shape(model))
    if packing is not None:
        # Examples in their order: a batch of mixed lengths packs tightly.
        return RandomBatches(
            encoded, batch_size=batch_size, shuffle=False, packing=packing
        )
    return BucketedBatches(encoded, batch_size=batch_size, buckets=buckets)


def predict_outputs(
    model,
    encoded: EncodedExamples,
    batch_size: int = EVAL_BATCH_SIZE,
    buckets=None,
    packing=None,
) -> np.ndarray:
    """Model outputs for every encoded example, in example order (no dropout).

    Args:
        model: a `SingleTaskModel` or `MultiTaskModel`.
        encoded: the `EncodedExamples`.
        batch_size: examples per batch.
        buckets: padded lengths (see `BucketedBatches`), without packing.
        packing: pack each batch's examples into rows (`True`, or a
            `Packing`), pad them to length buckets (`False`), or `None`: the
            faster of the two for this model and backend
            (`prediction_batches`).

    Returns:
        The outputs (a dict of them, task name to outputs, for a multi-task
        model), one row per example.

    Example:
    ```python
    logits = keras_bam.evaluation.predict_outputs(run.model, dev_encoded)
    ```
    """
    batches = prediction_batches(model, encoded, batch_size, buckets, packing)
    fit_input = as_fit_input(batches)
    outputs = model.predict(fit_input, verbose=0)
    return batches.restore_order(strip_padding(fit_input, outputs))


def evaluate(
    model,
    examples: TaskExamples,
    encoded: EncodedExamples,
    batch_size: int = EVAL_BATCH_SIZE,
) -> dict:
    """The official GLUE metrics of `model` on labeled `examples`."""
    outputs = predict_outputs(model, encoded, batch_size)
    predictions = predictions_from_outputs(examples.task, outputs)
    return glue_metrics(examples.task, examples.labels, predictions)


def write_teacher_predictions(
    model,
    examples: TaskExamples,
    encoded: EncodedExamples,
    path: str | os.PathLike,
    chunk_size: int = PREDICTION_CHUNK,
    batch_size: int = EVAL_BATCH_SIZE,
    **metadata,
) -> str:
    """Predicts `examples` chunk by chunk and writes their `TeacherPredictions`.

    Each chunk's outputs are written, as soon as they are predicted, into a
    memory-mapped `outputs.npy` in `<path>.partial/`, whose `progress.json`
    records the chunks done, the examples' content hash and the model weights'
    SHA-256. A run killed while predicting MNLI's 393k examples and started
    again with the same model and examples resumes at its last finished chunk;
    with anything else it starts over. The finished file is written atomically
    and the partial folder removed.

    Args:
        model: the teacher (a `SingleTaskModel`).
        examples: the examples, for fingerprints.
        encoded: their encoding.
        path: the `TeacherPredictions` file to write.
        chunk_size: examples predicted (and written) at a time.
        batch_size: examples per batch.
        **metadata: extra fields for the file (backbone, recipe, ...).

    Returns:
        The path written.

    Example:
    ```python
    keras_bam.evaluation.write_teacher_predictions(
        run.model, train, train_encoded, "runs/rte/rte_train_teacher.npz")
    ```
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}.")
    if len(examples) != len(encoded):
        raise ValueError(f"{len(examples)} examples but {len(encoded)} encodings.")
    path = os.fspath(path)
    partial = path + ".partial"
    outputs_path = os.path.join(partial, "outputs.npy")
    progress_path = os.path.join(partial, "progress.json")
    n, width = len(examples), examples.task.num_outputs
    key = _progress_key(model, examples, chunk_size)
    if not is_chief():  # Another process writes the file; this one takes part.
        for start in range(0, n, chunk_size):
            predict_outputs(
                model,
                encoded.select(np.arange(start, min(start + chunk_size, n))),
                batch_size,
            )
        return path
    outputs, done = _resume(outputs_path, progress_path, key)
    if outputs is None:
        shutil.rmtree(partial, ignore_errors=True)
        os.makedirs(partial)
        outputs = np.lib.format.open_memmap(
            outputs_path, mode="w+", dtype=np.float32, shape=(n, width)
        )
    for index, start in enumerate(range(0, n, chunk_size)):
        if index < done:
            continue
        stop = min(start + chunk_size, n)
        chunk = predict_outputs(
            model, encoded.select(np.arange(start, stop)), batch_size
        )
        outputs[start:stop] = np.reshape(chunk, (stop - start, width))
        outputs.flush()
        _write_json(progress_path, {**key, "chunks_done": index + 1})
    predictions = TeacherPredictions.from_outputs(
        examples, np.array(outputs), **metadata
    )
    del outputs
    written = predictions.save(path)
    shutil.rmtree(partial, ignore_errors=True)
    return written


def _progress_key(model, examples: TaskExamples, chunk_size: int) -> dict:
    """What a partial run must match to be resumed: the examples, the chunking
    and the model's weights."""
    return {
        "content_hash": examples.content_hash(),
        "num_examples": len(examples),
        "num_outputs": examples.task.num_outputs,
        "chunk_size": int(chunk_size),
        "weights_sha256": arrays_sha256(
            {str(i): np.asarray(w) for i, w in enumerate(model.get_weights())}
        ),
    }


def _resume(outputs_path: str, progress_path: str, key: dict):
    """`(outputs memmap, chunks done)` of a matching partial run, else `(None, 0)`."""
    try:
        with open(progress_path) as f:
            progress = json.load(f)
        if {k: progress.get(k) for k in key} != key:
            return None, 0
        outputs = np.load(outputs_path, mmap_mode="r+", allow_pickle=False)
    except (OSError, ValueError):
        return None, 0
    if outputs.shape != (key["num_examples"], key["num_outputs"]):
        return None, 0
    return outputs, int(progress.get("chunks_done", 0))


def _write_json(path: str, value: dict):
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        json.dump(value, f)
    os.replace(temporary, path)
