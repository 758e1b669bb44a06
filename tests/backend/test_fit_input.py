"""Batch streams as `fit` and `predict` take them: padding, process shares, epochs."""

import keras
import numpy as np
import pytest

import keras_bam


class Batches(keras.utils.PyDataset):
    """Three batches of 3, 4 and 1 rows, in the form the library's streams give."""

    def __init__(self, targets="multitask"):
        super().__init__()
        self.sizes = [3, 4, 1]
        self.targets = targets
        self.epochs = 0

    def __len__(self):
        return len(self.sizes)

    def on_epoch_begin(self):
        self.epochs += 1

    def __getitem__(self, index):
        n = self.sizes[index]
        rows = np.arange(n) + 10 * index
        inputs = {"token_ids": np.stack([rows, rows + 1], axis=1).astype("int32")}
        if self.targets == "none":
            return (inputs,)
        if self.targets == "multitask":
            return inputs, {
                "task_id": np.full(n, 1, "int32"),
                "label": rows.astype("float32"),
            }
        return inputs, rows.astype("int32")


def test_padded_multitask_rows_have_task_id_minus_one():
    padded = keras_bam.backend.ReplicaPaddedBatches(Batches(), multiple=2)
    inputs, targets = padded[0]
    assert inputs["token_ids"].shape == (4, 2)
    np.testing.assert_array_equal(inputs["token_ids"][3], inputs["token_ids"][0])
    np.testing.assert_array_equal(targets["task_id"], [1, 1, 1, -1])
    np.testing.assert_array_equal(targets["label"], [0, 1, 2, 0])
    inputs, targets = padded[1]  # Already a multiple: unchanged.
    assert inputs["token_ids"].shape == (4, 2)
    np.testing.assert_array_equal(targets["task_id"], [1, 1, 1, 1])


def test_padded_rows_get_zero_sample_weight():
    inputs, labels, weights = keras_bam.backend.ReplicaPaddedBatches(
        Batches("labels"), multiple=4
    )[2]
    assert inputs["token_ids"].shape == (4, 2)
    np.testing.assert_array_equal(labels, [20, 20, 20, 20])
    np.testing.assert_array_equal(weights, [1, 0, 0, 0])


def test_strip_drops_the_padding_outputs():
    padded = keras_bam.backend.ReplicaPaddedBatches(Batches("none"), multiple=2)
    outputs = np.concatenate([padded[i][0]["token_ids"][:, 0] for i in range(3)])
    assert len(outputs) == 4 + 4 + 2
    np.testing.assert_array_equal(padded.strip(outputs), [0, 1, 2, 10, 11, 12, 13, 20])
    stripped = padded.strip({"rte": outputs[:, None]})
    np.testing.assert_array_equal(stripped["rte"][:, 0], [0, 1, 2, 10, 11, 12, 13, 20])


def test_padding_passes_epochs_on():
    stream = Batches()
    keras_bam.backend.ReplicaPaddedBatches(stream, multiple=2).on_epoch_begin()
    assert stream.epochs == 1


class StreamEpochs(keras.callbacks.Callback):
    """The stream's epoch at the end of each of `fit`'s epochs."""

    def __init__(self, batches):
        super().__init__()
        self.batches = batches
        self.epochs = []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(self.batches.epoch)


@pytest.mark.parametrize("batch_size", [8, 3])  # One batch per epoch, and three.
def test_fit_epochs_follow_the_stream_epochs(glue_dir, tokenizer, batch_size):
    train = keras_bam.data.read_glue_tsv("rte", "train", glue_dir)
    encoded = keras_bam.data.encode_examples(train.select(np.arange(8)), tokenizer, 32)
    batches = keras_bam.data.RandomBatches(
        encoded, np.arange(8) % 2, batch_size=batch_size, seed=1
    )
    inputs = {
        name: keras.Input((None,), dtype=values.dtype, name=name)
        for name, values in batches[0][0].items()
    }
    embedded = keras.layers.Embedding(tokenizer.vocabulary_size(), 4)(
        inputs["token_ids"]
    )
    hidden = keras.layers.GlobalAveragePooling1D()(embedded)
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    recorder = StreamEpochs(batches)
    fit_input = keras_bam.backend.as_fit_input(batches)
    model.fit(fit_input, epochs=3, shuffle=False, verbose=0, callbacks=[recorder])
    # Keras's build fetch before the first epoch is not a pass of its own.
    assert recorder.epochs == [0, 1, 2]


def test_packed_streams_must_split_evenly_over_the_replicas(glue_dir, tokenizer):
    train = keras_bam.data.read_glue_tsv("rte", "train", glue_dir)
    encoded = keras_bam.data.encode_examples(train.select(np.arange(16)), tokenizer, 64)
    odd = keras_bam.data.RandomBatches(encoded, batch_size=8, packing=True)
    even = keras_bam.data.RandomBatches(
        encoded, batch_size=8, packing=keras_bam.data.Packing(row_multiple=2)
    )
    odd[0], even[0]  # Fits the packing (its row counts) to the plan.
    assert odd.row_multiple == 1 and even.row_multiple == 2
    with pytest.raises(ValueError, match=r"multiples of 1 cannot be split over 2"):
        keras_bam.backend.ReplicaPaddedBatches(odd, multiple=2)
    padded = keras_bam.backend.ReplicaPaddedBatches(even, multiple=2)
    assert padded[0][0]["token_ids"].shape[0] % 2 == 0


def test_processes_share_each_padded_batch_in_contiguous_blocks():
    from keras_bam.backend.fit_input import ProcessShardedBatches

    padded = keras_bam.backend.ReplicaPaddedBatches(Batches(), 4)
    shares = [ProcessShardedBatches(Batches(), 4, i, 2) for i in range(2)]
    for index in range(3):
        whole = padded[index]
        parts = [share[index] for share in shares]
        for key in ("token_ids",):
            np.testing.assert_array_equal(
                np.concatenate([p[0][key] for p in parts]), whole[0][key]
            )
        for key in ("task_id", "label"):
            np.testing.assert_array_equal(
                np.concatenate([p[1][key] for p in parts]), whole[1][key]
            )
        assert len(parts[0][1]["label"]) == len(parts[1][1]["label"]) > 0
    # `predict`'s gathered outputs are the padded batches: one strip drops padding.
    outputs = np.concatenate([padded[i][0]["token_ids"][:, 0] for i in range(3)])
    np.testing.assert_array_equal(
        shares[0].strip(outputs), [0, 1, 2, 10, 11, 12, 13, 20]
    )
    with pytest.raises(ValueError, match="split evenly over 3 processes"):
        ProcessShardedBatches(Batches(), 4, 0, 3)
