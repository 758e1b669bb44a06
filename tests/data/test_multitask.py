import keras
import numpy as np
import pytest

import keras_bam
from keras_bam.data import GlueDataError
from tests.conftest import make_tiny_backbone


@pytest.fixture(scope="module")
def parts(glue_dir, tokenizer):
    """RTE (40 examples) and STS-B (30, plus swapped copies) with teachers."""
    rng = np.random.default_rng(0)
    result = []
    rte = keras_bam.data.read_glue_tsv("rte", "train", glue_dir).select(np.arange(40))
    stsb = keras_bam.data.read_glue_tsv("stsb", "train", glue_dir).select(np.arange(30))
    for examples in (rte, stsb, stsb.swapped()):
        width = examples.task.num_outputs
        teacher = keras_bam.data.TeacherPredictions.from_outputs(
            examples, rng.normal(size=(len(examples), width))
        )
        encoded = keras_bam.data.encode_examples(examples, tokenizer, 128)
        result.append(keras_bam.data.TaskPart(examples, encoded, [teacher]))
    return result


def epoch_targets(batches):
    rows = [batches[i][1] for i in range(len(batches))]
    return {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}


def test_targets_and_multiples(parts):
    batches = keras_bam.data.multitask_batches(
        parts, ["rte", "stsb"], batch_size=16, multiples={"rte": 3}
    )
    targets = epoch_targets(batches)
    # RTE three times, STS-B in both orders once.
    assert np.bincount(targets["task_id"]).tolist() == [120, 60]
    rte, stsb = parts[0], parts[1]
    multi = keras_bam.data.multitask_targets(parts, ["rte", "stsb"])
    assert multi["teacher"].shape == (100, 2)
    np.testing.assert_array_equal(multi["label"][:40], rte.examples.labels)
    np.testing.assert_allclose(multi["label"][40:70], stsb.examples.labels / 5.0)
    np.testing.assert_allclose(
        multi["teacher"][40:70, 0], stsb.teachers[0].outputs[:, 0]
    )
    assert np.all(multi["teacher"][40:, 1] == 0.0)
    assert len(
        {b[0]["token_ids"].shape[1] for b in (batches[i] for i in range(len(batches)))}
    ) <= len(batches.buckets)


def test_mixed_batches_mix_tasks_and_per_task_batches_do_not(parts):
    mixed = keras_bam.data.multitask_batches(parts, ["rte", "stsb"], batch_size=8)
    assert any(len(set(mixed[i][1]["task_id"])) > 1 for i in range(len(mixed)))
    per_task = keras_bam.data.multitask_batches(
        parts, ["rte", "stsb"], batch_size=8, mixing="per_task", seed=3
    )
    assert all(len(set(per_task[i][1]["task_id"])) == 1 for i in range(len(per_task)))
    order = [int(per_task[i][1]["task_id"][0]) for i in range(len(per_task))]
    assert order != sorted(order)  # Tasks interleave.
    assert np.bincount(epoch_targets(per_task)["task_id"]).tolist() == [40, 60]
    assert 0.0 <= per_task.padding_fraction < 1.0


def test_uninformative_and_no_teacher(parts):
    control = keras_bam.data.multitask_targets(parts, ["rte", "stsb"], "uninformative")
    assert np.all(control["teacher"][:40] == 0.0)  # Uniform after softmax.
    mean = np.mean(np.concatenate([parts[1].examples.labels, parts[2].examples.labels]))
    np.testing.assert_allclose(control["teacher"][40:, 0], mean / 5.0, rtol=1e-6)
    none = keras_bam.data.multitask_targets(parts, ["rte", "stsb"], "none")
    assert np.all(none["teacher"] == 0.0)


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_several_teachers_average_their_probabilities(parts, temperature):
    """MT-DNN's multi-teacher distillation: the target is the mean of the
    teachers' distributions (at the distillation temperature), not the
    distribution of their mean logits."""
    rte = parts[0]
    first = rte.teachers[0].outputs
    other_outputs = np.tile([[3.0, -2.0]], (40, 1))
    other = keras_bam.data.TeacherPredictions.from_outputs(rte.examples, other_outputs)
    part = keras_bam.data.TaskPart(rte.examples, rte.encoded, [rte.teachers[0], other])
    targets = keras_bam.data.multitask_targets([part], ["rte"], temperature=temperature)
    combined = softmax(targets["teacher"] / temperature)
    want = (softmax(first / temperature) + softmax(other_outputs / temperature)) / 2
    np.testing.assert_allclose(combined, want, rtol=1e-5, atol=1e-7)
    # Not the same as averaging logits (the option kept for comparison).
    logits = keras_bam.data.multitask_targets([part], ["rte"], combination="logits")
    np.testing.assert_allclose(
        logits["teacher"], (first + other_outputs) / 2, rtol=1e-6
    )
    assert np.abs(softmax(logits["teacher"]) - want).max() > 1e-2
    # One teacher is used as it is; regression scores are averaged either way.
    single = keras_bam.data.multitask_targets([parts[0]], ["rte"])
    np.testing.assert_array_equal(single["teacher"], first.astype(np.float32))
    stsb = parts[1]
    doubled = keras_bam.data.TaskPart(
        stsb.examples, stsb.encoded, [stsb.teachers[0], stsb.teachers[0]]
    )
    assert keras_bam.data.combine_teachers(
        "stsb", [stsb.teachers[0].outputs, stsb.teachers[0].outputs + 1.0]
    ) == pytest.approx(stsb.teachers[0].outputs + 0.5, rel=1e-6)
    assert keras_bam.data.multitask_targets([doubled], ["stsb"])["teacher"][:, 0] == (
        pytest.approx(stsb.teachers[0].outputs[:, 0], rel=1e-6)
    )
    with pytest.raises(ValueError, match="Unknown teacher combination 'median'"):
        keras_bam.data.combine_teachers("rte", [first, first], "median")


def test_refuses_teachers_for_other_data(parts, tmp_path):
    rte = parts[0]
    shifted = keras_bam.data.TeacherPredictions(
        "rte", "train", rte.teachers[0].outputs, np.roll(rte.examples.fingerprints(), 1)
    )
    path = shifted.save(tmp_path / "rte_train_teacher.npz")
    with pytest.raises(
        GlueDataError, match="rte_train_teacher.npz: field 'fingerprints'"
    ):
        keras_bam.data.TaskPart(
            rte.examples,
            rte.encoded,
            [keras_bam.data.TeacherPredictions.load(path)],
            [path],
        )
    with pytest.raises(ValueError, match="No teacher predictions for RTE"):
        keras_bam.data.multitask_targets(
            [keras_bam.data.TaskPart(rte.examples, rte.encoded)], ["rte"]
        )
    with pytest.raises(ValueError, match="not one of the model's tasks"):
        keras_bam.data.multitask_targets(parts, ["rte"])
    with pytest.raises(ValueError, match="Unknown mixing"):
        keras_bam.data.multitask_batches(parts, ["rte", "stsb"], mixing="round_robin")


def test_student_trains_on_the_stream(parts):
    """MultiTaskModel.fit on the stream (tf.data on TensorFlow), annealed."""
    batches = keras_bam.data.multitask_batches(parts, ["rte", "stsb"], batch_size=16)
    model = keras_bam.MultiTaskModel(make_tiny_backbone(), ["rte", "stsb"])
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(
        keras_bam.backend.as_fit_input(batches),
        epochs=2,
        shuffle=False,
        verbose=0,
        callbacks=[keras_bam.TeacherAnnealing()],
    )
    steps = 2 * len(batches)
    assert float(keras.ops.convert_to_numpy(model.annealing.step)) == steps
    assert history.history["gold_weight"][-1] == pytest.approx((steps - 1) / steps)
    assert np.all(np.isfinite(history.history["loss"]))
