import keras
import numpy as np
import pytest

import keras_bam
from keras_bam.metrics import task_metrics
from tests.conftest import make_tiny_backbone

TASKS = ["cola", "mrpc", "stsb"]


@pytest.mark.parametrize(
    "task, metric",
    [
        ("cola", "matthews_corrcoef"),
        ("mrpc", "f1"),
        ("mrpc", "accuracy"),
        ("stsb", "pearson"),
    ],
)
def test_streamed_metrics_equal_glue_metrics_over_the_rows_kept(rng, task, metric):
    """Updated in three batches, with a third of the rows masked out, a metric
    equals the GLUE metric over the rows kept."""
    n = 60
    regression = task == "stsb"
    labels = rng.uniform(0, 1, n) if regression else rng.integers(0, 2, n)
    outputs = rng.normal(size=(n, 1 if regression else 2)).astype("float32")
    if regression:
        outputs[:, 0] += labels  # Correlated, as a trained head is.
    kept = rng.uniform(size=n) < 0.67
    (made,) = task_metrics.resolve_metric(keras_bam.get_task(task), metric)
    for rows in np.array_split(np.arange(n), 3):
        made.update_state(labels[rows], outputs[rows], sample_weight=kept[rows])
    predictions = keras_bam.evaluation.predictions_from_outputs(task, outputs[kept])
    want = keras_bam.evaluation.glue_metrics(task, labels[kept], predictions)[metric]
    assert float(made.result()) == pytest.approx(want, abs=1e-5)


TOPICS = keras_bam.tasks.Task(
    name="topics",
    text_fields=("text",),
    label_names=("a", "b", "c", "d", "e"),
    metrics=("macro_f1", "accuracy", "matthews_corrcoef"),
)


@pytest.mark.parametrize("metric", ["macro_f1", "accuracy", "matthews_corrcoef"])
def test_streamed_multiclass_metrics_equal_the_numpy_ones_and_scikit_learns(
    rng, metric
):
    """A five-class task of your own: streamed macro-F1 and Matthews
    correlation over masked batches equal `glue_metrics`' and scikit-learn's."""
    from sklearn import metrics as sklearn_metrics

    n = 90
    labels = rng.integers(0, 5, n)
    outputs = rng.normal(size=(n, 5)).astype("float32")
    outputs[np.arange(n), labels] += 1.0  # Better than chance, as a trained head.
    kept = rng.uniform(size=n) < 0.67
    (made,) = task_metrics.resolve_metric(TOPICS, metric)
    for rows in np.array_split(np.arange(n), 3):
        made.update_state(labels[rows], outputs[rows], sample_weight=kept[rows])
    predictions = keras_bam.evaluation.predictions_from_outputs(TOPICS, outputs[kept])
    want = keras_bam.evaluation.glue_metrics(TOPICS, labels[kept], predictions)[metric]
    assert float(made.result()) == pytest.approx(want, abs=1e-5)
    reference = {
        "macro_f1": lambda y, p: sklearn_metrics.f1_score(y, p, average="macro"),
        "accuracy": sklearn_metrics.accuracy_score,
        "matthews_corrcoef": sklearn_metrics.matthews_corrcoef,
    }[metric]
    assert want == pytest.approx(reference(labels[kept], predictions), abs=1e-9)


def student_data(rng, n=48, length=10):
    task_id = np.arange(n) % len(TASKS)
    labels = np.where(task_id == 2, rng.uniform(0, 1, n), rng.integers(0, 2, n))
    x = {
        "token_ids": rng.integers(1, 30522, (n, length)).astype("int32"),
        "segment_ids": np.zeros((n, length), "int32"),
        "padding_mask": np.ones((n, length), "int32"),
    }
    y = {
        "task_id": task_id,
        "label": labels.astype("float32"),
        "teacher": np.zeros((n, 2), "float32"),
    }
    return x, y


def student(metrics="glue"):
    model = keras_bam.MultiTaskModel(
        make_tiny_backbone(), TASKS, distillation="gold", loss_reduction="mean"
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=metrics)
    return model


def expected_metrics(model, x, y) -> dict:
    """Each task's GLUE metrics from `predict` on its own rows, numpy-computed."""
    outputs = model.predict(x, verbose=0)
    logs = {}
    for index, name in enumerate(TASKS):
        rows = y["task_id"] == index
        predictions = keras_bam.evaluation.predictions_from_outputs(
            name, outputs[name][rows]
        )
        metrics = keras_bam.evaluation.glue_metrics(name, y["label"][rows], predictions)
        metrics.pop("spearman", None), metrics.pop("score")
        logs.update({f"{name}_{k}": v for k, v in metrics.items()})
    return logs


def test_fit_logs_per_task_metrics_and_callbacks_monitor_them(rng, tmp_path):
    x, y = student_data(rng)
    model = student()
    best = tmp_path / "best.keras"
    history = model.fit(
        x,
        y,
        batch_size=12,
        epochs=3,
        shuffle=False,
        verbose=0,
        validation_data=(x, y),
        callbacks=[
            keras.callbacks.EarlyStopping("val_glue_score", patience=5),
            keras.callbacks.EarlyStopping("val_stsb_loss", patience=5),
            keras.callbacks.ModelCheckpoint(
                best, monitor="val_cola_matthews_corrcoef", save_best_only=True
            ),
        ],
    ).history
    names = {
        "cola_matthews_corrcoef",
        "mrpc_f1",
        "mrpc_accuracy",
        "stsb_pearson",
        "glue_score",
    }
    assert names | {f"val_{n}" for n in names} | {"val_stsb_loss"} <= set(history)
    assert best.exists()
    # The last validation pass, against numpy's GLUE metrics on predict's outputs.
    want = expected_metrics(model, x, y)
    for name, value in want.items():
        assert history[f"val_{name}"][-1] == pytest.approx(value, abs=1e-4), name
    glue = np.mean(
        [
            want["cola_matthews_corrcoef"],
            (want["mrpc_f1"] + want["mrpc_accuracy"]) / 2,
            want["stsb_pearson"],
        ]
    )
    assert history["val_glue_score"][-1] == pytest.approx(glue, abs=1e-4)


def test_evaluate_and_a_reloaded_student_keep_the_metrics(rng, tmp_path):
    x, y = student_data(rng)
    model = student({"mrpc": ["accuracy"], "sts-b": "pearson"})
    logs = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert {"mrpc_accuracy", "stsb_pearson"} <= set(logs)
    assert "glue_score" not in logs  # Not every task has its GLUE metrics.
    path = tmp_path / "student.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    again = reloaded.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    for name in ("mrpc_accuracy", "stsb_pearson"):
        assert again[name] == pytest.approx(logs[name], abs=1e-5)


def test_bad_metrics_name_what_is_wrong():
    model = keras_bam.MultiTaskModel(make_tiny_backbone(), TASKS)
    with pytest.raises(ValueError, match="metrics are per task"):
        model.compile(optimizer="adam", metrics=["accuracy"])
    with pytest.raises(ValueError, match="no head for"):
        model.compile(optimizer="adam", metrics={"rte": "accuracy"})
    with pytest.raises(ValueError, match="Unknown metric 'accuracy' for STS-B"):
        model.compile(optimizer="adam", metrics={"stsb": "accuracy"})
    # A Keras metric that cannot read a task's targets is refused when compiled,
    # saying what it is given; one that can is logged as the task's.
    with pytest.raises(
        ValueError, match="AUC cannot read MRPC's targets: .*class index"
    ):
        model.compile(
            optimizer="adam", metrics={"mrpc": ["accuracy", keras.metrics.AUC()]}
        )
    model.compile(
        optimizer="adam",
        metrics={"mrpc": keras.metrics.SparseTopKCategoricalAccuracy(k=1, name="top1")},
    )
    assert [m.name for m in model.metrics[-1].metrics] == ["mrpc_top1"]
