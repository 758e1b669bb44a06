"""What "a distributed student matches one device" means, for the data-parallel
tests on one process and on several."""

import numpy as np
import pytest


def assert_student_matches(one: dict, two: dict):
    """`two`'s student (steps, dev outputs, weights) against `one`'s."""
    assert len(two["student_steps"]) == len(one["student_steps"]) > 4
    for step, (a, b) in enumerate(zip(one["student_steps"], two["student_steps"])):
        assert a.keys() == b.keys()
        # λ advances once per global step, as on one device.
        assert b["gold_weight"] == pytest.approx(a["gold_weight"], abs=1e-6)
        # The first steps agree to float32 rounding. Later ones drift a little:
        # without bias correction, Adam's first updates of a weight whose
        # gradient is below epsilon are ~100x that gradient, so rounding
        # differences of the sums over devices grow (measured: 2e-5 in the
        # weights after 2 steps at lr 1e-3).
        rel = 1e-5 if step < 2 else 1e-3
        for key in a:
            assert b[key] == pytest.approx(a[key], rel=rel, abs=rel / 10), key
    for task in ("rte", "stsb"):
        np.testing.assert_allclose(
            two["student_dev"][task], one["student_dev"][task], atol=1e-3
        )
    assert len(two["student_weights"]) == len(one["student_weights"])
    for w_two, w_one in zip(two["student_weights"], one["student_weights"]):
        np.testing.assert_allclose(w_two, w_one, rtol=1e-2, atol=1e-3)
