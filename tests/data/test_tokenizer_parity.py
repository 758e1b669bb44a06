"""keras-bam's word pieces against an independent BERT WordPiece implementation.

The encoding's fast path (TensorFlow Text's kernel, `keras_bam.data.encoding`)
is checked elsewhere against KerasHub's Python path; here it is checked against
Hugging Face's `tokenizers` (Rust), configured as the pretrained MiniLM's own
tokenizer is (uncased BERT: lower case, accents stripped, Chinese characters
split), over every text of every GLUE file that is available.

They differ where KerasHub lower-cases with TensorFlow Text's NFKC case folding
and BERT with Python's `lower()` (compatibility characters: "…" becomes "...",
"½" "1⁄2", "´" a combining accent; full case folding: "ß" becomes "ss", "ς"
"σ") and at control characters (BERT drops them, KerasHub splits at them). The
test requires every differing text to hold one.
"""

import os
import unicodedata

import numpy as np
import pytest

import keras_bam
from keras_bam.data.encoding import _tokenize


def glue_texts(glue_dir) -> list:
    """Every text of every available GLUE split, in file order, each once."""
    texts = {}
    for task in keras_bam.GLUE_TASKS.values():
        for split in task.splits:
            path = keras_bam.data.glue_tsv_path(task, split, glue_dir)
            if os.path.isfile(path):
                examples = keras_bam.data.read_glue_tsv(task, split, glue_dir)
                for column in examples.texts:
                    texts.update(dict.fromkeys(column))
    return list(texts)


def reference_tokenizer(vocabulary: list):
    """BERT's uncased WordPiece in Hugging Face `tokenizers`."""
    from tokenizers import Tokenizer
    from tokenizers import models
    from tokenizers import normalizers
    from tokenizers import pre_tokenizers

    reference = Tokenizer(
        models.WordPiece(
            {piece: i for i, piece in enumerate(vocabulary)},
            unk_token="[UNK]",
            max_input_chars_per_word=100,
        )
    )
    reference.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    reference.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return reference


@pytest.mark.integration
def test_word_pieces_match_an_independent_wordpiece_on_all_of_glue(glue_dir, tokenizer):
    texts = glue_texts(glue_dir)
    assert len(texts) > 100_000
    flat, lengths = _tokenize(tokenizer, texts)
    ours = np.split(flat, np.cumsum(lengths)[:-1])
    reference = reference_tokenizer(tokenizer.get_vocabulary())
    theirs = reference.encode_batch(texts, add_special_tokens=False)
    differing = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a.tolist() != b.ids]
    unexplained = [i for i in differing if not folded_differently(texts[i])]
    shown = [
        (texts[i], tokenizer.detokenize(ours[i]), theirs[i].tokens)
        for i in unexplained[:5]
    ]
    assert not unexplained, f"{len(unexplained)} of {len(texts)} differ: {shown}"
    assert len(differing) <= len(texts) // 2000  # 31 of 130,445 when written.


def folded_differently(text: str) -> bool:
    """Whether NFKC case folding ("ß" to "ss", "ς" to "σ", "…" to "...") gives
    other text than `lower()`, or `text` holds a control or format character
    (BERT's `_is_control`: a soft hyphen, a `\x12`)."""
    folded = unicodedata.normalize("NFKC", text.casefold())
    return folded != unicodedata.normalize("NFC", text.lower()) or any(
        unicodedata.category(c).startswith("C") and c not in "\t\n\r" for c in text
    )


def test_accents_are_stripped_as_bert_uncased_strips_them(tokenizer):
    """KerasHub's reader of Hugging Face checkpoints dropped `strip_accents`:
    "José" was `[UNK]`; it is "jose", as in pretraining."""
    assert tokenizer.strip_accents and tokenizer.lowercase
    ids = tokenizer.tokenize(["José ate crème brûlée"])
    assert tokenizer.detokenize(ids)[0] == "jose ate creme brulee"
