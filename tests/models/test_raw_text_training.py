"""`fit` and `evaluate` on raw texts: the same training and loss as on the
texts encoded by hand, in every form `predict` takes."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_bam
from keras_bam.training.teacher import task_loss
from keras_bam.utils.targets import LABEL
from keras_bam.utils.targets import TASK_ID
from keras_bam.utils.targets import TEACHER
from tests.conftest import make_tiny_backbone

PREMISES = ["A man sleeps.", "It rains.", "Dogs bark.", "The sun is out."]
HYPOTHESES = ["Nobody sleeps.", "The street is wet.", "A dog barks.", "It is dark."]
SENTENCES = ["A gripping film.", "Dull.", "Lovely acting.", "I left early."]
MAX_LENGTH = 32


def backbone():
    """A tiny BERT without dropout: two fits from the same weights agree."""
    return make_tiny_backbone(num_layers=1, dropout=0.0)


def teacher_model(task, tokenizer):
    model = keras_bam.SingleTaskModel(
        backbone(), task, dropout=0.0, tokenizer=tokenizer, max_length=MAX_LENGTH
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=task_loss(model.task))
    return model


def encoded(texts, tokenizer):
    return keras_bam.data.encode_texts(texts, tokenizer, MAX_LENGTH).pad_batch(
        np.arange(len(texts[0]))
    )


def fit_from(model, weights, x, y=None, **kwargs):
    """Loss of one epoch from `weights`, and the weights after it."""
    model.set_weights(weights)
    history = model.fit(x, y, epochs=1, verbose=0, **kwargs)
    return history.history["loss"][0], model.get_weights()


def assert_same_training(got, want):
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    for a, b in zip(got[1], want[1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_fit_and_evaluate_read_pairs_in_every_form_alike(tokenizer):
    """Every form of pairs, with class names or indices, trains as the
    encoded pairs and their class indices do (a batched dataset in its own
    batches), and evaluates to the same loss."""
    model = teacher_model("rte", tokenizer)
    start = model.get_weights()
    names = ["entailment", "not_entailment", "entailment", "not_entailment"]
    indices = np.array([0, 1, 0, 1])
    x = encoded((PREMISES, HYPOTHESES), tokenizer)
    want = fit_from(model, start, x, indices, batch_size=2, shuffle=False)
    assert want[0] > 0
    pairs = list(zip(PREMISES, HYPOTHESES))
    forms = {
        "tuple_of_lists": ((PREMISES, HYPOTHESES), names),
        "list_of_pairs": (pairs, list(indices)),
        "array_of_pairs": (np.array(pairs), np.array(names)),
        "tuple_of_arrays": ((np.array(PREMISES), np.array(HYPOTHESES)), indices),
    }
    for form, (raw_x, raw_y) in forms.items():
        got = fit_from(model, start, raw_x, raw_y, batch_size=2, shuffle=False)
        assert_same_training(got, want)
        loss = model.evaluate(raw_x, raw_y, verbose=0)
        np.testing.assert_allclose(
            loss, model.evaluate(x, indices, verbose=0), rtol=1e-6, err_msg=form
        )
    batched = tf.data.Dataset.from_tensor_slices(((PREMISES, HYPOTHESES), names))
    assert_same_training(fit_from(model, start, batched.batch(2)), want)
    unbatched = tf.data.Dataset.from_tensor_slices(((PREMISES, HYPOTHESES), indices))
    assert_same_training(fit_from(model, start, unbatched, batch_size=2), want)
    np.testing.assert_allclose(  # BAM's loss sums each batch: batch 3, 1.
        model.evaluate(batched.batch(3), verbose=0),
        model.evaluate(x, indices, batch_size=3, verbose=0),
        rtol=1e-6,
    )


def test_fit_and_evaluate_read_single_texts_in_every_form_alike(tokenizer):
    """Single texts as a list, an array or a dataset; SST-2's labels by class
    name, by its files' "0" and "1", or by index."""
    model = teacher_model("sst2", tokenizer)
    start = model.get_weights()
    indices = np.array([1, 0, 1, 0])
    x = encoded((SENTENCES,), tokenizer)
    want = fit_from(model, start, x, indices, batch_size=4, shuffle=False)
    names = ["positive", "negative", "positive", "negative"]
    for raw_x, raw_y in (
        (SENTENCES, names),
        (np.array(SENTENCES), ["1", "0", "1", "0"]),
        (tuple(SENTENCES), tf.constant(indices)),
    ):
        assert_same_training(
            fit_from(model, start, raw_x, raw_y, batch_size=4, shuffle=False), want
        )
    dataset = tf.data.Dataset.from_tensor_slices((SENTENCES, names))
    assert_same_training(fit_from(model, start, dataset.batch(4)), want)
    np.testing.assert_allclose(
        model.evaluate(dataset, verbose=0),
        model.evaluate(x, indices, verbose=0),
        rtol=1e-6,
    )


def test_a_regression_task_trains_on_its_scaled_raw_scores(tokenizer):
    """STS-B's raw scores (0 to 5) are trained as score / 5, as a teacher is:
    the loss is the encoded path's, and the squared error of the scaled scores."""
    model = teacher_model("stsb", tokenizer)
    scores = np.array([4.5, 0.0, 5.0, 1.2], np.float32)
    x = encoded((PREMISES, HYPOTHESES), tokenizer)
    targets = model.task.training_targets(scores)[:, None]
    loss = model.evaluate((PREMISES, HYPOTHESES), scores, batch_size=4, verbose=0)
    np.testing.assert_allclose(
        loss, model.evaluate(x, targets, batch_size=4, verbose=0), rtol=1e-6
    )
    outputs = model.predict(x, verbose=0)
    np.testing.assert_allclose(loss, np.sum((outputs - targets) ** 2), rtol=1e-5)
    start = model.get_weights()
    want = fit_from(model, start, x, targets, batch_size=4)
    assert_same_training(
        fit_from(model, start, (PREMISES, HYPOTHESES), list(scores), batch_size=4),
        want,
    )


def test_validation_data_takes_raw_texts(tokenizer):
    model = teacher_model("rte", tokenizer)
    labels = ["entailment", "not_entailment", "entailment", "not_entailment"]
    pairs = (PREMISES, HYPOTHESES)
    dataset = tf.data.Dataset.from_tensor_slices((pairs, labels)).batch(4)
    for validation in ((pairs[::-1], labels[::-1]), dataset):
        history = model.fit(
            pairs, labels, batch_size=4, validation_data=validation, verbose=0
        )
        np.testing.assert_allclose(
            history.history["val_loss"][0],
            model.evaluate(validation, verbose=0)
            if not isinstance(validation, tuple)
            else model.evaluate(*validation, verbose=0),
            rtol=1e-5,
        )


def student(tokenizer, distillation):
    model = keras_bam.MultiTaskModel(
        backbone(),
        ["rte", "stsb"],
        dropout=0.0,
        distillation=distillation,
        teacher_weight=0.5,
        tokenizer=tokenizer,
        max_length=MAX_LENGTH,
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    return model


def test_a_student_trains_on_raw_texts_and_a_dict_of_labels(tokenizer):
    """A student's `y`: each example's task (names or indices) and label (a
    class name or a raw score) and its teachers' outputs; the targets are
    those of the encoded path (`task_id`, `label`, `teacher`)."""
    model = student(tokenizer, "fixed")
    teacher = np.array([[1.0, -1.0], [0.3, 0.0], [-0.5, 2.0], [0.8, 0.0]], np.float32)
    y = {
        "task": ["rte", "stsb", 0, "stsb"],
        "label": ["entailment", 3.5, "not_entailment", 0.5],
        "teacher": teacher,
    }
    x = encoded((PREMISES, HYPOTHESES), tokenizer)
    targets = {
        TASK_ID: np.array([0, 1, 0, 1], np.int32),
        LABEL: np.array([0.0, 0.7, 1.0, 0.1], np.float32),
        TEACHER: teacher,
    }
    start = model.get_weights()
    want = fit_from(model, start, x, targets, batch_size=4)
    assert_same_training(
        fit_from(model, start, list(zip(PREMISES, HYPOTHESES)), y, batch_size=4), want
    )
    np.testing.assert_allclose(
        model.evaluate(
            (PREMISES, HYPOTHESES), {"task": y["task"], "label": y["label"]}, verbose=0
        ),
        model.evaluate(x, targets, verbose=0),
        rtol=1e-6,
    )
    with pytest.raises(ValueError, match="distillation='fixed' learns from its"):
        model.fit((PREMISES, HYPOTHESES), {"task": "rte", "label": [0, 1, 0, 1]})


def test_a_gold_student_trains_without_teachers(tokenizer):
    model = student(tokenizer, "gold")
    y = {"task": "rte", "label": [0, 1, 1, 0]}
    history = model.fit((PREMISES, HYPOTHESES), y, batch_size=4, verbose=0)
    assert np.isfinite(history.history["rte_loss"][0])
    assert history.history["stsb_loss"][0] == 0


@pytest.mark.parametrize(
    "x, y, message",
    [
        (
            [["A man sleeps.", "Nobody sleeps."], ["It rains.", "It is wet."]],
            ["entailment", "entailment"],
            "Two items",
        ),
        (["A man sleeps.", ("It rains.", "Wet.")], [0, 1], "Mixed or malformed"),
        ((PREMISES, HYPOTHESES[:3]), [0, 1, 0, 1], "4 first texts but 3 second"),
        ((PREMISES, HYPOTHESES), [0, 1, 0], "4 texts .or pairs. but 3 labels"),
        ((PREMISES, HYPOTHESES), ["yes", 0, 1, 7], "unknown label 'yes'"),
        (PREMISES, [0, 1, 0, 1], "Task 'rte' has text pairs, but the texts are"),
        ((PREMISES, HYPOTHESES), None, "Raw texts need their labels"),
        ((PREMISES, HYPOTHESES), {"label": [0, 1, 0, 1]}, "not a dict"),
        (
            tf.data.Dataset.from_tensor_slices((PREMISES, HYPOTHESES)),
            [0, 1, 0, 1],
            "A dataset yields its labels",
        ),
        (tf.data.Dataset.from_tensor_slices(PREMISES), None, "texts alone"),
    ],
)
def test_malformed_texts_or_labels_are_refused(tokenizer, x, y, message):
    """Before anything trains: never a silent transposition or a guess."""
    model = teacher_model("rte", tokenizer)
    for method in (model.fit, model.evaluate):
        with pytest.raises(ValueError, match=message):
            method(x, y, verbose=0)


@pytest.mark.parametrize(
    "y, message",
    [
        ([0, 1, 0, 1], "A student's labels on raw texts are a dict"),
        ({"task": "rte"}, "A student's labels on raw texts are a dict"),
        ({"task": ["rte", "qnli", 2, 0], "label": [0] * 4}, r"Unknown tasks.*'qnli'"),
        ({"task": "stsb", "label": [1, 2, 3, 9]}, "score 9 is outside"),
        (
            {"task": "rte", "label": [0] * 4, "teacher": np.zeros((4, 3))},
            r"one row of 2 teacher outputs.*\(4, 3\)",
        ),
    ],
)
def test_a_student_refuses_malformed_labels(tokenizer, y, message):
    model = student(tokenizer, "fixed")
    with pytest.raises(ValueError, match=message):
        model.fit((PREMISES, HYPOTHESES), y, verbose=0)


def test_raw_texts_need_a_tokenizer():
    model = keras_bam.SingleTaskModel(backbone(), "sst2")
    for method in (model.fit, model.evaluate):
        with pytest.raises(ValueError, match="Raw strings need a tokenizer"):
            method(SENTENCES, [0, 1, 0, 1])
