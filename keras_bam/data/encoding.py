"""Encoding examples into BERT inputs with the backbone's KerasHub tokenizer."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import weakref

import keras_hub
import numpy as np

from keras_bam.data.examples import TaskExamples

logger = logging.getLogger(__name__)

# Texts are tokenized this many at a time, which bounds memory on big tasks.
TOKENIZE_CHUNK = 8192


@dataclasses.dataclass
class EncodedExamples:
    """Tokenized, packed examples, stored ragged (no padding) in flat arrays.

    Example `i` is `token_ids[offsets[i]:offsets[i + 1]]`, packed as
    `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`; its first `first_lengths[i]` tokens
    have segment id 0, the rest segment id 1. Padding is added per batch, to the
    batch's bucket length, by `pad_batch`.

    Args:
        token_ids: int32, all examples' token ids concatenated.
        row_lengths: int32, each example's packed length.
        first_lengths: int32, each example's length of `[CLS] a [SEP]`.
        max_length: the packing length limit.
        pad_id: the padding token id.
        truncated: bool, whether each example was cut to fit `max_length`.
    """

    token_ids: np.ndarray
    row_lengths: np.ndarray
    first_lengths: np.ndarray
    max_length: int
    truncated: np.ndarray | None = None
    pad_id: int = 0

    def __post_init__(self):
        if self.truncated is None:
            self.truncated = np.zeros(len(self.row_lengths), dtype=bool)
        self.offsets = np.concatenate(
            [[0], np.cumsum(self.row_lengths, dtype=np.int64)]
        )

    def __len__(self) -> int:
        return len(self.row_lengths)

    @property
    def num_truncated(self) -> int:
        """How many examples were cut to fit `max_length`."""
        return int(np.sum(self.truncated))

    def select(self, indices) -> EncodedExamples:
        """A new `EncodedExamples` holding the examples at `indices`, in order."""
        indices = np.asarray(indices, dtype=np.int64)
        lengths = self.row_lengths[indices]
        starts = self.offsets[indices]
        within = np.arange(int(lengths.sum())) - np.repeat(
            np.cumsum(lengths) - lengths, lengths
        )
        return EncodedExamples(
            token_ids=self.token_ids[np.repeat(starts, lengths) + within],
            row_lengths=lengths,
            first_lengths=self.first_lengths[indices],
            max_length=self.max_length,
            truncated=self.truncated[indices],
            pad_id=self.pad_id,
        )

    def pad_batch(self, indices, length: int | None = None) -> dict:
        """The model inputs for the examples at `indices`, padded to `length`.

        Args:
            indices: example indices.
            length: the padded sequence length; the longest example by default.

        Returns:
            A dict of int32 `token_ids`, `segment_ids` and `padding_mask` arrays of
            shape `(len(indices), length)`.
        """
        indices = np.asarray(indices, dtype=np.int64)
        lengths = self.row_lengths[indices]
        if length is None:
            length = int(lengths.max()) if len(indices) else 1
        if len(indices) and lengths.max() > length:
            raise ValueError(f"An example is longer than the batch length {length}.")
        positions = np.arange(length)
        mask = positions[None, :] < lengths[:, None]
        token_ids = np.full((len(indices), length), self.pad_id, dtype=np.int32)
        starts = self.offsets[indices]
        gather = (starts[:, None] + positions[None, :])[mask]
        token_ids[mask] = self.token_ids[gather]
        segment_ids = (
            (positions[None, :] >= self.first_lengths[indices][:, None]) & mask
        ).astype(np.int32)
        return {
            "token_ids": token_ids,
            "segment_ids": segment_ids,
            "padding_mask": mask.astype(np.int32),
        }

    def pack_batch(self, rows, num_rows: int, slots: int) -> tuple:
        """Packed model inputs: the examples of each row one after the other.

        Args:
            rows: a list of rows, each a list of example indices (at most
                `slots`, of `max_length` tokens in all).
            num_rows: rows in the batch (at least `len(rows)`; the rest are
                padding).
            slots: examples per row in the outputs' layout.

        Returns:
            `(inputs, slot_examples)`: a dict of int32 arrays `token_ids`,
            `segment_ids`, `padding_mask` and `position_ids` of shape
            `(num_rows, max_length)` and `class_positions` of shape
            `(num_rows, slots)` (where each slot's example starts), and the
            example index of each of the `num_rows * slots` slots, row by row
            (-1 for an empty slot).
        """
        if len(rows) > num_rows:
            raise ValueError(f"{len(rows)} rows do not fit in {num_rows}.")
        length = self.max_length
        shape = (num_rows, length)
        token_ids = np.full(shape, self.pad_id, dtype=np.int32)
        segment_ids = np.zeros(shape, dtype=np.int32)
        padding_mask = np.zeros(shape, dtype=np.int32)
        position_ids = np.zeros(shape, dtype=np.int32)
        class_positions = np.zeros((num_rows, slots), dtype=np.int32)
        slot_examples = np.full(num_rows * slots, -1, dtype=np.int64)
        for r, members in enumerate(rows):
            if len(members) > slots:
                raise ValueError(f"A row holds {len(members)} examples, over {slots}.")
            start = 0
            for s, i in enumerate(members):
                n, first = int(self.row_lengths[i]), int(self.first_lengths[i])
                stop = start + n
                if stop > length:
                    raise ValueError(f"A row's examples exceed {length} tokens.")
                offset = int(self.offsets[i])
                token_ids[r, start:stop] = self.token_ids[offset : offset + n]
                segment_ids[r, start + first : stop] = 1
                padding_mask[r, start:stop] = 1
                position_ids[r, start:stop] = np.arange(n)
                class_positions[r, s] = start
                slot_examples[r * slots + s] = i
                start = stop
        inputs = {
            "token_ids": token_ids,
            "segment_ids": segment_ids,
            "padding_mask": padding_mask,
            "position_ids": position_ids,
            "class_positions": class_positions,
        }
        return inputs, slot_examples


def concatenate_encoded(*parts: EncodedExamples) -> EncodedExamples:
    """One `EncodedExamples` holding the examples of `parts`, in order."""
    if len({part.max_length for part in parts}) != 1:
        raise ValueError("Only encodings of the same max_length can be joined.")
    return EncodedExamples(
        token_ids=np.concatenate([part.token_ids for part in parts]),
        row_lengths=np.concatenate([part.row_lengths for part in parts]),
        first_lengths=np.concatenate([part.first_lengths for part in parts]),
        max_length=parts[0].max_length,
        truncated=np.concatenate([part.truncated for part in parts]),
        pad_id=parts[0].pad_id,
    )


def truncate_longest_first(first: np.ndarray, second: np.ndarray, budget: int):
    """Lengths after BERT's longest-first truncation of text pairs.

    Equivalent to BERT's `_truncate_seq_pair`: while the pair is over `budget`,
    drop a token from the longer text (from the second on a tie).

    Args:
        first: lengths of the first texts.
        second: lengths of the second texts.
        budget: the most tokens the two may hold together.

    Returns:
        The truncated `(first, second)` lengths.
    """
    first = np.asarray(first, dtype=np.int64)
    second = np.asarray(second, dtype=np.int64)
    over = first + second > budget
    shorter = np.minimum(first, second)
    # The shorter text is untouched when the longer one can absorb all the cut.
    keeps_shorter = over & (budget - shorter >= shorter)
    new_first = first.copy()
    new_second = second.copy()
    first_is_shorter = first <= second
    new_first = np.where(keeps_shorter & ~first_is_shorter, budget - second, new_first)
    new_second = np.where(keeps_shorter & first_is_shorter, budget - first, new_second)
    # Otherwise both end near budget / 2; the first keeps the odd token.
    both = over & ~keeps_shorter
    new_first = np.where(both, (budget + 1) // 2, new_first)
    new_second = np.where(both, budget // 2, new_second)
    return new_first, new_second


def _tokenize(tokenizer, texts: list) -> tuple:
    """Word-piece ids of `texts` as `(flat_ids, lengths)` numpy arrays."""
    tokenize = _compiled_tokenize(tokenizer)
    flat, lengths = [], []
    for start in range(0, len(texts), TOKENIZE_CHUNK):
        chunk = tokenize(texts[start : start + TOKENIZE_CHUNK])
        if hasattr(chunk, "flat_values"):  # tf.RaggedTensor on TensorFlow.
            flat.append(np.asarray(chunk.flat_values, dtype=np.int32))
            lengths.append(np.asarray(chunk.row_lengths(), dtype=np.int32))
        else:  # Lists of lists from KerasHub's Python path.
            rows = [np.asarray(r, dtype=np.int32).reshape(-1) for r in chunk]
            lengths.append(np.asarray([len(r) for r in rows], dtype=np.int32))
            flat.append(np.concatenate(rows) if rows else np.zeros(0, np.int32))
    return np.concatenate(flat), np.concatenate(lengths)


# Tokenizers whose TensorFlow Text kernel gives the ids of KerasHub's Python path
# (tested), and much faster (benchmarks/tokenize_speed.py).
_FAST_TOKENIZERS = (keras_hub.tokenizers.WordPieceTokenizer,)
_compiled = weakref.WeakKeyDictionary()


def _compiled_tokenize(tokenizer):
    """`tokenizer.tokenize`, through its TensorFlow Text kernel where it has one.

    Outside a `tf.function`, KerasHub tokenizes in pure Python; inside one (as in
    a `tf.data` map) it runs TensorFlow Text's compiled word-piece kernel, with the
    same ids. Other tokenizers keep their own `tokenize`.
    """
    if not isinstance(tokenizer, _FAST_TOKENIZERS):
        return tokenizer.tokenize
    if tokenizer not in _compiled:
        import tensorflow as tf

        # The cached function reaches its tokenizer through a weak reference:
        # a strong one would keep the key of this weak dictionary, and with it
        # every tokenizer ever used (its vocabulary, its traced graph), alive.
        owner = weakref.ref(tokenizer)
        compiled = tf.function(
            lambda texts: owner().tokenize(texts),
            input_signature=[tf.TensorSpec([None], tf.string)],
        )
        _compiled[tokenizer] = lambda texts: compiled(tf.constant(texts, tf.string))
    return _compiled[tokenizer]


def encode_examples(
    examples: TaskExamples,
    tokenizer,
    max_length: int = 128,
    chunk_size: int = TOKENIZE_CHUNK,
) -> EncodedExamples:
    """Tokenizes and packs examples as BERT inputs.

    Pairs are packed as `[CLS] a [SEP] b [SEP]` with longest-first truncation to
    `max_length`, single texts as `[CLS] a [SEP]`. Examples are encoded
    `chunk_size` at a time, so the working memory beyond the result (the
    tokenizer's output and the packing's index arrays) does not grow with the
    task: MNLI's 393k pairs need no more of it than 8k.

    Args:
        examples: the `TaskExamples` to encode.
        tokenizer: a KerasHub word-piece tokenizer, e.g.
            `keras_hub.models.BertTokenizer`.
        max_length: the packed length limit.
        chunk_size: examples encoded at a time.

    Returns:
        An `EncodedExamples`.

    Example:
    ```python
    tokenizer = keras_bam.load_tokenizer()
    dev = keras_bam.data.read_glue_tsv("rte", "dev", "../shared/glue")
    encoded = keras_bam.data.encode_examples(dev, tokenizer, max_length=128)
    batch = encoded.pad_batch([0, 1, 2])
    ```
    """
    chunks = list(encoded_chunks(examples, tokenizer, max_length, chunk_size))
    encoded = chunks[0] if len(chunks) == 1 else concatenate_encoded(*chunks)
    log_truncation(examples, encoded.num_truncated, max_length)
    return encoded


def encoded_chunks(
    examples: TaskExamples,
    tokenizer,
    max_length: int = 128,
    chunk_size: int = TOKENIZE_CHUNK,
):
    """Yields the `EncodedExamples` of `examples`, `chunk_size` at a time (at
    least one chunk, empty for no examples); see `encode_examples`."""
    special = len(examples.texts) + 1
    if max_length <= special:
        raise ValueError(f"max_length={max_length} leaves no room for text.")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}.")
    n = len(examples)
    if n <= chunk_size:
        yield _encode_chunk(examples, tokenizer, max_length)
        return
    for start in range(0, n, chunk_size):
        chunk = examples.select(np.arange(start, min(start + chunk_size, n)))
        yield _encode_chunk(chunk, tokenizer, max_length)


def log_truncation(examples: TaskExamples, num_truncated: int, max_length: int):
    """Logs how many of `examples` were truncated, if any."""
    if num_truncated:
        logger.info(
            "%s %s: %d of %d examples truncated to %d tokens.",
            examples.task.display_name,
            examples.split,
            num_truncated,
            len(examples),
            max_length,
        )


def encode_texts(texts: tuple, tokenizer, max_length: int = 128) -> EncodedExamples:
    """Tokenizes and packs raw texts as BERT inputs, as `encode_examples` does.

    Args:
        texts: one sequence of strings (single texts) or two of equal length
            (pairs).
        tokenizer: a KerasHub word-piece tokenizer.
        max_length: the packed length limit.

    Returns:
        An `EncodedExamples`, one example per text or pair.

    Example:
    ```python
    encoded = keras_bam.data.encode_texts(
        (["A man is playing."], ["Someone plays."]), keras_bam.load_tokenizer())
    inputs = encoded.pad_batch([0])
    ```
    """
    texts = tuple(list(t) for t in texts)
    if len(texts) not in (1, 2) or any(len(t) != len(texts[0]) for t in texts):
        raise ValueError(
            "Texts are one sequence of strings, or two of equal length (pairs); "
            f"got {len(texts)} sequences of lengths {[len(t) for t in texts]}."
        )
    if max_length <= len(texts) + 1:
        raise ValueError(f"max_length={max_length} leaves no room for text.")
    return _encode_texts(texts, tokenizer, max_length)


def _encode_chunk(
    examples: TaskExamples, tokenizer, max_length: int
) -> EncodedExamples:
    """`encode_examples` of a few examples at once."""
    return _encode_texts(examples.texts, tokenizer, max_length)


# KerasHub tokenizer class name -> end tokens between a pair's two texts. The
# encoder families (`keras_bam.models.BackboneFamily`) register theirs here, so
# that encoding needs nothing from the models above it.
_PAIR_SEPARATORS = {}


def register_pair_separators(tokenizer_class: str, separators: int) -> None:
    """Records that tokenizers of the KerasHub class `tokenizer_class` (and its
    subclasses) put `separators` end tokens between a pair's two texts."""
    _PAIR_SEPARATORS[tokenizer_class] = int(separators)


def pair_separators(tokenizer) -> int:
    """End tokens between a pair's two texts: RoBERTa's `<s> a </s></s> b </s>`
    has two, the `[CLS] a [SEP] b [SEP]` of BERT's family one (the registered
    count of the tokenizer's most derived KerasHub class; 1 for a class none
    registered)."""
    for cls in tokenizer.__class__.__mro__:
        if cls.__name__ in _PAIR_SEPARATORS:
            return _PAIR_SEPARATORS[cls.__name__]
    return 1


def _encode_texts(texts: tuple, tokenizer, max_length: int) -> EncodedExamples:
    """`encode_texts` without its checks."""
    num_texts = len(texts)
    extra = pair_separators(tokenizer) - 1 if num_texts == 2 else 0
    special = num_texts + 1 + extra
    cls_id = tokenizer.token_to_id(tokenizer.start_token)
    sep_id = tokenizer.token_to_id(tokenizer.end_token)
    pad_id = tokenizer.token_to_id(tokenizer.pad_token)
    pieces = [_tokenize(tokenizer, list(t)) for t in texts]
    budget = max_length - special
    n = len(texts[0])
    if num_texts == 1:
        kept = [np.minimum(pieces[0][1], budget)]
    else:
        kept = list(truncate_longest_first(pieces[0][1], pieces[1][1], budget))
    truncated = np.any([k < p[1] for k, p in zip(kept, pieces)], axis=0)
    row_lengths = (np.sum(kept, axis=0) + special).astype(np.int32)
    first_lengths = (kept[0] + 2).astype(np.int32)
    out_offsets = np.concatenate([[0], np.cumsum(row_lengths, dtype=np.int64)])
    token_ids = np.empty(int(out_offsets[-1]), dtype=np.int32)
    token_ids[out_offsets[:-1]] = cls_id
    cursor = out_offsets[:-1] + 1
    for index, ((flat, lengths), keep) in enumerate(zip(pieces, kept)):
        if index and extra:  # RoBERTa's second `</s>` before the second text.
            token_ids[cursor] = sep_id
            cursor = cursor + 1
        in_offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
        # Scatter the first `keep[i]` ids of every text in one vectorized step.
        row = np.repeat(np.arange(n), keep)
        within = np.arange(int(keep.sum())) - np.repeat(np.cumsum(keep) - keep, keep)
        token_ids[cursor[row] + within] = flat[in_offsets[:-1][row] + within]
        cursor = cursor + keep
        token_ids[cursor] = sep_id
        cursor = cursor + 1
    return EncodedExamples(
        token_ids=token_ids,
        row_lengths=row_lengths,
        first_lengths=first_lengths,
        max_length=max_length,
        truncated=truncated,
        pad_id=int(pad_id),
    )


def tokenizer_fingerprint(tokenizer) -> str:
    """A hex digest of a tokenizer's vocabulary and text normalization settings."""
    digest = hashlib.sha256()
    digest.update("\n".join(tokenizer.get_vocabulary()).encode("utf-8"))
    for attribute in ("lowercase", "strip_accents", "split", "split_on_cjk"):
        digest.update(f"|{attribute}={getattr(tokenizer, attribute, None)}".encode())
    return digest.hexdigest()
