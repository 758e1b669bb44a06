"""`distribution_scope`'s settings."""

import pytest

import keras_bam


def test_distribution_scope_none_and_unknown():
    with keras_bam.backend.distribution_scope("none") as scope:
        assert scope is None
    with pytest.raises(ValueError, match="Unknown distribution 'tpu'"):
        with keras_bam.backend.distribution_scope("tpu"):
            pass
    with pytest.raises(ValueError, match="distribution must be one of"):
        keras_bam.FineTuningRecipe(distribution="mirrored")
