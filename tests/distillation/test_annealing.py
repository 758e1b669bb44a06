import keras
import numpy as np
import pytest

import keras_bam
from tests.conftest import make_tiny_backbone

TASKS = ["rte", "stsb"]


def data(rng, n=24, length=10):
    x = {
        "token_ids": rng.integers(1, 30522, (n, length)).astype("int32"),
        "segment_ids": np.zeros((n, length), "int32"),
        "padding_mask": np.ones((n, length), "int32"),
    }
    task_id = np.arange(n) % 2
    label = np.where(task_id == 0, rng.integers(0, 2, n), rng.uniform(0, 1, n))
    y = {
        "task_id": task_id.astype("int32"),
        "label": label.astype("float32"),
        "teacher": rng.normal(size=(n, 2)).astype("float32"),
    }
    return x, y


class RecordGoldWeight(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.values = []

    def on_train_batch_end(self, batch, logs=None):
        self.values.append(float(logs["gold_weight"]))


def student(**kwargs):
    model = keras_bam.MultiTaskModel(make_tiny_backbone(), TASKS, **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


def test_lambda_is_exact_at_every_step(rng):
    """λ_t = t / T inside each of T = 12 steps (BAM's percent_done), on this backend."""
    x, y = data(rng)
    model = student()
    recorder = RecordGoldWeight()
    model.fit(
        x,
        y,
        batch_size=4,
        epochs=2,
        shuffle=False,
        verbose=0,
        callbacks=[keras_bam.TeacherAnnealing(), recorder],
    )
    np.testing.assert_allclose(recorder.values, np.arange(12) / 12, atol=1e-7)
    assert float(keras.ops.convert_to_numpy(model.annealing.step)) == 12


def test_resume_continues_the_trajectory(rng, tmp_path):
    x, y = data(rng)
    first = student()
    recorder = RecordGoldWeight()
    first.fit(
        x,
        y,
        batch_size=4,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[keras_bam.TeacherAnnealing(total_steps=12), recorder],
    )
    path = str(tmp_path / "student.keras")
    first.save(path)
    resumed = keras.saving.load_model(path)
    assert float(keras.ops.convert_to_numpy(resumed.annealing.step)) == 6
    resumed.fit(
        x,
        y,
        batch_size=4,
        epochs=2,
        initial_epoch=1,
        shuffle=False,
        verbose=0,
        callbacks=[keras_bam.TeacherAnnealing(), recorder],
    )
    np.testing.assert_allclose(recorder.values, np.arange(12) / 12, atol=1e-7)


def test_constant_and_function_schedules(rng):
    x, y = data(rng, n=8)
    model = student()
    recorder = RecordGoldWeight()
    model.fit(
        x,
        y,
        batch_size=4,
        epochs=1,
        verbose=0,
        callbacks=[keras_bam.TeacherAnnealing("constant", value=0.3), recorder],
    )
    np.testing.assert_allclose(recorder.values, [0.3, 0.3], atol=1e-7)
    recorder.values.clear()
    model.fit(
        x,
        y,
        batch_size=4,
        epochs=1,
        verbose=0,
        callbacks=[
            keras_bam.TeacherAnnealing(lambda p: p * p, total_steps=4),
            recorder,
        ],
    )
    # The step counter continues from 2: progress 2/4 and 3/4.
    np.testing.assert_allclose(recorder.values, [0.25, 0.5625], atol=1e-7)


def test_a_later_fit_with_the_same_schedule_reuses_the_compiled_step(rng):
    x, y = data(rng, n=8)
    model = student()
    recorder = RecordGoldWeight()
    fit = dict(batch_size=4, epochs=1, shuffle=False, verbose=0)
    model.fit(x, y, callbacks=[keras_bam.TeacherAnnealing(total_steps=4)], **fit)
    step_function = model.train_function
    model.fit(
        x, y, callbacks=[keras_bam.TeacherAnnealing(total_steps=8), recorder], **fit
    )
    assert model.train_function is step_function
    # The new total is read from its variable: steps 2 and 3 of 8.
    np.testing.assert_allclose(recorder.values, [2 / 8, 3 / 8], atol=1e-7)
    model.fit(x, y, callbacks=[keras_bam.TeacherAnnealing("constant", 0.5)], **fit)
    assert model.train_function is not step_function


def test_annealed_mode_requires_the_callback(rng):
    x, y = data(rng, n=4)
    with pytest.raises(ValueError, match="needs the TeacherAnnealing callback"):
        student().fit(x, y, batch_size=4, verbose=0)
    with pytest.raises(ValueError, match="Unknown schedule 'cosine'"):
        keras_bam.TeacherAnnealing("cosine")


def softmax(v):
    e = np.exp(v - v.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize(
    "mode, lam", [("gold", 1.0), ("fixed", 0.7), ("annealed", 0.25)]
)
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_loss_against_hand_computation(rng, mode, lam, reduction):
    model = keras_bam.MultiTaskModel(
        make_tiny_backbone(),
        TASKS,
        distillation=mode,
        teacher_weight=0.3,
        distillation_temperature=2.0,
        task_weights=[1.5, 0.5],
        loss_reduction=reduction,
    )
    if mode == "annealed":  # As TeacherAnnealing(total_steps=4) sets it, at step 1.
        model.annealing.schedule = "linear"
        model.annealing.total_steps.assign(4.0)
        model.annealing.step.assign(1.0)
    y = {
        "task_id": np.array([0, 1, 0, 1], "int32"),
        "label": np.array([1.0, 0.6, 0.0, 0.2], "float32"),
        "teacher": np.array(
            [[0.5, 1.5], [0.4, 9.0], [2.0, -1.0], [0.9, 9.0]], "float32"
        ),
    }
    y_pred = {
        "rte": np.array([[0.1, 0.3], [5.0, 5.0], [1.0, -2.0], [5.0, 5.0]], "float32"),
        "stsb": np.array([[9.0], [0.5], [9.0], [0.1]], "float32"),
    }
    loss = float(keras.ops.convert_to_numpy(model.compute_loss(y=y, y_pred=y_pred)))
    w = 1.0 - lam
    expected = 0.0
    for i in (0, 2):  # RTE examples: cross-entropy against the blended target.
        target = lam * np.eye(2)[int(y["label"][i])] + w * softmax(
            y["teacher"][i] / 2.0
        )
        log_probs = np.log(softmax(y_pred["rte"][i]))
        expected += 1.5 * -(target * log_probs).sum()
    for i in (1, 3):  # STS-B examples: squared error against the blended score.
        target = lam * y["label"][i] + w * y["teacher"][i, 0]
        expected += 0.5 * (y_pred["stsb"][i, 0] - target) ** 2
    if reduction == "mean":
        expected /= 4
    assert loss == pytest.approx(expected, rel=1e-5)


def test_keras_round_trip(rng, tmp_path):
    model = student(distillation="fixed", teacher_weight=0.4, task_weights=[2.0, 1.0])
    x, _ = data(rng, n=3)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert [t.name for t in loaded.tasks] == TASKS
    assert loaded.distillation == "fixed" and loaded.task_weights == [2.0, 1.0]
    got, want = loaded.predict(x, verbose=0), model.predict(x, verbose=0)
    for name in TASKS:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_padding_rows_have_no_loss(reduction):
    """Rows with task_id -1 (data-parallel padding) change neither the loss nor
    the mean's denominator, even with non-finite outputs."""
    model = keras_bam.MultiTaskModel(
        make_tiny_backbone(), TASKS, distillation="gold", loss_reduction=reduction
    )
    y = {
        "task_id": np.array([0, 1], "int32"),
        "label": np.array([1.0, 0.6], "float32"),
        "teacher": np.zeros((2, 2), "float32"),
    }
    y_pred = {
        "rte": np.array([[0.1, 0.3], [5.0, 5.0]], "float32"),
        "stsb": np.array([[9.0], [0.5]], "float32"),
    }
    padded_y = {
        "task_id": np.array([0, 1, -1, -1], "int32"),
        "label": np.array([1.0, 0.6, 1.0, 0.6], "float32"),
        "teacher": np.zeros((4, 2), "float32"),
    }
    padded_pred = {
        "rte": np.array([[0.1, 0.3], [5.0, 5.0], [np.inf, 0], [1, 2]], "float32"),
        "stsb": np.array([[9.0], [0.5], [9.0], [np.nan]], "float32"),
    }
    loss = model.compute_loss(y=y, y_pred=y_pred)
    padded = model.compute_loss(y=padded_y, y_pred=padded_pred)
    assert float(padded) == pytest.approx(float(loss), rel=1e-6)


def _tensorboard_scalars(folder) -> dict:
    """Tag to the values that the TensorBoard event files in `folder` hold."""
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util

    events = event_accumulator.EventAccumulator(
        str(folder), size_guidance={event_accumulator.TENSORS: 0}
    ).Reload()
    return {
        tag: [
            float(tensor_util.make_ndarray(e.tensor_proto)) for e in events.Tensors(tag)
        ]
        for tag in events.Tags()["tensors"]
    }


def test_lambda_is_logged_right_with_validation_data(rng, tmp_path):
    """Evaluation resets every metric: λ must survive it in History, CSVLogger and
    TensorBoard (with each task's loss), and a validation pass logs no
    `val_gold_weight`."""
    x, y = data(rng, n=16)
    model = student()
    log = tmp_path / "log.csv"
    history = model.fit(
        x,
        y,
        batch_size=4,
        epochs=3,
        shuffle=False,
        verbose=0,
        validation_data=data(rng, n=8),
        callbacks=[
            keras_bam.TeacherAnnealing(),
            keras.callbacks.CSVLogger(log),
            keras.callbacks.TensorBoard(tmp_path / "tensorboard"),
        ],
    )
    # λ at each epoch's last step: steps 3, 7 and 11 of 12.
    want = [3 / 12, 7 / 12, 11 / 12]
    np.testing.assert_allclose(history.history["gold_weight"], want, atol=1e-6)
    assert "val_gold_weight" not in history.history
    assert "val_loss" in history.history and "val_rte_loss" in history.history
    header, *rows = log.read_text().splitlines()
    column = header.split(",").index("gold_weight")
    logged = [float(row.split(",")[column]) for row in rows]
    np.testing.assert_allclose(logged, want, atol=1e-6)
    train = _tensorboard_scalars(tmp_path / "tensorboard" / "train")
    np.testing.assert_allclose(train["epoch_gold_weight"], want, atol=1e-6)
    for task in TASKS:
        np.testing.assert_allclose(
            train[f"epoch_{task}_loss"], history.history[f"{task}_loss"], rtol=1e-5
        )
    validation = _tensorboard_scalars(tmp_path / "tensorboard" / "validation")
    assert "epoch_gold_weight" not in validation
    np.testing.assert_allclose(
        validation["epoch_rte_loss"], history.history["val_rte_loss"], rtol=1e-5
    )


@pytest.mark.parametrize("distillation", ["annealed", "fixed", "gold"])
def test_evaluate_works_on_any_student_against_gold_labels(rng, tmp_path, distillation):
    """`evaluate` needs no TeacherAnnealing, on a fresh or a reloaded student, and
    its loss is against the gold labels (λ = 1) whatever λ training reached; the
    student still trains afterwards."""
    x, y = data(rng, n=8)
    model = student(distillation=distillation)
    fresh = model.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    preds = model.predict(x, verbose=0)
    no_teacher = {**y, "teacher": np.zeros_like(y["teacher"])}
    gold = float(model.compute_loss(y=no_teacher, y_pred=preds, training=False))
    assert fresh["loss"] == pytest.approx(gold / 2, rel=1e-4)  # Mean of 2 batches.
    assert "gold_weight" not in fresh
    path = str(tmp_path / "student.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    again = reloaded.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    assert again["loss"] == pytest.approx(fresh["loss"], rel=1e-4)
    callbacks = [keras_bam.TeacherAnnealing()] if distillation == "annealed" else []
    history = reloaded.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=callbacks)
    assert np.isfinite(history.history["loss"][-1])


def test_a_second_fit_anneals_again_and_initial_epoch_continues(rng):
    """With the default total, each `fit` anneals over its own steps: a second
    `fit` starts again from λ = 0 (not at λ = 1 throughout), and a `fit` from
    `initial_epoch` continues where that epoch starts."""
    x, y = data(rng, n=8)
    model = student()
    fit = dict(batch_size=4, shuffle=False, verbose=0)
    for _ in range(2):
        recorder = RecordGoldWeight()
        model.fit(
            x, y, epochs=2, callbacks=[keras_bam.TeacherAnnealing(), recorder], **fit
        )
        np.testing.assert_allclose(recorder.values, [0, 1 / 4, 2 / 4, 3 / 4])
    recorder = RecordGoldWeight()
    model.fit(
        x,
        y,
        epochs=2,
        initial_epoch=1,
        callbacks=[keras_bam.TeacherAnnealing(), recorder],
        **fit,
    )
    np.testing.assert_allclose(recorder.values, [2 / 4, 3 / 4])


def test_teacher_annealing_round_trips_through_keras_serialization():
    callback = keras_bam.TeacherAnnealing("constant", value=0.25, total_steps=40)
    config = keras.saving.serialize_keras_object(callback)
    clone = keras.saving.deserialize_keras_object(config)
    assert isinstance(clone, keras_bam.TeacherAnnealing)
    assert clone.get_config() == callback.get_config()
