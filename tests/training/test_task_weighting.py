import numpy as np
import pytest

import keras_bam


def bam_reference(dataset_sizes, exponent=0.75):
    """BAM's `_multiples_and_weights`, transcribed (bam/data/task_weighting.py)."""

    def normalize(d):
        total = float(sum(d.values()))
        return {k: v / total for k, v in d.items()}

    dataset_weights = normalize({k: s**exponent for k, s in dataset_sizes.items()})
    correction = dataset_sizes["mnli"] / dataset_weights["mnli"]
    dataset_tgts = {k: v * correction for k, v in dataset_weights.items()}
    multiples = {
        k: round((t + 0.01) / dataset_sizes[k]) for k, t in dataset_tgts.items()
    }
    new_sizes = {k: dataset_sizes[k] * m for k, m in multiples.items()}
    weights = normalize({k: dataset_weights[k] / new_sizes[k] for k in new_sizes})
    return multiples, {k: v * len(dataset_sizes) for k, v in weights.items()}


def test_matches_bam_on_glue():
    multiples, weights = keras_bam.training.bam_multiples_and_weights(
        keras_bam.training.BAM_GLUE_TRAIN_SIZES
    )
    want_multiples, want_weights = bam_reference(
        keras_bam.training.BAM_GLUE_TRAIN_SIZES
    )
    assert multiples == want_multiples
    assert weights == pytest.approx(want_weights, rel=1e-12)
    assert multiples["mnli"] == 1 and multiples["rte"] > 1


@pytest.mark.parametrize("exponent", [0.5, 0.75, 1.0])
def test_effective_share_is_size_to_the_exponent(exponent):
    sizes = {"a": 50000, "b": 3000, "c": 700}
    multiples, weights = keras_bam.training.bam_multiples_and_weights(sizes, exponent)
    effective = {t: multiples[t] * sizes[t] * weights[t] for t in sizes}
    ratio = {t: effective[t] / sizes[t] ** exponent for t in sizes}
    assert max(ratio.values()) == pytest.approx(min(ratio.values()), rel=1e-12)
    assert np.mean(list(weights.values())) == pytest.approx(1.0)


def test_hand_computed_two_tasks():
    multiples, weights = keras_bam.training.bam_multiples_and_weights(
        {"big": 10000, "small": 100}
    )
    # Shares 1000 : 31.62; the small task's target count is 316.2, so 3 copies;
    # weights (1000/10000) : (31.62/300), normalized to average 1.
    assert multiples == {"big": 1, "small": 3}
    small = (100**0.75 / 300) / (1000 / 10000)
    assert weights["big"] == pytest.approx(2 / (1 + small))
    assert weights["small"] == pytest.approx(2 * small / (1 + small))


def test_sampling_probabilities():
    sizes = {"a": 900, "b": 100}
    assert keras_bam.training.sampling_probabilities(sizes) == pytest.approx(
        {"a": 0.9, "b": 0.1}
    )
    assert keras_bam.training.sampling_probabilities(sizes, "uniform") == {
        "a": 0.5,
        "b": 0.5,
    }
    assert keras_bam.training.sampling_probabilities(
        sizes, "temperature", 2.0
    ) == pytest.approx({"a": 0.75, "b": 0.25})
    bam = keras_bam.training.sampling_probabilities(sizes, "bam")
    assert bam["a"] / bam["b"] == pytest.approx(9**0.75)
    with pytest.raises(ValueError, match="Unknown sampling scheme 'zipf'"):
        keras_bam.training.sampling_probabilities(sizes, "zipf")
    with pytest.raises(ValueError, match="sizes must be positive"):
        keras_bam.training.bam_multiples_and_weights({"a": 0})


@pytest.mark.parametrize(
    "weighting, exponent",
    [
        ("bam", 0.75),
        ("bam_trained", 0.75),
        ("uniform", 0.0),
        ("temperature", 0.5),
        ("proportional", 1.0),
    ],
)
def test_every_scheme_realizes_its_shares(weighting, exponent):
    """Examples per epoch (size × multiple) times loss weight give each task the
    scheme's share: size^exponent, normalized — what sampling_probabilities says."""
    sizes = {"rte": 2490, "mrpc": 7336, "stsb": 11498, "cola": 8551}
    multiples, weights = keras_bam.training.task_multiples_and_weights(
        sizes, weighting, temperature=2.0
    )
    effective = {t: sizes[t] * multiples[t] * weights[t] for t in sizes}
    total = sum(effective.values())
    scheme = {
        "bam": "bam",
        "bam_trained": "bam",
        "uniform": "uniform",
        "temperature": "temperature",
    }
    expected = keras_bam.training.sampling_probabilities(
        sizes, scheme.get(weighting, "proportional"), temperature=2.0
    )
    assert {t: v / total for t, v in effective.items()} == pytest.approx(
        expected, rel=1e-9
    )
    if weighting == "uniform":
        assert multiples == {"rte": 5, "mrpc": 2, "stsb": 1, "cola": 1}
    with pytest.raises(ValueError, match="Unknown weighting"):
        keras_bam.training.task_multiples_and_weights(sizes, "sqrt")


BAM_GLUE_EIGHT = ("cola", "mnli", "mrpc", "qnli", "qqp", "sst2", "stsb", "rte")


@pytest.mark.parametrize(
    "tasks",
    [
        ("rte", "mrpc", "stsb", "cola"),
        BAM_GLUE_EIGHT,
        ("rte", "mrpc"),
        ("sst2", "qnli"),
    ],
)
def test_default_is_bams_table_whichever_tasks_are_trained(tasks):
    """BAM computes multiples and weights once from its eight-task table (MNLI the
    reference) and keeps them for a subset: RTE 4, MRPC 3, STS-B 2, CoLA 3."""
    want_multiples, want_weights = bam_reference(
        keras_bam.training.BAM_GLUE_TRAIN_SIZES
    )
    # The sizes of the run (a sample, here) do not change BAM's values.
    sizes = {t: 400 for t in tasks}
    multiples, weights = keras_bam.training.task_multiples_and_weights(sizes, "bam")
    assert multiples == {t: want_multiples[t] for t in tasks}
    assert weights == pytest.approx({t: want_weights[t] for t in tasks}, rel=1e-12)
    if tasks == ("rte", "mrpc", "stsb", "cola"):
        assert multiples == {"rte": 4, "mrpc": 3, "stsb": 2, "cola": 3}
        full = {t: keras_bam.training.BAM_GLUE_TRAIN_SIZES[t] for t in tasks}
        examples = sum(full[t] * multiples[t] for t in tasks)
        assert -(-examples // 128) == 630  # Steps per epoch at batch 128.


def test_subset_relative_multiples_are_an_option():
    sizes = {
        t: keras_bam.training.BAM_GLUE_TRAIN_SIZES[t] for t in ("rte", "mrpc", "stsb")
    }
    sizes["cola"] = keras_bam.training.BAM_GLUE_TRAIN_SIZES["cola"]
    multiples, weights = keras_bam.training.task_multiples_and_weights(
        sizes, "bam_trained"
    )
    assert multiples == {"rte": 1, "mrpc": 1, "stsb": 1, "cola": 1}
    assert (multiples, weights) == keras_bam.training.bam_multiples_and_weights(sizes)


def test_a_task_outside_bams_table_joins_its_scale():
    """The stated rule: a task outside the eight gets the multiple and weight BAM's
    formula gives it beside the eight (its actual size, MNLI the reference), and
    the eight keep exactly BAM's values."""
    want_multiples, want_weights = bam_reference(
        keras_bam.training.BAM_GLUE_TRAIN_SIZES
    )
    multiples, weights = keras_bam.training.task_multiples_and_weights(
        {"rte": 2490, "wnli": 635}, "bam"
    )
    assert multiples["rte"] == want_multiples["rte"]
    assert weights["rte"] == pytest.approx(want_weights["rte"], rel=1e-12)
    table = keras_bam.training.BAM_GLUE_TRAIN_SIZES
    total = sum(s**0.75 for s in table.values())
    share = 635**0.75 / total
    target = share * table["mnli"] / (table["mnli"] ** 0.75 / total)
    assert multiples["wnli"] == round((target + 0.01) / 635) == 5
    # Weight relative to RTE as BAM's formula has it: share / (size * multiple).
    rte_share = 2490**0.75 / total
    assert weights["wnli"] / weights["rte"] == pytest.approx(
        (share / (635 * 5)) / (rte_share / (2490 * 4)), rel=1e-12
    )


def test_one_task_trains_as_bams_single_task_runs():
    assert keras_bam.training.task_multiples_and_weights({"rte": 2490}, "bam") == (
        {"rte": 1},
        {"rte": 1.0},
    )


def test_own_tasks_alone_get_bams_formula_over_their_sizes():
    """With none of BAM's eight GLUE tasks, `"bam"` is BAM's formula over the
    trained tasks' own sizes (the largest at multiple 1); beside a GLUE task
    of the eight, yours are placed on BAM's table and it keeps BAM's values."""
    sizes = {"intent": 400, "closeness": 3000}
    multiples, weights = keras_bam.training.task_multiples_and_weights(sizes, "bam")
    want = keras_bam.training.bam_multiples_and_weights(sizes, 0.75)
    assert (multiples, weights) == want and multiples == {"intent": 2, "closeness": 1}
    mixed, _ = keras_bam.training.task_multiples_and_weights(
        {**sizes, "rte": 2490}, "bam"
    )
    assert mixed["rte"] == 4
