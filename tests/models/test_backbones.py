"""The offline MiniLM against Hugging Face's reference activations."""

import os

import keras
import keras_hub
import numpy as np
import pytest

import keras_bam
from tests.conftest import make_tiny_backbone

REFERENCE = os.path.join(
    os.path.dirname(os.path.dirname(__file__)), "fixtures", "minilm_reference.npz"
)


@pytest.fixture(scope="module")
def reference():
    with np.load(REFERENCE) as data:
        return {k: data[k] for k in data.files}


def max_differences(backbone, reference):
    inputs = {k: reference[k] for k in ("token_ids", "segment_ids", "padding_mask")}
    out = backbone.predict(inputs, verbose=0)
    mask = reference["padding_mask"].astype(bool)
    sequence = np.abs(
        out["sequence_output"][mask] - reference["sequence_output"][mask]
    ).max()
    pooled = np.abs(out["pooled_output"] - reference["pooled_output"]).max()
    return sequence, pooled


@pytest.mark.integration
def test_exact_gelu_reproduces_hugging_face(reference):
    backbone = keras_bam.load_backbone()  # exact_gelu=True by default.
    assert backbone.count_params() == 22_713_216
    sequence, pooled = max_differences(backbone, reference)
    assert sequence < 2e-5 and pooled < 2e-5
    approximate = keras_bam.models.set_exact_gelu(backbone, exact=False)
    sequence, _ = max_differences(approximate, reference)
    assert sequence > 1e-3  # KerasHub's tanh GELU is measurably off this checkpoint.


@pytest.mark.integration
def test_class_token_pooled_output_reproduces_hugging_face(reference):
    backbone = keras_bam.load_backbone()
    encoder = keras.Model(backbone.input, keras_bam.models.pooled_output(backbone))
    inputs = {k: reference[k] for k in ("token_ids", "segment_ids", "padding_mask")}
    pooled = encoder.predict(inputs, verbose=0)
    assert np.abs(pooled - reference["pooled_output"]).max() < 2e-5


def test_pooled_output_skips_the_last_layer_off_cls():
    backbone = make_tiny_backbone()
    inputs = {
        "token_ids": np.array([[2, 5, 6, 3, 0, 0], [2, 7, 3, 0, 0, 0]], "int32"),
        "segment_ids": np.array([[0, 0, 0, 0, 0, 0], [0, 1, 1, 0, 0, 0]], "int32"),
        "padding_mask": np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0]], "int32"),
    }
    encoder = keras.Model(backbone.input, keras_bam.models.pooled_output(backbone))
    np.testing.assert_allclose(
        np.asarray(encoder(inputs)),
        np.asarray(backbone(inputs)["pooled_output"]),
        atol=1e-6,
    )
    names = [layer.name for layer in encoder.layers]
    last = backbone.transformer_layers[-1].name
    assert last not in names and f"{last}_class_token" in names
    # The encoder trains the backbone's own weights.
    assert {id(w) for w in encoder.trainable_weights} == {
        id(w) for w in backbone.trainable_weights
    }


@pytest.mark.integration
def test_our_encoding_matches_the_reference_tokens(reference, tokenizer):
    examples = keras_bam.data.TaskExamples(
        "rte",
        "dev",
        (list(reference["first"]), list(reference["second"])),
        np.zeros(3, np.int64),
        ["0", "1", "2"],
        "reference",
    )
    encoded = keras_bam.data.encode_examples(examples, tokenizer, 128)
    batch = encoded.pad_batch([0, 1, 2], reference["token_ids"].shape[1])
    for key in ("token_ids", "segment_ids", "padding_mask"):
        np.testing.assert_array_equal(batch[key], reference[key])


def test_resolve_preset():
    from keras_bam.models.backbones import resolve_preset

    assert os.path.isdir(resolve_preset(None))
    assert resolve_preset("bert_base_en_uncased") == "bert_base_en_uncased"
    assert resolve_preset("hf://google-bert/bert-base-uncased").startswith("hf://")


def feedforward_activations(backbone) -> set:
    return {
        layer._feedforward_intermediate_dense.activation
        for layer in backbone._flatten_layers()
        if isinstance(layer, keras_hub.layers.TransformerEncoder)
    }


@pytest.mark.parametrize("exact", [True, False])
def test_a_task_models_backbone_saved_alone_keeps_its_gelu_and_dropout(
    tmp_path, rng, exact
):
    """KerasHub's BertBackbone config has no activation: a backbone a task model
    switched to exact GELU would reload (or clone) with tanh GELU."""
    backbone = keras_bam.SingleTaskModel(
        make_tiny_backbone(), "rte", exact_gelu=exact
    ).backbone
    assert isinstance(backbone, keras_bam.models.BamBertBackbone)
    gelu = keras_bam.models.bam_bert_backbone.exact_gelu if exact else None
    gelu = gelu or keras_bam.models.bam_bert_backbone.approximate_gelu
    path = tmp_path / "backbone.keras"
    backbone.save(path)
    reloaded = keras.saving.load_model(path)
    clone = keras.models.clone_model(backbone)
    clone.set_weights(backbone.get_weights())
    inputs = {
        "token_ids": rng.integers(1, 30522, (2, 7)).astype("int32"),
        "segment_ids": np.zeros((2, 7), "int32"),
        "padding_mask": np.ones((2, 7), "int32"),
    }
    want = backbone.predict(inputs, verbose=0)["sequence_output"]
    # clone_model gives a Functional of cloned layers, as for any KerasHub backbone.
    assert type(reloaded) is keras_bam.models.BamBertBackbone
    dropouts = [
        layer
        for layer in reloaded._flatten_layers()
        if isinstance(layer, keras.layers.Dropout)
    ]
    assert dropouts and all(
        type(layer) is keras_bam.models.BitGeneratorDropout for layer in dropouts
    )
    for copy in (reloaded, clone):
        assert feedforward_activations(copy) == {gelu}
        got = copy.predict(inputs, verbose=0)["sequence_output"]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
