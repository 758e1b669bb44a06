"""How much mixed batches mix tasks: BAM's random batches against a shuffle."""

import numpy as np
import pytest

import keras_bam

TASKS = ("rte", "mrpc", "stsb", "cola")


@pytest.fixture(scope="module")
def parts(glue_dir, tokenizer):
    """A seeded random sample of each task (tasks whose lengths differ a lot:
    CoLA's sentences are short, RTE's and MRPC's pairs long)."""
    result = []
    for task in TASKS:
        examples = keras_bam.data.read_glue_tsv(task, "train", glue_dir)
        picked = np.random.default_rng(0).choice(len(examples), 300, replace=False)
        examples = examples.select(np.sort(picked))
        encoded = keras_bam.data.encode_examples(examples, tokenizer, 128)
        result.append(keras_bam.data.TaskPart(examples, encoded))
    return result


def majority_shares(task_ids_per_batch) -> np.ndarray:
    return np.array(
        [np.bincount(ids).max() / len(ids) for ids in task_ids_per_batch if len(ids)]
    )


def stream_shares(batches) -> np.ndarray:
    return majority_shares([batches[i][1]["task_id"] for i in range(len(batches))])


def shuffled_shares(task_ids: np.ndarray, batch_size: int, seeds=20) -> np.ndarray:
    """What shuffling all examples together gives (BAM's input pipeline)."""
    shares = []
    for seed in range(seeds):
        order = np.random.default_rng(seed).permutation(task_ids)
        full = len(order) // batch_size * batch_size
        shares.append(majority_shares(order[:full].reshape(-1, batch_size)))
    return np.concatenate(shares)


def test_mixed_batches_mix_tasks_as_a_random_shuffle_does(parts):
    multiples = {"rte": 4, "mrpc": 3, "stsb": 2, "cola": 3}
    batch_size = 32
    stream = keras_bam.data.multitask_batches(
        parts, TASKS, batch_size, multiples, teachers="none", seed=1
    )
    ids = np.concatenate([stream[i][1]["task_id"] for i in range(len(stream))])
    assert np.bincount(ids).tolist() == [1200, 900, 600, 900]
    reference = shuffled_shares(ids, batch_size)
    ours = stream_shares(stream)[:-1]  # The last batch is partial.
    # The mean majority share is a random shuffle's, within sampling error.
    error = reference.std() / np.sqrt(len(ours))
    assert abs(ours.mean() - reference.mean()) < 4 * error, (ours.mean(), reference)
    single = np.mean(ours == 1.0)
    assert single <= np.mean(reference == 1.0) + 0.02

    # The test tells: length-grouped batches (one bucket per length) mix far less.
    grouped = keras_bam.data.multitask_batches(
        parts,
        TASKS,
        batch_size,
        multiples,
        teachers="none",
        seed=1,
        batching="length_grouped",
        buckets=tuple(range(1, 129)),
    )
    grouped_shares = stream_shares(grouped)
    assert grouped_shares.mean() > reference.mean() + 10 * error
