"""keras-bam's BERT backbone: KerasHub's `BertBackbone` with the GELU form its
checkpoints were trained with, recorded in its config."""

from __future__ import annotations

import keras
import keras_hub

from keras_bam.models.layers import use_bit_generator_dropout
from keras_bam.utils.keras_private import encoder_sublayers


@keras.saving.register_keras_serializable(package="keras_bam")
def exact_gelu(x):
    """GELU computed exactly, with erf: what BERT checkpoints were trained with.

    A registered function (not a closure), so that layers using it serialize:
    `keras.models.clone_model` and `.keras` files keep it.
    """
    return keras.activations.gelu(x, approximate=False)


@keras.saving.register_keras_serializable(package="keras_bam")
def approximate_gelu(x):
    """GELU's tanh approximation, KerasHub BERT's default."""
    return keras.activations.gelu(x, approximate=True)


def set_bert_gelu(backbone: keras.Model, exact: bool) -> keras.Model:
    """`set_exact_gelu` for a KerasHub `BertBackbone` (its family's `set_gelu`)."""
    if type(backbone) is keras_hub.models.BertBackbone:
        # Its config now records the GELU form (KerasHub's config has no field
        # for it), so the backbone saved or cloned on its own keeps it.
        backbone.__class__ = BamBertBackbone
    if isinstance(backbone, BamBertBackbone):
        backbone.exact_gelu = exact
    activation = exact_gelu if exact else approximate_gelu
    for layer in backbone.transformer_layers:
        layer.activation = activation
        encoder_sublayers(layer).intermediate.activation = activation
    # Functions compiled before the change would keep the old activation.
    backbone.train_function = None
    backbone.test_function = None
    backbone.predict_function = None
    return backbone


def has_bert_gelu(backbone: keras.Model, exact: bool) -> bool:
    """Whether `set_bert_gelu(backbone, exact)` would leave `backbone` as it is:
    not a plain KerasHub `BertBackbone` (which becomes a `BamBertBackbone`),
    and every feed-forward layer already on that GELU form."""
    if type(backbone) is keras_hub.models.BertBackbone:
        return False
    if isinstance(backbone, BamBertBackbone) and backbone.exact_gelu != exact:
        return False
    activation = exact_gelu if exact else approximate_gelu
    return all(
        layer.activation is activation
        and encoder_sublayers(layer).intermediate.activation is activation
        for layer in backbone.transformer_layers
    )


@keras.saving.register_keras_serializable(package="keras_bam")
class BamBertBackbone(keras_hub.models.BertBackbone):
    """A KerasHub `BertBackbone` as keras-bam's task models run it.

    The same network, layers and weights, with exact GELU (or KerasHub's tanh
    form) in its feed-forward layers and `BitGeneratorDropout` sampling, and a
    config that records the GELU form. KerasHub's `BertBackbone` rebuilds its
    layers from its own arguments, which have no activation, so a backbone
    that a task model switched to exact GELU would come back with tanh GELU
    when saved or cloned alone; this class brings it back as it was. Task
    models make a plain `BertBackbone` passed to them one of these
    (`set_exact_gelu`).

    Args:
        vocabulary_size: as `keras_hub.models.BertBackbone`.
        num_layers: as `keras_hub.models.BertBackbone`.
        num_heads: as `keras_hub.models.BertBackbone`.
        hidden_dim: as `keras_hub.models.BertBackbone`.
        intermediate_dim: as `keras_hub.models.BertBackbone`.
        dropout: as `keras_hub.models.BertBackbone`.
        max_sequence_length: as `keras_hub.models.BertBackbone`.
        num_segments: as `keras_hub.models.BertBackbone`.
        dtype: as `keras_hub.models.BertBackbone`.
        exact_gelu: exact GELU if True, KerasHub's tanh approximation if False.
        **kwargs: `keras.Model` arguments (`name`, `trainable`).

    Example:
    ```python
    backbone = keras_bam.models.BamBertBackbone(
        vocabulary_size=30522, num_layers=2, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=128)
    backbone.save("backbone.keras")  # Reloads with exact GELU.
    ```
    """

    # BertBackbone's own signature: `clone_model` tells a functional-style
    # constructor `(inputs, outputs)` from a backbone's by it.
    def __init__(
        self,
        vocabulary_size: int,
        num_layers: int,
        num_heads: int,
        hidden_dim: int,
        intermediate_dim: int,
        dropout: float = 0.1,
        max_sequence_length: int = 512,
        num_segments: int = 2,
        dtype=None,
        exact_gelu: bool = True,
        **kwargs,
    ):
        super().__init__(
            vocabulary_size=vocabulary_size,
            num_layers=num_layers,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim,
            dropout=dropout,
            max_sequence_length=max_sequence_length,
            num_segments=num_segments,
            dtype=dtype,
            **kwargs,
        )
        set_bert_gelu(self, exact_gelu)
        use_bit_generator_dropout(self)

    def get_config(self) -> dict:
        return {**super().get_config(), "exact_gelu": self.exact_gelu}
