import numpy as np
import pytest

import keras_bam
from keras_bam.data.packing import fitted_row_counts
from keras_bam.data.packing import pack_rows
from tests.conftest import encoded_train_sample


@pytest.fixture(scope="module")
def encoded(glue_dir, tokenizer):
    # MRPC pairs and CoLA sentences together: long and short examples.
    return encoded_train_sample(glue_dir, tokenizer, ["mrpc", "cola"], 300)


@pytest.mark.parametrize("slots", [None, 3])
def test_pack_rows_places_every_example_once_within_a_row(slots):
    lengths = np.random.default_rng(0).integers(3, 129, size=200)
    rows = pack_rows(lengths, 128, slots)
    assert sorted(p for row in rows for p in row) == list(range(200))
    assert all(lengths[row].sum() <= 128 for row in rows)
    if slots:
        assert max(len(row) for row in rows) <= slots


def test_pack_rows_is_first_fit_decreasing():
    assert pack_rows([60, 30, 70, 50], 128) == [[2, 3], [0, 1]]
    assert pack_rows([10, 10, 10], 128, slots=2) == [[0, 1], [2]]
    with pytest.raises(ValueError, match="above the row length 128"):
        pack_rows([129], 128)


def test_pack_batch_holds_each_example_as_pad_batch_does(encoded):
    indices = np.array([5, 400, 17, 599, 3])
    rows = [
        [int(i) for i in indices[row]]
        for row in pack_rows(encoded.row_lengths[indices], 128, 4)
    ]
    inputs, slot_examples = encoded.pack_batch(rows, num_rows=len(rows) + 1, slots=4)
    assert inputs["token_ids"].shape == (len(rows) + 1, 128)
    assert inputs["class_positions"].shape == (len(rows) + 1, 4)
    assert sorted(slot_examples[slot_examples >= 0]) == sorted(indices)
    assert (inputs["padding_mask"][-1] == 0).all()  # The padding row.
    for slot, i in enumerate(slot_examples):
        if i < 0:
            continue
        r, s = divmod(slot, 4)
        start = inputs["class_positions"][r, s]
        n = encoded.row_lengths[i]
        alone = encoded.pad_batch([i])
        for key in ("token_ids", "segment_ids", "padding_mask"):
            np.testing.assert_array_equal(
                inputs[key][r, start : start + n], alone[key][0], err_msg=key
            )
        np.testing.assert_array_equal(
            inputs["position_ids"][r, start : start + n], np.arange(n)
        )
    # Nothing but the examples' tokens is marked real.
    assert inputs["padding_mask"].sum() == encoded.row_lengths[indices].sum()


def _targets(n):
    return {
        "task_id": np.arange(n) % 2,
        "label": np.arange(n, dtype=np.float32),
        "teacher": np.stack([np.arange(n), -np.arange(n)], 1).astype(np.float32),
    }


def test_packing_keeps_the_samplers_batches_and_marks_empty_slots(encoded):
    targets = _targets(len(encoded))
    padded = keras_bam.data.RandomBatches(encoded, targets, batch_size=32, seed=4)
    packed = keras_bam.data.RandomBatches(
        encoded, targets, batch_size=32, seed=4, packing=True
    )
    for _ in range(2):
        padded.on_epoch_begin()
        packed.on_epoch_begin()
        assert len(packed) == len(padded)
        for b in range(len(packed)):
            inputs, y = packed[b]
            slots = packed.slot_examples(b)
            filled = slots >= 0
            # The same examples share the batch; packing only places them.
            assert sorted(slots[filled]) == sorted(padded.batch_indices(b))
            np.testing.assert_array_equal(y["label"][filled], slots[filled])
            np.testing.assert_array_equal(y["teacher"][filled, 0], slots[filled])
            np.testing.assert_array_equal(y["task_id"][filled], slots[filled] % 2)
            assert (y["task_id"][~filled] == -1).all()
            assert len(y["label"]) == inputs["class_positions"].size


def test_packing_weights_out_empty_slots_of_plain_targets(encoded):
    labels = np.arange(len(encoded))
    packed = keras_bam.data.RandomBatches(encoded, labels, batch_size=32, packing=True)
    _, y, weights = packed[0]
    filled = packed.slot_examples(0) >= 0
    np.testing.assert_array_equal(weights, filled.astype(np.float32))
    given = keras_bam.data.RandomBatches(
        encoded, labels, np.full(len(encoded), 2.0), batch_size=32, packing=True
    )
    np.testing.assert_array_equal(given[0][2], 2.0 * filled)


def test_packed_batches_take_few_shapes_and_little_padding(encoded):
    padded = keras_bam.data.RandomBatches(encoded, batch_size=32, seed=1, buckets=[128])
    packed = keras_bam.data.RandomBatches(encoded, batch_size=32, seed=1, packing=True)
    assert len(packed.rows) <= 2 and packed.slots % 4 == 0
    shapes = set()
    for _ in range(3):
        packed.on_epoch_begin()
        shapes.update(packed.shapes)
    # One compiled program per row count (JAX); later epochs' batches fit them.
    assert len(shapes) <= 2, shapes
    assert packed.padding_fraction < 0.2 < padded.padding_fraction
    real = encoded.row_lengths.sum()
    assert packed.padded_tokens == pytest.approx(real / (1 - packed.padding_fraction))


def test_row_counts_are_multiples_of_the_replicas(encoded):
    packed = keras_bam.data.RandomBatches(
        encoded,
        batch_size=32,
        packing=keras_bam.data.Packing(row_multiple=4),
    )
    assert all(rows % 4 == 0 for rows, _ in packed.shapes)
    assert fitted_row_counts([3, 5, 9], count=2, multiple=2) == (6, 10)


def test_packed_predictions_restore_example_order(encoded):
    packed = keras_bam.data.RandomBatches(
        encoded, batch_size=50, shuffle=False, packing=True
    )
    outputs = np.concatenate([packed.slot_examples(i) for i in range(len(packed))])
    np.testing.assert_array_equal(
        packed.restore_order(outputs), np.arange(len(encoded))
    )
    restored = packed.restore_order({"a": outputs, "b": outputs * 2})
    np.testing.assert_array_equal(restored["b"], 2 * np.arange(len(encoded)))


def test_packed_plan_resumes(encoded):
    a = keras_bam.data.RandomBatches(encoded, batch_size=16, seed=7, packing=True)
    b = keras_bam.data.RandomBatches(encoded, batch_size=16, seed=7, packing=True)
    for _ in range(3):
        a.on_epoch_begin()
    b.set_epoch(2)
    for i in (0, 5, len(a) - 1):
        for key, value in a[i][0].items():
            np.testing.assert_array_equal(value, b[i][0][key])
    rest = keras_bam.data.RemainingBatches(a, start=5)
    assert rest.packing is a.packing and rest.row_multiple == a.row_multiple


def test_packing_arguments_are_checked(encoded):
    with pytest.raises(ValueError, match="rows must increase"):
        keras_bam.data.Packing(rows=(4, 2))
    with pytest.raises(ValueError, match="slots must be positive"):
        keras_bam.data.Packing(slots=0)
    with pytest.raises(TypeError, match="packing must be a bool or a Packing"):
        keras_bam.data.RandomBatches(encoded, packing="yes")
    with pytest.raises(ValueError, match="over 2"):
        encoded.pack_batch([[0, 1, 2]], num_rows=1, slots=2)
    with pytest.raises(ValueError, match="do not fit in 1"):
        encoded.pack_batch([[0], [1]], num_rows=1, slots=2)


def test_given_rows_and_slots_are_used(encoded):
    packed = keras_bam.data.RandomBatches(
        encoded, batch_size=32, packing=keras_bam.data.Packing(rows=(16,), slots=8)
    )
    assert packed.rows == (16,) and packed.slots == 8
    (inputs,) = packed[0]
    assert inputs["class_positions"].shape == (16, 8)
