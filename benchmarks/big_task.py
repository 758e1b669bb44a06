"""Big tasks: memory and throughput of reading, encoding and batching vs task size.

MNLI (393k pairs) and QQP (364k) are not on this machine, so this writes
synthetic tasks in MNLI's real training-file format (the 12 columns of
`MNLI/train.tsv`, header included; premises of ~22 words and hypotheses of ~11,
drawn from the tokenizer's whole-word vocabulary) with 50k to 400k pairs, and
measures, for each size in its own process (so that peak memory is its own):

- **read**: `read_glue_tsv("mnli", "train")` (streamed): rows/s, its peak
  memory above the start and what stays resident after (the texts);
- **encode**: `EncodedCache.encode` on a first run: the examples encoded 8,192
  at a time, each chunk appended to the entry's files: pairs/s and the
  *working* memory: the peak resident memory during it (VmHWM, reset before
  each phase) minus what was resident before;
- **cache open**: the entry opened again as a later run does (checksums
  streamed, arrays memory-mapped): seconds and the resident memory it adds;
- **batches**: one shuffled epoch of `BucketedBatches` (batch 32) over the
  memory-mapped encoding, every batch padded: batches/s;
- **predict+write**: `write_teacher_predictions` (chunks of 65,536) with a
  tiny random BERT (1 layer, width 16; the writer is measured, not the model):
  examples/s and working memory (its peak minus what was resident before).

Throughput should not fall and working memory should not grow with the size;
what does grow is the data itself (the texts, then the encoded arrays).

Usage:
    python benchmarks/big_task.py --sizes 50000 100000 200000 400000 \
        --output benchmarks/results/big_task_cpu2.json --readme benchmarks/README.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from provenance import portable

MNLI_TRAIN_COLUMNS = (
    "index",
    "promptID",
    "pairID",
    "genre",
    "sentence1_binary_parse",
    "sentence2_binary_parse",
    "sentence1_parse",
    "sentence2_parse",
    "sentence1",
    "sentence2",
    "label1",
    "gold_label",
)
LABELS = ("entailment", "neutral", "contradiction")
GENRES = ("fiction", "government", "slate", "telephone", "travel")
MARKER = "<!-- big-task-table -->"
ARRAYS = ("token_ids", "row_lengths", "first_lengths", "truncated")


def write_synthetic_mnli(path: str, size: int, words: list, seed: int = 0):
    """A `train.tsv` with `size` pairs in MNLI's training-file format."""
    rng = np.random.default_rng(seed)
    words = np.asarray(words)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\t".join(MNLI_TRAIN_COLUMNS) + "\n")
        for start in range(0, size, 10000):
            n = min(10000, size - start)
            first = rng.integers(8, 40, n)
            second = rng.integers(4, 20, n)
            picks = rng.integers(0, len(words), int(first.sum() + second.sum()))
            cursor = 0
            lines = []
            for i in range(n):
                a = " ".join(words[picks[cursor : cursor + first[i]]]) + "."
                cursor += first[i]
                b = " ".join(words[picks[cursor : cursor + second[i]]]) + "."
                cursor += second[i]
                label = LABELS[(start + i) % 3]
                parse_a, parse_b = f"( {a} )", f"( {b} )"
                lines.append(
                    "\t".join(
                        (
                            str(start + i),
                            str(31193 + start + i),
                            f"{31193 + start + i}n",
                            GENRES[(start + i) % len(GENRES)],
                            parse_a,
                            parse_b,
                            f"(ROOT {parse_a})",
                            f"(ROOT {parse_b})",
                            a,
                            b,
                            label,
                            label,
                        )
                    )
                )
            f.write("\n".join(lines) + "\n")


def _rss_mib() -> float:
    """Current resident memory, from /proc (Linux)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _reset_peak():
    """Starts a new peak (Linux: writing 5 to clear_refs resets VmHWM)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _peak_mib() -> float:
    """The peak resident memory since the last `_reset_peak` (VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(data_dir: str, cache_dir: str):
    """Measures one size in this process; prints one JSON line."""
    import keras
    import keras_hub

    import keras_bam

    tokenizer = keras_bam.load_tokenizer()
    result = {"rss_start_mib": _rss_mib()}

    _reset_peak()
    start = time.perf_counter()
    examples = keras_bam.data.read_glue_tsv("mnli", "train", data_dir)
    seconds = time.perf_counter() - start
    result.update(
        rows=len(examples),
        read_rows_per_s=len(examples) / seconds,
        rss_after_read_mib=_rss_mib(),
        read_peak_mib=_peak_mib(),
    )

    before = _rss_mib()
    _reset_peak()
    start = time.perf_counter()
    # Encoded (chunk by chunk) and written to the cache, as a first run does.
    encoded = keras_bam.data.EncodedCache(cache_dir).encode(examples, tokenizer, 128)
    seconds = time.perf_counter() - start
    result.update(
        encode_pairs_per_s=len(examples) / seconds,
        encoded_mib=sum(getattr(encoded, name).nbytes for name in ARRAYS) / 2**20,
        # The encoding is on disk, memory-mapped: nothing of it is subtracted.
        encode_working_mib=_peak_mib() - before,
    )

    # Opened memory-mapped, as a later run does.
    del encoded
    before = _rss_mib()
    _reset_peak()
    start = time.perf_counter()
    cache = keras_bam.data.EncodedCache(cache_dir)
    encoded = cache.encode(examples, tokenizer, 128)
    assert cache.hits == 1 and isinstance(encoded.token_ids, np.memmap)
    result.update(
        cache_open_s=time.perf_counter() - start,
        cache_open_resident_mib=_rss_mib() - before,
        cache_open_peak_mib=_peak_mib() - before,
    )

    _reset_peak()
    batches = keras_bam.data.BucketedBatches(
        encoded, examples.labels, batch_size=32, shuffle=True
    )
    start = time.perf_counter()
    for index in range(len(batches)):
        batches[index]
    seconds = time.perf_counter() - start
    result.update(
        batches=len(batches),
        batches_per_s=len(batches) / seconds,
        padding_fraction=batches.padding_fraction,
        batches_peak_mib=_peak_mib(),
    )

    # Teacher predictions, written chunk by chunk, by a tiny random BERT (the
    # model's own cost is not the point; the writer's memory and rate are).
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=tokenizer.vocabulary_size(),
        num_layers=1,
        num_heads=1,
        hidden_dim=16,
        intermediate_dim=16,
        max_sequence_length=128,
    )
    model = keras_bam.SingleTaskModel(backbone, "mnli")
    before = _rss_mib()
    _reset_peak()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=cache_dir) as out:
        keras_bam.evaluation.write_teacher_predictions(
            model, examples, encoded, os.path.join(out, "mnli_train_teacher.npz")
        )
    result.update(
        predict_examples_per_s=len(examples) / (time.perf_counter() - start),
        predict_peak_mib=_peak_mib(),
        predict_working_mib=_peak_mib() - before,
    )
    result["peak_mib"] = max(
        result["read_peak_mib"],
        result["batches_peak_mib"],
        result["predict_peak_mib"],
        before + result["cache_open_peak_mib"],
    )
    print("RESULT " + json.dumps(result), flush=True)


def run(args):
    import keras_bam

    tokenizer = keras_bam.load_tokenizer()
    words = [
        w for w in tokenizer.get_vocabulary()[2000:] if w.isalpha() and w.islower()
    ]
    rows = []
    with tempfile.TemporaryDirectory(dir=args.work_dir) as work:
        for size in args.sizes:
            data_dir = os.path.join(work, str(size))
            path = os.path.join(data_dir, "MNLI", "train.tsv")
            write_synthetic_mnli(path, size, words)
            file_mib = os.path.getsize(path) / 2**20
            output = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "child",
                    data_dir,
                    os.path.join(data_dir, "cache"),
                ],
                capture_output=True,
                text=True,
            )
            if output.returncode:
                raise SystemExit(f"size {size} failed:\n{output.stderr[-3000:]}")
            line = [x for x in output.stdout.splitlines() if x.startswith("RESULT")]
            row = {"size": size, "file_mib": file_mib}
            row.update(json.loads(line[-1][len("RESULT ") :]))
            rows.append(row)
            print(_format_row(row), flush=True)
            shutil.rmtree(data_dir)
    result = {
        "machine": {"cores": os.cpu_count(), "platform": platform.platform()},
        "command": portable(" ".join([os.path.basename(sys.executable)] + sys.argv)),
        "rows": rows,
    }
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {args.output}")
    if args.readme:
        render_readme(result, args.readme)


def _format_row(row) -> str:
    start = row["rss_start_mib"]
    return (
        f"| {row['size']:,} | {row['file_mib']:.0f} "
        f"| {row['read_rows_per_s']:,.0f} | {row['read_peak_mib'] - start:.0f} "
        f"| {row['rss_after_read_mib'] - start:.0f} "
        f"| {row['encode_pairs_per_s']:,.0f} | {row['encoded_mib']:.0f} "
        f"| {row['encode_working_mib']:.0f} "
        f"| {row['cache_open_s']:.1f} | {row['cache_open_resident_mib']:.0f} "
        f"| {row['batches_per_s']:,.0f} "
        f"| {row['predict_examples_per_s']:,.0f} "
        f"| {row['predict_working_mib']:.0f} "
        f"| {row['peak_mib']:.0f} |"
    )


def table(result) -> str:
    lines = [
        "| pairs | file MiB | read rows/s | read peak MiB | texts MiB "
        "| encode pairs/s | encoded MiB | encode working MiB | cache open s "
        "| cache open MiB | batches/s | predict+write ex/s | predict working MiB "
        "| peak RSS MiB |",
        "|" + "---|" * 14,
    ]
    lines += [_format_row(row) for row in result["rows"]]
    return "\n".join(lines)


def render_readme(result, readme: str):
    with open(readme) as f:
        text = f.read()
    if text.count(MARKER) != 2:
        raise SystemExit(f"{readme} needs two {MARKER} lines around the table.")
    before, _, rest = text.partition(MARKER)
    _, _, after = rest.partition(MARKER)
    body = f"\n{table(result)}\n\n`{result['command']}`\n"
    with open(readme, "w") as f:
        f.write(before + MARKER + body + MARKER + after)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        child(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[50000, 100000, 200000, 400000]
    )
    parser.add_argument("--work-dir", default=None, help="where the files go")
    parser.add_argument(
        "--output", default=os.path.join("benchmarks", "results", "big_task_cpu2.json")
    )
    parser.add_argument(
        "--readme",
        default=None,
        help="fill this file's big-task table (benchmarks/README.md holds it)",
    )
    parser.add_argument("--show", default=None, help="re-render a stored result")
    args = parser.parse_args()
    if args.show:
        with open(args.show) as f:
            result = json.load(f)
        print(table(result))
        if args.readme:
            render_readme(result, args.readme)
        return
    run(args)


if __name__ == "__main__":
    main()
