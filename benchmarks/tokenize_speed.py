"""Word-piece tokenization: TensorFlow Text's kernel against KerasHub's Python path.

Tokenizes the texts of several GLUE splits (plus odd strings) both ways with
MiniLM's tokenizer, checks that the ids are equal and writes the times to
`benchmarks/results/tokenize_speed.json`:

    KERAS_BACKEND=tensorflow python benchmarks/tokenize_speed.py
"""

import argparse
import json
import os
import platform
import time

import numpy as np

import keras_bam
from keras_bam.data import encoding

SPLITS = [
    ("sst2", "train"), ("rte", "train"), ("sst2", "dev"), ("cola", "train"),
    ("stsb", "train"), ("mrpc", "train"), ("wnli", "train"), ("qnli", "dev"),
    ("ax", "test"),
]  # fmt: skip
ODD = ["", "Ünïcödé façade — naïve 東京 😀", "  spaces   ", "[SEP] [CLS] [MASK]"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/glue")
    parser.add_argument(
        "--out", default=os.path.join(os.path.dirname(__file__), "results",
                                      "tokenize_speed.json"))  # fmt: skip
    args = parser.parse_args()
    tokenizer = keras_bam.load_tokenizer()
    texts = []
    for task, split in SPLITS:
        for column in keras_bam.data.read_glue_tsv(task, split, args.data_dir).texts:
            texts += list(column)
    texts += ODD
    start = time.perf_counter()
    fast = encoding._tokenize(tokenizer, texts)
    fast_s = time.perf_counter() - start
    start = time.perf_counter()
    python = tokenizer.tokenize(texts)  # KerasHub's Python path (no tf.function).
    python_s = time.perf_counter() - start
    same = np.array_equal(fast[1], [len(r) for r in python]) and np.array_equal(
        fast[0], np.concatenate([np.asarray(r, np.int32) for r in python])
    )
    result = {
        "texts": len(texts),
        "splits": [f"{t}/{s}" for t, s in SPLITS],
        "tensorflow_text_s": round(fast_s, 2),
        "kerashub_python_s": round(python_s, 2),
        "speedup": round(python_s / fast_s, 2),
        "ids_equal": bool(same),
        "backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
