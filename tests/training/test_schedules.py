import keras
import numpy as np
import pytest

import keras_bam


def bam_learning_rate(step, peak, total, warmup):
    """BAM's `create_optimizer`: polynomial decay over all steps, linear warm-up."""
    decayed = peak * (1 - min(step, total) / total)
    if warmup and step < warmup:
        return peak * step / warmup
    return decayed


@pytest.mark.parametrize("total, warmup", [(1000, 100), (37, 3), (10, 0)])
def test_matches_bam(total, warmup):
    schedule = keras_bam.training.WarmupLinearDecay(5e-5, total, warmup)
    for step in [
        0,
        1,
        warmup - 1,
        warmup,
        warmup + 1,
        total // 2,
        total - 1,
        total,
        total + 5,
    ]:
        if step < 0:
            continue
        got = float(keras.ops.convert_to_numpy(schedule(step)))
        assert got == pytest.approx(
            bam_learning_rate(step, 5e-5, total, warmup), rel=1e-6
        )


def test_decay_from_warmup_is_hugging_face_linear():
    schedule = keras_bam.training.WarmupLinearDecay(
        1.0, 100, 10, decay_from_warmup=True
    )
    values = [
        float(keras.ops.convert_to_numpy(schedule(s))) for s in (0, 5, 10, 55, 100)
    ]
    np.testing.assert_allclose(values, [0.0, 0.5, 1.0, 0.5, 0.0], atol=1e-7)


def test_config_round_trip_and_validation():
    schedule = keras_bam.training.WarmupLinearDecay(
        1e-4, 500, 50, decay_from_warmup=True
    )
    clone = keras_bam.training.WarmupLinearDecay.from_config(schedule.get_config())
    assert clone.get_config() == schedule.get_config()
    with pytest.raises(ValueError, match="total_steps must be positive"):
        keras_bam.training.WarmupLinearDecay(1e-4, 0)
    with pytest.raises(ValueError, match="warmup_steps must be in"):
        keras_bam.training.WarmupLinearDecay(1e-4, 10, 11)
