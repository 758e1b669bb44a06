"""KerasHub's other text encoders (RoBERTa, DistilBERT, ELECTRA, DeBERTa-v3,
ALBERT), each as a tiny random model with a tiny tokenizer of its own kind."""

import io
import string

import keras
import keras_hub
import numpy as np
import pytest
import sentencepiece
import tensorflow as tf

import keras_bam

SIZES = dict(num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32)
FAMILIES = ["roberta", "xlm_roberta", "distil_bert", "electra", "deberta_v3", "albert"]
CHARACTERS = string.ascii_lowercase + string.digits


def word_piece_vocabulary() -> list:
    """Every lowercase letter and digit, alone and as a continuation: any
    lowercased English word tokenizes."""
    pieces = list(CHARACTERS) + [f"##{c}" for c in CHARACTERS]
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + pieces + list(".,'?!-")


def byte_pair_tokenizer():
    """A RoBERTa tokenizer over single bytes (no merges but one)."""
    from keras_hub.src.tokenizers.byte_pair_tokenizer import bytes_to_unicode

    _, characters = bytes_to_unicode()
    vocabulary = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for character in characters:
        vocabulary.setdefault(str(character), len(vocabulary))
    vocabulary["Ġt"] = len(vocabulary)
    vocabulary["<mask>"] = len(vocabulary)
    return keras_hub.models.RobertaTokenizer(vocabulary, ["Ġ t"])


def sentence_piece_proto(pad: str, symbols: list) -> bytes:
    sentences = ["the quick brown fox jumps over the lazy dog."] * 20 + [
        "".join(CHARACTERS) + ".,'?!-"
    ]
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=model,
        vocab_size=60,
        hard_vocab_limit=False,
        model_type="unigram",
        pad_id=0,
        unk_id=1,
        bos_id=-1,
        eos_id=-1,
        pad_piece=pad,
        user_defined_symbols=symbols,
        character_coverage=1.0,
    )
    return model.getvalue()


def make(family: str):
    """`(backbone, tokenizer)` of one family, tiny and random."""
    keras.utils.set_random_seed(0)
    models = keras_hub.models
    if family == "roberta":
        tokenizer = byte_pair_tokenizer()
    elif family in ("distil_bert", "electra"):
        tokenizer_class = {
            "distil_bert": models.DistilBertTokenizer,
            "electra": models.ElectraTokenizer,
        }[family]
        tokenizer = tokenizer_class(word_piece_vocabulary())
    elif family == "xlm_roberta":
        proto = sentence_piece_proto("<pad>", ["<s>", "</s>", "<mask>"])
        tokenizer = models.XLMRobertaTokenizer(proto)
    elif family == "deberta_v3":
        proto = sentence_piece_proto("[PAD]", ["[CLS]", "[SEP]"])
        tokenizer = models.DebertaV3Tokenizer(proto)
    else:
        proto = sentence_piece_proto("<pad>", ["[CLS]", "[SEP]", "[MASK]"])
        tokenizer = models.AlbertTokenizer(proto)
    size = int(tokenizer.vocabulary_size())
    common = dict(**SIZES, max_sequence_length=64)
    backbone = {
        "roberta": lambda: models.RobertaBackbone(vocabulary_size=size, **common),
        "xlm_roberta": lambda: models.XLMRobertaBackbone(
            vocabulary_size=size, **common
        ),
        "distil_bert": lambda: models.DistilBertBackbone(
            vocabulary_size=size, **common
        ),
        "electra": lambda: models.ElectraBackbone(
            vocab_size=size, embedding_dim=8, **common
        ),
        "deberta_v3": lambda: models.DebertaV3Backbone(
            vocabulary_size=size, bucket_size=8, **common
        ),
        "albert": lambda: models.AlbertBackbone(
            vocabulary_size=size, embedding_dim=8, **common
        ),
    }[family]()
    return backbone, tokenizer


@pytest.mark.parametrize("family", FAMILIES)
def test_a_teacher_trains_predicts_and_exports(family, glue_dir, tmp_path):
    """A teacher on RTE pairs: encoding with the family's own special tokens,
    pooling, layer-wise decay (none for ALBERT, whose layers share weights),
    training, dev scores, predictions, and a SavedModel serving what the model
    predicts."""
    backbone, tokenizer = make(family)
    recipe = keras_bam.FineTuningRecipe(
        epochs=1,
        batch_size=8,
        max_length=48,
        layerwise_decay=1.0 if family == "albert" else 0.9,
    )
    run = keras_bam.train_teacher(
        "rte",
        data_dir=glue_dir,
        backbone=backbone,
        tokenizer=tokenizer,
        recipe=recipe,
        output_dir=tmp_path / "teacher",
        train_limit=16,
        eval_limit=8,
        verbose=0,
    )
    assert np.isfinite(run.history["loss"]).all()
    assert set(run.dev_metrics["dev"]) >= {"accuracy"}
    predictions = keras_bam.data.TeacherPredictions.load(run.predictions_paths["train"])
    assert predictions.outputs.shape == (16, 2)
    examples = keras_bam.data.read_glue_tsv("rte", "dev", glue_dir)
    encoded = keras_bam.data.encode_examples(
        examples.select(np.arange(3)), tokenizer, 48
    )
    batch = encoded.pad_batch(np.arange(3))
    reloaded = tf.saved_model.load(
        keras_bam.export_saved_model(run.model, str(tmp_path / "saved_model"))
    )
    served = reloaded.serve(batch)
    expected = run.model.predict(batch, verbose=0)
    np.testing.assert_allclose(served, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("family", ["roberta", "xlm_roberta"])
def test_roberta_pairs_are_separated_by_two_end_tokens(family):
    _, tokenizer = make(family)
    encoded = keras_bam.data.encode_texts((["ab"], ["cd"]), tokenizer, 32)
    ids = encoded.pad_batch([0])["token_ids"][0].tolist()
    start, end = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    text = tokenizer.tokenize(["ab", "cd"])
    first, second = (np.asarray(t).reshape(-1).tolist() for t in text)
    assert ids == [start, *first, end, end, *second, end]


def test_albert_refuses_layerwise_decay_by_name(glue_dir):
    backbone, tokenizer = make("albert")
    with pytest.raises(ValueError, match="ALBERT shares one layer's weights"):
        keras_bam.train_teacher(
            "rte",
            data_dir=glue_dir,
            backbone=backbone,
            tokenizer=tokenizer,
            recipe=keras_bam.FineTuningRecipe(epochs=1, max_length=48),
            train_limit=8,
            eval_limit=8,
            verbose=0,
            save_model=False,
        )


def test_an_unsupported_backbone_is_named():
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=50, max_sequence_length=16, **SIZES
    )
    with pytest.raises(ValueError, match="got a GPT2Backbone"):
        keras_bam.SingleTaskModel(backbone, "rte")
