import keras
import numpy as np
import pytest

import keras_bam
from tests.conftest import make_tiny_backbone


def test_recipe_checks_the_precision():
    with pytest.raises(ValueError, match="precision must be one of"):
        keras_bam.FineTuningRecipe(precision="float16")


def test_with_precision_keeps_the_weights():
    backbone = make_tiny_backbone()
    assert keras_bam.models.with_precision(backbone, "float32") is backbone
    mixed = keras_bam.models.with_precision(backbone, "mixed_bfloat16")
    assert mixed.dtype_policy.name == "mixed_bfloat16"
    assert mixed.compute_dtype == "bfloat16" and mixed.variable_dtype == "float32"
    for a, b in zip(backbone.get_weights(), mixed.get_weights()):
        np.testing.assert_array_equal(a, b)


def student(glue_dir, tokenizer, precision):
    recipe = keras_bam.FineTuningRecipe(
        epochs=2, batch_size=16, learning_rate=1e-3, precision=precision
    )
    return keras_bam.train_student(
        ["rte", "stsb"],
        data_dir=glue_dir,
        backbone=make_tiny_backbone(),
        tokenizer=tokenizer,
        recipe=recipe,
        teachers="uninformative",
        weighting="proportional",  # Each example once: fewer steps.
        train_limit=32,
        eval_limit=24,
        verbose=0,
    )


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_student(glue_dir, tokenizer, precision):
    """The backbone computes in half precision, the heads, λ and the losses in
    float32; the losses are finite and the outputs close to the same weights
    run in float32."""
    run = student(glue_dir, tokenizer, precision)
    model = run.model
    assert model.backbone.compute_dtype == precision.removeprefix("mixed_")
    assert all(w.dtype == "float32" for w in model.weights)
    assert np.isfinite(run.history["loss"]).all()
    assert run.history["gold_weight"][-1] > 0.5
    is_scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert is_scaled == (precision == "mixed_float16")

    full = keras_bam.MultiTaskModel(
        keras_bam.models.with_precision(model.backbone, "float32"), ["rte", "stsb"]
    )
    full.set_weights(model.get_weights())
    loader = keras_bam.data.SplitLoader(tokenizer, 128, data_dir=glue_dir)
    for task in ("rte", "stsb"):
        _, dev = loader.load(task, "dev", 24)
        half = keras_bam.evaluation.predict_outputs(model, dev)[task]
        assert half.dtype == np.float32
        reference = keras_bam.evaluation.predict_outputs(full, dev)[task]
        # bfloat16 keeps 8 bits of mantissa: about 2-3 significant digits.
        np.testing.assert_allclose(half, reference, atol=0.05, rtol=0.05)
