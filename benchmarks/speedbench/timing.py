"""Timing helpers of the speed benchmark's children: whole passes of `fit` and of
calls, warm-up that covers every batch shape, the shapes and padding of a batch
stream, and how a child sends its measurements (`emit`) and progress (`say`) to
the parent."""

from __future__ import annotations

import copy
import json
import math
import time

RESULT = "SPEED_RESULT "


def emit(record: dict) -> None:
    """Sends one measurement from a child to the parent."""
    print(RESULT + json.dumps(record), flush=True)


def say(message: str) -> None:
    """A progress line (the parent echoes it)."""
    print(f"[speed] {message}", flush=True)


def timed_passes(steps_per_pass: int, steps: int) -> int:
    """Whole passes that hold at least `steps` steps (at least one)."""
    return max(1, math.ceil(steps / max(1, steps_per_pass)))


def keras_pass_timer():
    """A callback that stamps the start and end of every epoch (one pass)."""
    import keras

    class PassTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.begins, self.ends = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self.begins.append(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            for value in (logs or {}).values():
                float(value)  # Waits for the pass's last step on every backend.
            self.ends.append(time.perf_counter())

    return PassTimer()


def keras_device() -> str:
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return str(jax.devices()[0].platform)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
    return "cpu"


def fit_timed(model, fit_input, warmup: int, passes: int, callbacks=(), **kwargs):
    """`(warmup_seconds, [seconds per timed pass])` of `fit` over whole passes."""
    timer = keras_pass_timer()
    start = time.perf_counter()
    model.fit(
        fit_input,
        epochs=warmup + passes,
        verbose=0,
        callbacks=[*callbacks, timer],
        **kwargs,
    )
    seconds = [e - b for b, e in zip(timer.begins, timer.ends)]
    return timer.ends[warmup - 1] - start, seconds[warmup:]


def fits_alternating(runs, warmup: int, passes: int, check=None):
    """`[(warmup_seconds, [seconds per timed pass])]` of several `fit` runs, one
    pass of each in turn, the first run first in even passes and last in odd
    ones, so that drift in the machine's speed shifts all of them alike.

    Args:
        runs: `(model, fit_input, callbacks)` triples.
        warmup: untimed passes of each run.
        passes: timed passes of each run.
        check: called after each round of passes (e.g. that the runs' batch
            streams are at the same epoch).
    """
    timers = [keras_pass_timer() for _ in runs]
    warmup_seconds = [0.0] * len(runs)
    for epoch in range(warmup + passes):
        order = range(len(runs)) if epoch % 2 == 0 else reversed(range(len(runs)))
        for i in order:
            model, fit_input, callbacks = runs[i]
            start = time.perf_counter()
            model.fit(
                fit_input,
                initial_epoch=epoch,
                epochs=epoch + 1,
                verbose=0,
                callbacks=[*callbacks, timers[i]],
                shuffle=False,
            )
            if epoch < warmup:
                warmup_seconds[i] += time.perf_counter() - start
        if check is not None:
            check()
    return [
        (w, [e - b for b, e in zip(t.begins, t.ends)][warmup:])
        for w, t in zip(warmup_seconds, timers)
    ]


def calls_timed(call, warmup: int, passes: int):
    """`(warmup_seconds, [seconds per timed call])` of a whole-pass function."""
    start = time.perf_counter()
    for _ in range(warmup):
        call()
    warmup_seconds = time.perf_counter() - start
    seconds = []
    for _ in range(passes):
        begin = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - begin)
    return warmup_seconds, seconds


def covering_warmup(batches, warmup: int, passes: int, extra: int = 3) -> int:
    """Warm-up passes (at least `warmup`, at most `extra` more) after which the
    timed passes bring no batch shape that was not seen (and compiled) before."""
    stats = copy.deepcopy(batches)

    def shapes(epoch):
        stats.set_epoch(epoch)
        return set(stats.shapes)

    for w in range(warmup, warmup + extra + 1):
        seen = set().union(*(shapes(e) for e in range(w)))
        if all(shapes(e) <= seen for e in range(w, w + passes)):
            return w
    return warmup + extra


def compiled_shapes(batches, epochs) -> list:
    """The distinct input shapes of a stream over `epochs`: the programs a
    backend that compiles per shape (JAX) builds."""
    stats = copy.deepcopy(batches)
    shapes = set()
    for epoch in epochs:
        stats.set_epoch(epoch)
        shapes.update(stats.shapes)
    return [list(s) for s in sorted(shapes)]


def bucketed_padded_tokens(batches, epochs) -> list:
    """Padded positions of a bucketed stream in each of `epochs` (the plan depends
    only on seed and epoch, so a copy gives the order `fit` sees)."""
    stats = copy.deepcopy(batches)
    padded = []
    for epoch in epochs:
        stats.set_epoch(epoch)
        padded.append(stats.padded_tokens)
    return padded
