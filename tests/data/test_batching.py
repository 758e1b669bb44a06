import numpy as np
import pytest

import keras_bam


@pytest.fixture(scope="module")
def encoded(glue_dir, tokenizer):
    train = keras_bam.data.read_glue_tsv("mrpc", "train", glue_dir)
    return keras_bam.data.encode_examples(train.select(np.arange(1000)), tokenizer, 128)


def test_every_example_once_per_epoch_and_bounded_shapes(encoded):
    batches = keras_bam.data.BucketedBatches(
        encoded, np.arange(len(encoded)), batch_size=32, shuffle=True, seed=3
    )
    seen = []
    for _ in range(3):
        batches.on_epoch_begin()
        order = []
        for i in range(len(batches)):
            inputs, targets = batches[i]
            length = inputs["token_ids"].shape[1]
            assert length in batches.buckets
            assert (inputs["padding_mask"].sum(1) == encoded.row_lengths[targets]).all()
            order.extend(targets.tolist())
        assert sorted(order) == list(range(len(encoded)))
        seen.append(order)
    assert seen[0] != seen[1]  # Reshuffled each epoch.
    sizes = [len(batches.batch_indices(i)) for i in range(len(batches))]
    assert sum(s != 32 for s in sizes) <= 1
    assert len(batches.shapes) <= 2 * len(batches.buckets)


def test_plan_is_deterministic_and_resumable(encoded):
    a = keras_bam.data.BucketedBatches(encoded, batch_size=16, shuffle=True, seed=7)
    b = keras_bam.data.BucketedBatches(encoded, batch_size=16, shuffle=True, seed=7)
    for _ in range(3):  # Keras begins epochs 0, 1 and 2.
        a.on_epoch_begin()
    b.set_epoch(2)
    np.testing.assert_array_equal(a.example_order, b.example_order)
    c = keras_bam.data.BucketedBatches(encoded, batch_size=16, shuffle=True, seed=8)
    assert not np.array_equal(
        c.example_order,
        keras_bam.data.BucketedBatches(
            encoded, batch_size=16, shuffle=True, seed=7
        ).example_order,
    )


def test_padding_fraction_and_savings(encoded):
    bucketed = keras_bam.data.BucketedBatches(encoded, batch_size=32)
    fixed = keras_bam.data.BucketedBatches(encoded, batch_size=32, buckets=(128,))
    real = encoded.row_lengths.sum()
    padded = sum(
        len(bucketed.batch_indices(i)) * bucketed[i][0]["token_ids"].shape[1]
        for i in range(len(bucketed))
    )
    assert bucketed.padding_fraction == pytest.approx(1 - real / padded)
    assert fixed.padding_fraction == pytest.approx(1 - real / (len(encoded) * 128))
    assert bucketed.padding_fraction < fixed.padding_fraction - 0.2


def test_restore_order(encoded):
    batches = keras_bam.data.BucketedBatches(encoded, batch_size=50)
    outputs = np.concatenate([batches.batch_indices(i) for i in range(len(batches))])
    np.testing.assert_array_equal(
        batches.restore_order(outputs), np.arange(len(encoded))
    )


def test_tf_dataset_matches_and_reshuffles(encoded):
    pytest.importorskip("tensorflow")
    labels = np.arange(len(encoded))
    batches = keras_bam.data.BucketedBatches(
        encoded, labels, batch_size=64, shuffle=True, seed=1
    )
    reference = keras_bam.data.BucketedBatches(
        encoded, labels, batch_size=64, shuffle=True, seed=1
    )
    dataset = batches.to_tf_dataset()
    assert int(dataset.cardinality()) == len(batches)
    # Autotuning's background work stalled whole epochs on 2 cores.
    assert dataset.options().autotune.enabled is False
    for _ in range(2):
        got = [(x["token_ids"].numpy(), y.numpy()) for x, y in dataset]
        want = [reference[i] for i in range(len(reference))]
        for (gx, gy), (wx, wy) in zip(got, want):
            np.testing.assert_array_equal(gx, wx["token_ids"])
            np.testing.assert_array_equal(gy, wy)
        reference.set_epoch(reference.epoch + 1)


def test_bad_arguments(encoded):
    with pytest.raises(ValueError, match="more than the largest bucket 64"):
        keras_bam.data.BucketedBatches(encoded, buckets=(32, 64))
    with pytest.raises(ValueError, match="increase strictly"):
        keras_bam.data.BucketedBatches(encoded, buckets=(64, 32, 128))
    with pytest.raises(ValueError, match="batch_size must be positive"):
        keras_bam.data.BucketedBatches(encoded, batch_size=0)


class RecordingBatches(keras_bam.data.BucketedBatches):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fetched = []

    def __getitem__(self, index):
        self.fetched.append(self.epoch)
        return super().__getitem__(index)


@pytest.mark.parametrize("keras_shuffle", [False, True])
def test_fit_epoch_k_uses_plan_k(encoded, keras_shuffle):
    """On every backend `fit`'s k-th epoch trains on the plan of epoch k (JAX's
    trainer calls `on_epoch_end` once before training, which must not count)."""
    import keras

    labels = np.arange(len(encoded)) % 2
    batches = RecordingBatches(encoded, labels, batch_size=64, shuffle=True, seed=1)
    inputs = keras.Input((None,), dtype="int32", name="token_ids")
    segments = keras.Input((None,), dtype="int32", name="segment_ids")
    mask = keras.Input((None,), dtype="int32", name="padding_mask")
    pooled = keras.layers.GlobalAveragePooling1D()(
        keras.layers.Embedding(30522, 4)(inputs)
    )
    model = keras.Model(
        {"token_ids": inputs, "segment_ids": segments, "padding_mask": mask},
        keras.layers.Dense(2)(pooled),
    )
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    batches.set_epoch(1)  # As a resumed run does.
    model.fit(
        keras_bam.backend.as_fit_input(batches),
        epochs=3,
        initial_epoch=1,
        shuffle=keras_shuffle,  # The stream shuffles anyway, by seed and epoch.
        verbose=0,
    )
    n = len(batches)
    assert batches.fetched[-2 * n :] == [1] * n + [2] * n
    assert batches.epoch == 2


def test_default_buckets_follow_the_backend(encoded):
    import keras

    assert keras_bam.data.default_buckets(128) == (16, 32, 64, 128)
    assert keras_bam.data.default_buckets(40, step=8) == (8, 16, 24, 32, 40)
    assert keras_bam.data.default_buckets(36, step=8) == (8, 16, 24, 32, 36)
    with pytest.raises(ValueError, match="step must be positive"):
        keras_bam.data.default_buckets(40, step=0)
    batches = keras_bam.data.BucketedBatches(encoded, batch_size=8)
    if keras.backend.backend() == "tensorflow":
        # One traced step takes every length: a bucket per length.
        assert batches.buckets == keras_bam.data.default_buckets(encoded.max_length, 1)
        for step in (8, None):
            coarse = keras_bam.data.BucketedBatches(
                encoded,
                batch_size=8,
                buckets=keras_bam.data.default_buckets(encoded.max_length, step),
            )
            assert batches.padding_fraction < coarse.padding_fraction
    else:  # Each shape compiles: as few as powers of two, placed on the data.
        powers = keras_bam.data.default_buckets(encoded.max_length)
        used = len(set(np.searchsorted(powers, encoded.row_lengths)))
        assert batches.buckets == keras_bam.data.fitted_buckets(
            encoded.row_lengths, used, encoded.max_length
        )
        coarse = keras_bam.data.BucketedBatches(encoded, batch_size=8, buckets=powers)
        assert batches.padding_fraction <= coarse.padding_fraction


def _padded_tokens(lengths, buckets):
    return sum(buckets[np.searchsorted(buckets, n)] for n in lengths)


@pytest.mark.parametrize("seed", range(6))
def test_fitted_buckets_waste_the_least_padding(seed):
    """Against every choice of at most `count` boundaries, by brute force."""
    import itertools

    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 60, rng.integers(1, 40))
    count = int(rng.integers(1, 4))
    fitted = keras_bam.data.fitted_buckets(lengths, count, max_length=60)
    assert len(fitted) <= count and fitted[-1] >= lengths.max()
    assert list(fitted) == sorted(set(fitted))
    top = min(-(-int(lengths.max()) // 8) * 8, 60)
    candidates = sorted({*range(8, top, 8), top})
    best = min(
        _padded_tokens(lengths, list(inner) + [top])
        for size in range(count)
        for inner in itertools.combinations(candidates[:-1], size)
    )
    assert _padded_tokens(lengths, list(fitted)) == best


def test_fitted_buckets_edges():
    assert keras_bam.data.fitted_buckets([30, 41, 45, 60, 98], 2, 128) == (48, 104)
    assert keras_bam.data.fitted_buckets([], 4, 128) == (128,)
    assert keras_bam.data.fitted_buckets([5, 5], 4, 128) == (8,)
    with pytest.raises(ValueError, match="above 64"):
        keras_bam.data.fitted_buckets([65], 2, 64)


def test_random_batches_are_a_shuffled_order_cut_in_batches(encoded):
    """BAM's batches: each epoch a new permutation of all examples cut into
    consecutive batches, each padded to a length that holds its longest example."""
    batches = keras_bam.data.RandomBatches(
        encoded, np.arange(len(encoded)), batch_size=32, seed=3
    )
    orders = []
    for epoch in range(2):
        batches.on_epoch_begin()
        want = np.random.default_rng([3, epoch]).permutation(len(encoded))
        np.testing.assert_array_equal(batches.example_order, want)
        for i in range(len(batches)):
            inputs, targets = batches[i]
            np.testing.assert_array_equal(targets, want[32 * i : 32 * (i + 1)])
            length = inputs["token_ids"].shape[1]
            assert length in batches.buckets
            assert length >= encoded.row_lengths[targets].max()
            smaller = [b for b in batches.buckets if b < length]
            assert not smaller or smaller[-1] < encoded.row_lengths[targets].max()
        orders.append(batches.example_order)
    assert len(batches) == -(-len(encoded) // 32)
    assert not np.array_equal(orders[0], orders[1])
    resumed = keras_bam.data.RandomBatches(
        encoded, np.arange(len(encoded)), batch_size=32, seed=3
    )
    resumed.set_epoch(1)
    np.testing.assert_array_equal(resumed.example_order, orders[1])
    # Unlike length grouping, the batch lengths vary little: random batches of
    # 32 pairs nearly all hold a long one.
    grouped = keras_bam.data.BucketedBatches(
        encoded, batch_size=32, shuffle=True, seed=3
    )
    assert grouped.padding_fraction < batches.padding_fraction


def test_random_batch_lengths_are_few_where_shapes_compile(encoded, monkeypatch):
    """On a backend that compiles a program per shape (JAX), random batches use
    `RANDOM_BATCH_LENGTHS` padded lengths fitted to the batches' longest examples."""
    from keras_bam.data import batching

    monkeypatch.setattr(batching, "bucket_step", lambda: None)
    batches = keras_bam.data.RandomBatches(encoded, batch_size=32, seed=0)
    assert len(batches.buckets) <= batching.RANDOM_BATCH_LENGTHS
    assert batches.buckets[-1] >= encoded.row_lengths.max()
    lengths = {length for _, length in batches._plan}
    assert lengths <= set(batches.buckets)
    for epoch in range(1, 4):  # Later epochs fit in the same lengths.
        batches.set_epoch(epoch)
        assert {length for _, length in batches._plan} <= set(batches.buckets)
    assert len({(len(i), n) for i, n in batches._plan}) <= 2 * len(batches.buckets)
