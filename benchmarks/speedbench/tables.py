"""The speed benchmark's results: rows derived from the children's measurements
(throughputs, padding, compile time, MFU; per-task runs summed where a system has
no native multi-task one), the project's targets, and the Markdown table and report
(printed, and written between a README's markers)."""

from __future__ import annotations

import re
import statistics

from speedbench.flops import useful_flops

PEER = "hf-torch"
BAM_OVER_PEER = 1.5
BAM_OVER_GROUPED_PEER = 1.0
BAM_OVER_SINGLE = 1.05
PREDICT_OVER_PEER = 1.3
# The most input shapes JAX may compile for the BAM step on one task mix.
MAX_BAM_SHAPES = 2
# The BAM step's model-FLOPs utilization on a GPU, against its matmul peak.
GPU_MFU = 0.25
# The most that op determinism may cost to be on by default.
DETERMINISM_COST = 1.10
VARIANT_LABELS = {
    "single": "keras-bam single-task",
    "single-bam-batches": "keras-bam single-task, BAM's batches",
    "bam": "keras-bam BAM (annealed)",
    "keras-hub": "KerasHub BertTextClassifier",
    "hf": "transformers + PyTorch",
    "hf-grouped": "transformers + PyTorch, group_by_length",
}
README_MARKER = "speed-table"


def derive(record: dict, shape: dict, peaks: dict) -> dict:
    """Throughputs, padding, compile time and MFU of one measurement."""
    seconds = statistics.median(record["pass_seconds"])
    padded = statistics.mean(record["padded_tokens"])
    flops = useful_flops(
        shape, record["mode"], record["real_tokens"], record["sum_sq_lengths"]
    )
    peak = peaks.get("gpu_peak") if record.get("device") in ("gpu", "cuda") else None
    peak = peak or peaks.get("cpu_peak")
    warmup = record["warmup_passes"]
    return {
        "system": record["system"],
        "variant": record["variant"],
        "backend": record["backend"],
        "device": record.get("device"),
        "mode": record["mode"],
        "workload": record["workload"],
        "summed": record.get("summed", False),
        "pass_seconds": seconds,
        "examples_per_second": record["examples"] / seconds,
        "tokens_per_second": record["real_tokens"] / seconds,
        "padded_tokens_per_second": padded / seconds,
        "padding_share": 1.0 - record["real_tokens"] / padded,
        "warmup_seconds": record["warmup_seconds"],
        "compile_seconds": max(0.0, record["warmup_seconds"] - warmup * seconds),
        "shapes": len(record["shapes"]) if "shapes" in record else None,
        "useful_gflops_per_second": flops / seconds / 1e9,
        "mfu": flops / seconds / 1e9 / peak if peak else None,
    }


def summed(records: list) -> dict:
    """One record for several per-task records: tokens and seconds added up."""
    first = records[0]
    passes = min(len(r["pass_seconds"]) for r in records)
    return {
        **first,
        "workload": "+".join(r["workload"] for r in records),
        "summed": True,
        "examples": sum(r["examples"] for r in records),
        "real_tokens": sum(r["real_tokens"] for r in records),
        "sum_sq_lengths": sum(r["sum_sq_lengths"] for r in records),
        "pass_seconds": [sum(statistics.median(r["pass_seconds"]) for r in records)]
        * passes,
        "padded_tokens": [sum(statistics.mean(r["padded_tokens"]) for r in records)],
        "warmup_seconds": sum(r["warmup_seconds"] for r in records),
    }


def add_sums(records: list, tasks: list) -> list:
    """Adds a summed multi-task record wherever a system has per-task records of a
    mode but no native multi-task one (KerasHub; every system's prediction)."""
    mixed = "+".join(tasks)
    if len(tasks) < 2:
        return records
    out = list(records)
    keys = {(r["system"], r["variant"], r["mode"]) for r in records}
    for system, variant, mode in sorted(keys):
        if variant not in ("single", "keras-hub", "hf"):
            continue
        group = [
            r
            for r in records
            if (r["system"], r["variant"], r["mode"]) == (system, variant, mode)
        ]
        if any(r["workload"] == mixed for r in group):
            continue
        if variant == "single" and mode == "train":
            continue  # keras-bam's single-task step runs natively on BAM's batches.
        per_task = [next((r for r in group if r["workload"] == t), None) for t in tasks]
        if all(per_task):
            out.append(summed(per_task))
    return out


def system_label(row: dict) -> str:
    label = VARIANT_LABELS[row["variant"]]
    if not row["variant"].startswith("hf"):
        label += f" ({row['backend']})"
    if row["system"].endswith("-deterministic"):
        label += ", op determinism"
    return label


def peer_row(rows: list, row: dict) -> dict | None:
    return next(
        (
            r
            for r in rows
            if r["system"] == PEER
            and r["variant"] == "hf"
            and r["mode"] == row["mode"]
            and r["workload"] == row["workload"]
        ),
        None,
    )


def targets(rows: list, tasks: list, systems: dict) -> list:
    """The project's targets, per keras-bam backend, as `(passed, text)` pairs."""
    mixed = "+".join(tasks)
    out = []

    def find(system, variant, mode):
        return next(
            (
                r
                for r in rows
                if r["system"] == system
                and r["variant"] == variant
                and r["mode"] == mode
                and r["workload"] == mixed
            ),
            None,
        )

    peer_train = find(PEER, "hf", "train")
    grouped_peer = find(PEER, "hf-grouped", "train")
    peer_predict = find(PEER, "hf", "predict")
    for system in ("keras-bam-tf", "keras-bam-jax"):
        bam = find(system, "bam", "train")
        same = find(system, "single-bam-batches", "train")
        predict = find(system, "single", "predict")
        backend = systems[system][1]
        if bam and peer_train:
            ratio = bam["tokens_per_second"] / peer_train["tokens_per_second"]
            out.append(
                (
                    ratio >= BAM_OVER_PEER,
                    f"BAM step ({backend}) {ratio:.2f}x the peer's non-padding "
                    f"tokens/s on {mixed}, random batches (target >= "
                    f"{BAM_OVER_PEER}x)",
                )
            )
        if bam and grouped_peer:
            ratio = bam["tokens_per_second"] / grouped_peer["tokens_per_second"]
            out.append(
                (
                    ratio >= BAM_OVER_GROUPED_PEER,
                    f"BAM step ({backend}) {ratio:.2f}x the peer's non-padding "
                    f"tokens/s on {mixed} with group_by_length (target >= "
                    f"{BAM_OVER_GROUPED_PEER}x)",
                )
            )
        if bam and bam.get("device") in ("gpu", "cuda") and bam["mfu"] is not None:
            out.append(
                (
                    bam["mfu"] >= GPU_MFU,
                    f"BAM step ({backend}) MFU {100 * bam['mfu']:.1f}% of the GPU's "
                    f"matmul peak (target >= {100 * GPU_MFU:.0f}%)",
                )
            )
        if bam and backend == "jax" and bam["shapes"] is not None:
            out.append(
                (
                    bam["shapes"] <= MAX_BAM_SHAPES,
                    f"BAM step ({backend}) compiled {bam['shapes']} input shapes "
                    f"on {mixed} (target <= {MAX_BAM_SHAPES})",
                )
            )
        if bam and same:
            ratio = bam["pass_seconds"] / same["pass_seconds"]
            out.append(
                (
                    ratio <= BAM_OVER_SINGLE,
                    f"BAM step ({backend}) {100 * (ratio - 1):+.1f}% time against "
                    f"the single-task step on the same batches (target <= "
                    f"+{100 * (BAM_OVER_SINGLE - 1):.0f}%)",
                )
            )
        deterministic = find(f"{system}-deterministic", "bam", "train")
        if bam and deterministic:
            ratio = deterministic["pass_seconds"] / bam["pass_seconds"]
            out.append(
                (
                    ratio <= DETERMINISM_COST,
                    f"BAM step ({backend}) {100 * (ratio - 1):+.1f}% time with op "
                    f"determinism (on by default if <= "
                    f"+{100 * (DETERMINISM_COST - 1):.0f}%)",
                )
            )
        if predict and peer_predict:
            ratio = predict["tokens_per_second"] / peer_predict["tokens_per_second"]
            out.append(
                (
                    ratio >= PREDICT_OVER_PEER,
                    f"prediction ({backend}) {ratio:.2f}x the peer's tokens/s on "
                    f"{mixed} (target >= {PREDICT_OVER_PEER}x)",
                )
            )
    return out


def table(rows: list) -> str:
    """The results as a Markdown table, with each row's tokens/s against the peer."""
    header = (
        "| system | mode | data | examples/s | tokens/s | padded tokens/s | padding "
        "| shapes | warm-up s | compile s | MFU | x peer |"
    )
    lines = [header, "|" + "---|" * 12]
    order = {"train": 0, "predict": 1}
    for row in sorted(
        rows, key=lambda r: (order[r["mode"]], "+" not in r["workload"], r["workload"])
    ):
        peer = peer_row(rows, row)
        ratio = (
            f"{row['tokens_per_second'] / peer['tokens_per_second']:.2f}"
            if peer
            else ""
        )
        mfu = f"{100 * row['mfu']:.1f}%" if row["mfu"] is not None else ""
        data = row["workload"] + (" (sum)" if row["summed"] else "")
        lines.append(
            f"| {system_label(row)} | {row['mode']} | {data} "
            f"| {row['examples_per_second']:.1f} | {row['tokens_per_second']:.0f} "
            f"| {row['padded_tokens_per_second']:.0f} "
            f"| {100 * row['padding_share']:.0f}% | {row.get('shapes') or ''} "
            f"| {row['warmup_seconds']:.1f} "
            f"| {row['compile_seconds']:.1f} | {mfu} | {ratio} |"
        )
    return "\n".join(lines)


def fill_readme(path: str, text: str, marker: str = README_MARKER) -> None:
    """Replaces what is between the `<!-- marker -->` markers of `path` with `text`."""
    start, end = f"<!-- {marker} -->", f"<!-- /{marker} -->"
    with open(path) as f:
        content = f.read()
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(content):
        raise ValueError(f"{path} has no {start} ... {end} markers.")
    block = f"{start}\n{text}\n{end}"
    with open(path, "w") as f:
        f.write(pattern.sub(lambda _: block, content, count=1))


def report_text(result: dict) -> str:
    """The heading, table and target lines of a stored result."""
    peaks, machine, cfg = result["peak"], result["machine"], result["config"]
    peak_text = (
        f"fp32 matmul peak {peaks['cpu_peak']:.0f} GFLOP/s (best of numpy/torch sgemm)"
        if peaks.get("cpu_peak")
        else "peak not measured"
    )
    on_gpu = any(r.get("device") in ("gpu", "cuda") for r in result["records"])
    if on_gpu and peaks.get("gpu_peak"):
        # MFU on a GPU is against the GPU's peak (see `derive`); the host's is aside.
        if cfg.get("precision") == "mixed_bfloat16":
            kind = "bf16 matmul peak", "PyTorch CUDA bfloat16 matmul"
        else:
            kind = "fp32 matmul peak", "PyTorch CUDA sgemm, TF32 off"
        peak_text = (
            f"{peaks.get('gpu_name') or 'GPU'} {kind[0]} "
            f"{peaks['gpu_peak'] / 1000:.1f} TFLOP/s ({kind[1]}; "
            f"the MFU column's denominator), host {peak_text}"
        )
    heading = (
        f"**{result['label']}**, {machine['cpu_model']}, {machine['cores']} cores, "
        f"{peak_text}; {', '.join(cfg['tasks'])}: first {cfg['limit']} training "
        f"examples, batch {cfg['batch_size']}, length {cfg['max_length']}, "
        f"{cfg.get('precision', 'float32')}: "
        f"`{result['command']}`"
    )
    target_lines = [
        f"- {'PASS' if t['passed'] else 'FAIL'}: {t['text']}" for t in result["targets"]
    ]
    return "\n\n".join(
        [heading, table(result["rows"])]
        + (["\n".join(target_lines)] if target_lines else [])
    )


def show(result: dict, readme: str | None = None, marker: str = README_MARKER):
    """Prints a result's table; with `readme`, fills its `marker` markers."""
    text = report_text(result)
    print()
    print(text)
    if readme:
        fill_readme(readme, text, marker)
        print(f"Filled the speed table of {readme}")
