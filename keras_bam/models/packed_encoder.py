"""A KerasHub BERT backbone's pooled output over packed inputs: several
examples per row, each attending only to itself."""

from __future__ import annotations

import logging

import keras_hub
from keras import ops

from keras_bam.data.packing import Packing
from keras_bam.data.packing import resolve_packing
from keras_bam.models.backbone_families import find_backbone_family
from keras_bam.models.layers import encode_queries

logger = logging.getLogger(__name__)

# What the packed forward pass uses of a backbone: KerasHub `BertBackbone`'s layers.
_BERT_LAYERS = (
    "token_embedding",
    "position_embedding",
    "segment_embedding",
    "embeddings_add",
    "embeddings_layer_norm",
    "embeddings_dropout",
    "transformer_layers",
    "pooled_dense",
)


def is_packed(inputs) -> bool:
    """Whether model inputs are packed (`EncodedExamples.pack_batch`)."""
    return isinstance(inputs, dict) and "position_ids" in inputs


def packable(backbone) -> bool:
    """Whether packed inputs can run through `backbone` (`check_packable`)."""
    try:
        check_packable(backbone)
    except ValueError:
        return False
    return True


def batch_packing(packing, backbone, default: bool = False) -> Packing | None:
    """How batches for `backbone` are packed: the one place keras-bam decides it.

    Args:
        packing: `True` or a `Packing` to pack, `False` to pad, `None` for
            `default`.
        backbone: the backbone the batches run through. One that cannot take
            packed inputs (`packable`) gets padded batches, with a warning when
            packing was asked for.
        default: whether to pack when `packing` is `None`.

    Returns:
        The `Packing` to use, or `None` for padded batches.

    Example:
    ```python
    packing = keras_bam.models.batch_packing(True, keras_bam.load_backbone())
    # Packing(...): MiniLM is a BERT backbone
    ```
    """
    requested = packing is not None
    packing = resolve_packing(default if packing is None else packing)
    if packing is None:
        return None
    try:
        check_packable(backbone)
    except ValueError as e:
        if requested:
            logger.warning("Batches are padded, not packed: %s", e)
        return None
    return packing


def check_packable(backbone):
    """Raises `ValueError` unless packed inputs can run through `backbone`."""
    family = find_backbone_family(backbone)
    if family is None or not family.packable:
        # ELECTRA and ALBERT have BERT's layer names but other graphs (an
        # embedding projection, shared layers).
        raise ValueError(
            f"Packed batches need a KerasHub BertBackbone, got a "
            f"{type(backbone).__name__}. Turn packing off (`packing=False`) for "
            "this backbone."
        )
    missing = [name for name in _BERT_LAYERS if not hasattr(backbone, name)]
    if missing or not backbone.transformer_layers:
        raise ValueError(
            f"Packed batches need a KerasHub BertBackbone; "
            f"{type(backbone).__name__} lacks {missing or ['transformer_layers']}. "
            "Turn packing off (`packing=False`) for this backbone."
        )
    for layer in backbone.transformer_layers:
        if not isinstance(layer, keras_hub.layers.TransformerEncoder):
            raise ValueError(
                f"Packed batches need KerasHub TransformerEncoder layers, got "
                f"{type(layer).__name__}."
            )


def packed_attention_mask(position_ids, padding_mask):
    """`(rows, length, length)`: token `i` may attend to token `j` when both
    belong to the same example of the row (an example starts where its
    position is 0) and `j` is not padding."""
    padding = ops.cast(padding_mask, "bool")
    starts = ops.logical_and(ops.equal(position_ids, 0), padding)
    example = ops.cumsum(ops.cast(starts, "int32"), axis=1)
    example = ops.where(padding, example, 0)
    same = ops.equal(ops.expand_dims(example, 2), ops.expand_dims(example, 1))
    return ops.logical_and(same, ops.expand_dims(padding, 1)), example


def packed_pooled_output(backbone, inputs, training=None):
    """The pooled `[CLS]` output of every slot of a packed batch.

    Computes what `backbone`'s pooled output gives for each example alone (up
    to float rounding): positions come from `position_ids` (restarting at 0 for
    each example), attention is block-diagonal (`packed_attention_mask`), and
    the last transformer layer runs for the `class_positions` only
    (`encode_queries`), whose hidden states go through `pooled_dense`. An empty
    slot reads position 0 of its row; its output is a placeholder.

    Args:
        backbone: a KerasHub `BertBackbone` (its layers and weights are used).
        inputs: packed inputs (`EncodedExamples.pack_batch`): `token_ids`,
            `segment_ids`, `padding_mask`, `position_ids` of shape
            `(rows, length)` and `class_positions` of shape `(rows, slots)`.
        training: whether dropout is on.

    Returns:
        `(rows * slots, hidden)`, row by row.
    """
    check_packable(backbone)
    position_ids = ops.cast(inputs["position_ids"], "int32")
    class_positions = ops.cast(inputs["class_positions"], "int32")
    tokens = backbone.token_embedding(inputs["token_ids"])
    positions = backbone.position_embedding(tokens, positions=position_ids)
    segments = backbone.segment_embedding(inputs["segment_ids"])
    x = backbone.embeddings_add((tokens, positions, segments))
    x = backbone.embeddings_layer_norm(x)
    x = backbone.embeddings_dropout(x, training=training)
    mask, example = packed_attention_mask(position_ids, inputs["padding_mask"])
    for layer in backbone.transformer_layers[:-1]:
        x = layer(x, attention_mask=mask, training=training)
    queries = ops.take_along_axis(x, ops.expand_dims(class_positions, -1), axis=1)
    query_example = ops.take_along_axis(example, class_positions, axis=1)
    query_mask = ops.logical_and(
        ops.equal(ops.expand_dims(query_example, 2), ops.expand_dims(example, 1)),
        ops.expand_dims(ops.cast(inputs["padding_mask"], "bool"), 1),
    )
    last = backbone.transformer_layers[-1]
    first = encode_queries(last, queries, x, query_mask, training)
    first = ops.reshape(first, (-1, ops.shape(first)[-1]))
    return backbone.pooled_dense(first)
