"""What keras-bam needs from each KerasHub encoder family, in one place per family.

A task model needs five things from its backbone: the pooled `[CLS]` output
(with the last layer computed for `[CLS]` only where the family allows it), the
GELU form its checkpoints were trained with, how a pair of texts is laid out
(`[CLS] a [SEP] b [SEP]`, or RoBERTa's `<s> a </s></s> b </s>`), whether
packed batches can run through it, and its layer names for layer-wise
learning-rate decay. A `BackboneFamily` says all five for one KerasHub
backbone class (and its subclasses); supporting another encoder is one
registered class.
"""

from __future__ import annotations

import keras
import keras_hub

from keras_bam.data.encoding import register_pair_separators
from keras_bam.models.bam_bert_backbone import has_bert_gelu
from keras_bam.models.bam_bert_backbone import set_bert_gelu
from keras_bam.models.layers import ClassTokenEncoder
from keras_bam.models.layers import FirstToken
from keras_bam.utils.keras_private import symbolic_calls

BACKBONE_FAMILIES = {}


def register_backbone_family(family_class):
    """Registers a `BackboneFamily` subclass under its `name` (a decorator).

    Example:
    ```python
    @keras_bam.models.register_backbone_family
    class Bort(keras_bam.models.BertFamily):
        name = "my_bert"
        backbone_class = "MyBertBackbone"  # a subclass of BertBackbone
        packable = False
    ```
    """
    if not family_class.name or not family_class.backbone_class:
        raise ValueError(
            f"{family_class.__name__} needs a `name` and a `backbone_class`."
        )
    BACKBONE_FAMILIES[family_class.name] = family_class()
    if family_class.tokenizer_class:
        register_pair_separators(
            family_class.tokenizer_class, family_class.pair_separators
        )
    return family_class


def _most_specific(families, instance, attribute):
    """The family whose KerasHub class (`attribute`) comes first in the MRO of
    `instance`'s type, or `None`."""
    order = {cls: i for i, cls in enumerate(instance.__class__.__mro__)}
    found = [
        (order[cls], family)
        for family in families
        if (cls := getattr(keras_hub.models, getattr(family, attribute) or "", None))
        in order
    ]
    return min(found, key=lambda pair: pair[0])[1] if found else None


def find_backbone_family(backbone) -> BackboneFamily | None:
    """The registered family of `backbone` (the one of its most derived
    KerasHub class), or `None`."""
    return _most_specific(BACKBONE_FAMILIES.values(), backbone, "backbone_class")


def get_backbone_family(backbone) -> BackboneFamily:
    """The registered family of `backbone`.

    Raises:
        ValueError: naming the backbone's class and the families keras-bam runs.

    Example:
    ```python
    keras_bam.models.get_backbone_family(keras_bam.load_backbone()).name
    # "bert"
    ```
    """
    family = find_backbone_family(backbone)
    if family is None:
        names = ", ".join(f.backbone_class for f in BACKBONE_FAMILIES.values())
        raise ValueError(
            f"keras-bam runs the KerasHub text encoders {names} (and their "
            f"subclasses); got a {type(backbone).__name__}."
        )
    return family


def layerwise_decay_names() -> tuple:
    """`(encoder_layer_prefixes, embedding_layers)` of every registered family,
    each once, in registration order."""
    families = BACKBONE_FAMILIES.values()
    prefixes = dict.fromkeys(f.encoder_layer_prefix for f in families)
    embeddings = dict.fromkeys(n for f in families for n in f.embedding_layers)
    return tuple(prefixes), tuple(embeddings)


class BackboneFamily:
    """Base of the encoder families: the defaults hold for most KerasHub
    encoders.

    A subclass sets `name` and `backbone_class` (the KerasHub class name;
    subclasses of it belong to the family unless a family of theirs is
    registered) and overrides what differs.

    Attributes:
        name: how the family is called.
        backbone_class: the KerasHub backbone class name.
        tokenizer_class: the KerasHub tokenizer class name.
        pair_separators: end tokens between a pair's two texts.
        packable: whether packed batches run through it (`packed_encoder`).
        encoder_layer_prefix: the name of its encoder layers, before their
            index (`transformer_layer_0`, ...), for layer-wise decay.
        embedding_layers: the variable-path parts of its embedding layers
            (depth 0 for layer-wise decay).
        shared_layers: whether its layers share one set of weights (ALBERT),
            which leaves layer-wise decay nothing to decay by.
    """

    name: str = ""
    backbone_class: str = ""
    tokenizer_class: str = ""
    pair_separators: int = 1
    packable: bool = False
    encoder_layer_prefix: str = "transformer_layer_"
    embedding_layers: tuple = (
        "token_embedding/",
        "position_embedding/",
        "segment_embedding/",
        "embeddings_layer_norm/",
    )
    shared_layers: bool = False

    def set_gelu(self, backbone, exact: bool):
        """The backbone with its feed-forward GELU set (`exact` or tanh form);
        by default it runs the GELU KerasHub gives it, unchanged."""
        return backbone

    def has_gelu(self, backbone, exact: bool) -> bool:
        """Whether `set_gelu(backbone, exact)` would leave `backbone` as it is."""
        return True

    def pooled_output(self, backbone):
        """The backbone's symbolic pooled output over `backbone.input`: its
        `pooled_output`, or, for a family without a pooler, the first token's
        final state through a new dense tanh layer (`pooled_dense`), as BERT's
        pooler (and KerasHub's classifiers for them) do."""
        outputs = backbone(backbone.input)
        if isinstance(outputs, dict) and "pooled_output" in outputs:
            return outputs["pooled_output"]
        sequence = outputs["sequence_output"] if isinstance(outputs, dict) else outputs
        first = FirstToken(name="first_token")(sequence)
        return keras.layers.Dense(
            backbone.hidden_dim, activation="tanh", name="pooled_dense"
        )(first)


@register_backbone_family
class BertFamily(BackboneFamily):
    """BERT (MiniLM, keras-bam's default): exact GELU, packed batches, and the
    last layer computed for `[CLS]` only."""

    name = "bert"
    backbone_class = "BertBackbone"
    tokenizer_class = "BertTokenizer"
    packable = True

    def set_gelu(self, backbone, exact):
        return set_bert_gelu(backbone, exact)

    def has_gelu(self, backbone, exact):
        return has_bert_gelu(backbone, exact)

    def pooled_output(self, backbone):
        # The backbone's own graph up to the last layer's input, then that
        # layer for `[CLS]` only (`ClassTokenEncoder`) and the pooler: the same
        # pooled output (up to float rounding) without the last layer's work
        # on every other position. Only for KerasHub's own last layer, called
        # once (else the general path).
        last = backbone.transformer_layers[-1] if backbone.transformer_layers else None
        if not (
            type(last) is keras_hub.layers.TransformerEncoder
            and symbolic_calls(last) == 1
        ):
            return super().pooled_output(backbone)
        hidden, padding_mask = last.input
        first = ClassTokenEncoder(last, name=f"{last.name}_class_token")(
            hidden, padding_mask=padding_mask
        )
        return backbone.pooled_dense(first)


@register_backbone_family
class RobertaFamily(BackboneFamily):
    """RoBERTa: `<s> a </s></s> b </s>` pairs, no segments, no pooler."""

    name = "roberta"
    backbone_class = "RobertaBackbone"
    tokenizer_class = "RobertaTokenizer"
    pair_separators = 2


@register_backbone_family
class XLMRobertaFamily(RobertaFamily):
    """XLM-RoBERTa: RoBERTa's layout, with a SentencePiece tokenizer (not a
    `RobertaTokenizer`, so it needs its own family for the pair layout)."""

    name = "xlm_roberta"
    backbone_class = "XLMRobertaBackbone"
    tokenizer_class = "XLMRobertaTokenizer"


@register_backbone_family
class DistilBertFamily(BackboneFamily):
    """DistilBERT: no segments, no pooler."""

    name = "distil_bert"
    backbone_class = "DistilBertBackbone"
    tokenizer_class = "DistilBertTokenizer"


@register_backbone_family
class ElectraFamily(BackboneFamily):
    """ELECTRA: BERT's layer names, with its embeddings projected (so not
    packable)."""

    name = "electra"
    backbone_class = "ElectraBackbone"
    tokenizer_class = "ElectraTokenizer"
    embedding_layers = BackboneFamily.embedding_layers + ("embeddings_projection/",)


@register_backbone_family
class DebertaV3Family(BackboneFamily):
    """DeBERTa-v3: disentangled-attention layers and relative position
    embeddings; no pooler."""

    name = "deberta_v3"
    backbone_class = "DebertaV3Backbone"
    tokenizer_class = "DebertaV3Tokenizer"
    encoder_layer_prefix = "disentangled_attention_encoder_layer_"
    embedding_layers = BackboneFamily.embedding_layers + ("rel_embedding/",)


@register_backbone_family
class AlbertFamily(BackboneFamily):
    """ALBERT: one layer's weights shared across its depth (no layer-wise
    decay), an embedding projection."""

    name = "albert"
    backbone_class = "AlbertBackbone"
    tokenizer_class = "AlbertTokenizer"
    shared_layers = True
    embedding_layers = BackboneFamily.embedding_layers + ("embeddings_projection/",)
