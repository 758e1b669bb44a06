"""Encoder families: what keras-bam needs from each KerasHub backbone, one
registered class per family."""

from unittest import mock

import keras_hub
import pytest

import keras_bam
from keras_bam.data.encoding import pair_separators
from keras_bam.models.backbone_families import BACKBONE_FAMILIES
from keras_bam.models.backbone_families import BackboneFamily
from keras_bam.models.backbone_families import BertFamily
from keras_bam.models.backbone_families import get_backbone_family
from keras_bam.models.backbone_families import layerwise_decay_names
from keras_bam.models.backbone_families import register_backbone_family
from keras_bam.models.packed_encoder import check_packable
from tests.models.test_encoders import FAMILIES
from tests.models.test_encoders import SIZES
from tests.models.test_encoders import make


def test_the_families_and_their_layer_names():
    assert list(BACKBONE_FAMILIES) == [
        "bert",
        "roberta",
        "xlm_roberta",
        "distil_bert",
        "electra",
        "deberta_v3",
        "albert",
    ]
    # Layer-wise decay knows every family's layer names, each once.
    assert layerwise_decay_names() == (
        ("transformer_layer_", "disentangled_attention_encoder_layer_"),
        (
            "token_embedding/",
            "position_embedding/",
            "segment_embedding/",
            "embeddings_layer_norm/",
            "embeddings_projection/",
            "rel_embedding/",
        ),
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_each_keras_hub_encoder_has_its_family(family):
    backbone, tokenizer = make(family)
    found = get_backbone_family(backbone)
    assert found.name == family
    roberta = family in ("roberta", "xlm_roberta")
    assert pair_separators(tokenizer) == (2 if roberta else 1)
    assert not found.packable
    with pytest.raises(ValueError, match="Packed batches need a KerasHub BertBackbone"):
        check_packable(backbone)


def test_bert_and_its_subclasses_are_the_bert_family(tiny_backbone):
    assert get_backbone_family(tiny_backbone).name == "bert"
    assert get_backbone_family(tiny_backbone).packable
    # XLM-RoBERTa's tokenizer is no RobertaTokenizer, yet lays pairs out as it.
    xlmr = mock.Mock(spec=keras_hub.models.XLMRobertaTokenizer)
    assert pair_separators(xlmr) == 2
    assert pair_separators(mock.Mock(spec=object)) == 1


def test_an_unsupported_backbone_names_the_families():
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=50, max_sequence_length=16, **SIZES
    )
    with pytest.raises(ValueError, match="BertBackbone, RobertaBackbone.*GPT2Backbone"):
        get_backbone_family(backbone)


def test_a_new_family_is_one_class(tiny_backbone):
    class MyBertBackbone(keras_hub.models.BertBackbone):
        pass

    keras_hub.models.MyBertBackbone = MyBertBackbone

    @register_backbone_family
    class MyBert(BertFamily):
        name = "my_bert"
        backbone_class = "MyBertBackbone"
        packable = False

    try:
        backbone = MyBertBackbone(vocabulary_size=50, max_sequence_length=16, **SIZES)
        # The most derived class decides: a BertBackbone, yet of its own family.
        assert get_backbone_family(backbone) is BACKBONE_FAMILIES["my_bert"]
        assert get_backbone_family(tiny_backbone).name == "bert"
        with pytest.raises(ValueError, match="Packed batches"):
            check_packable(backbone)
        model = keras_bam.SingleTaskModel(backbone, "rte")
        assert model.output_shape == (None, 2)
    finally:
        del BACKBONE_FAMILIES["my_bert"]
        del keras_hub.models.MyBertBackbone
    with pytest.raises(ValueError, match="needs a `name` and a `backbone_class`"):
        register_backbone_family(type("Nameless", (BackboneFamily,), {}))
