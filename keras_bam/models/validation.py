"""Checks that a run's pieces fit together, before any data is read or step taken."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def _backbone_vocabulary_size(backbone) -> int | None:
    """Rows of a KerasHub backbone's token embedding, or `None` if unknown."""
    size = getattr(backbone, "vocabulary_size", None)
    if size is None:
        embedding = getattr(backbone, "token_embedding", None)
        size = getattr(embedding, "input_dim", None)
    return None if size is None else int(size)


def _backbone_max_length(backbone) -> int | None:
    """The longest sequence a backbone's position table holds, or `None`."""
    size = getattr(backbone, "max_sequence_length", None)
    return None if size is None else int(size)


def check_backbone(backbone, tokenizer=None, max_length: int | None = None):
    """Raises `ValueError` unless `tokenizer` and `max_length` fit `backbone`.

    A tokenizer whose vocabulary is larger than the backbone's token embedding
    belongs to another model: its ids past the table would fail on TensorFlow
    and be silently clamped on JAX. A `max_length` beyond the backbone's position
    table cannot be embedded. A smaller tokenizer vocabulary is only logged
    (some checkpoints pad their embedding table).

    Args:
        backbone: a KerasHub backbone.
        tokenizer: its tokenizer, or `None` to skip that check.
        max_length: the packing length of the run, or `None`.

    Example:
    ```python
    keras_bam.models.check_backbone(backbone, tokenizer, max_length=128)
    ```
    """
    rows = _backbone_vocabulary_size(backbone)
    if tokenizer is not None and rows is not None:
        size = int(tokenizer.vocabulary_size())
        if size > rows:
            raise ValueError(
                f"The tokenizer's vocabulary has {size} tokens but the backbone "
                f"'{backbone.name}' embeds only {rows}: they belong to different "
                "models. Load both from the same preset (keras_bam.load_backbone and "
                "keras_bam.load_tokenizer with the same spec)."
            )
        if size < rows:
            logger.warning(
                "The tokenizer's vocabulary has %d tokens, the backbone embeds %d; "
                "check that they belong to the same model.",
                size,
                rows,
            )
    limit = _backbone_max_length(backbone)
    if max_length is not None and limit is not None and max_length > limit:
        raise ValueError(
            f"max_length={max_length} is above the backbone's max_sequence_length "
            f"{limit} (the size of its position table); use max_length <= {limit}."
        )
