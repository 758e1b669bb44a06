"""The probes' tables, from their stored result."""

from __future__ import annotations


def merge_rounds(before: dict | None, now: dict) -> dict:
    """One round's results added to the earlier rounds' (seconds appended)."""
    if before is None:
        return {
            k: {**v, "warmup_seconds": [v["warmup_seconds"]]} for k, v in now.items()
        }
    for key, value in now.items():
        before[key]["seconds"] += value["seconds"]
        before[key]["warmup_seconds"].append(value["warmup_seconds"])
    return before


def spread(values) -> str:
    return f"{min(values):.2f}–{max(values):.2f}"


def report(result: dict) -> str:
    lines = [f"**{result['label']}**: `{result['command']}`", ""]
    autotune = result["probes"].get("autotune")
    if autotune:
        lines += [
            "| tf.data autotuning | predict calls (s) | slow calls | fit epochs (s) "
            "| slow epochs | first batch (s) |",
            "|---|---|---|---|---|---|",
        ]
        for key in ("off", "on"):
            p = autotune[key]
            fast = min(p["predict_seconds"])
            slow_calls = sum(s > 1.4 * fast for s in p["predict_seconds"])
            fastest_epoch = min(p["epoch_seconds"])
            slow_epochs = sum(s > 1.4 * fastest_epoch for s in p["epoch_seconds"])
            lines.append(
                f"| {key} | {spread(p['predict_seconds'])} | "
                f"{slow_calls} of {len(p['predict_seconds'])} | "
                f"{spread(p['epoch_seconds'])} | "
                f"{slow_epochs} of {len(p['epoch_seconds'])} | "
                f"{spread(p['first_batch_seconds'])} |"
            )
        lines.append("")
    shapes = result["probes"].get("shapes")
    if shapes:
        lines += [
            "| JAX prediction batch | ms (median) | padded tokens/s |",
            "|---|---|---|",
        ]
        for p in shapes.values():
            rate = p["rows"] * p["length"] / (p["median_ms"] / 1000)
            lines.append(
                f"| ({p['rows']}, {p['length']}) | {p['median_ms']:.1f} | {rate:,.0f} |"
            )
    kernels = result["probes"].get("kernels")
    if kernels:
        lines += [
            "",
            "| product at a (32, 64) batch | XLA (JAX) ms | PyTorch ms |",
            "|---|---|---|",
        ]
        for op in kernels[0]["xla"]:
            xla_ms = [k["xla"][op] for k in kernels]
            torch_ms = [k["torch"][op] for k in kernels]
            lines.append(f"| {op} | {spread(xla_ms)} | {spread(torch_ms)} |")
        forward = [k["forward_ms"] for k in kernels]
        compile_s = [c["compile_s"] for k in kernels for c in k["compile"].values()]
        lines += [
            "",
            f"Ranges over {len(kernels)} processes. keras-bam's jitted JAX forward of "
            f"a (32, 64) batch: {spread(forward)} ms; one more prediction shape "
            f"compiles in {spread(compile_s)} s ({', '.join(kernels[0]['compile'])}).",
        ]
    flags = result["probes"].get("xla-flags")
    if flags:
        lines += [
            "",
            "| XLA_FLAGS (own process, in run order) | JAX forward (32, 64) ms |",
        ]
        lines.append("|---|---|")
        for p in flags:
            lines.append(f"| `{p['xla_flags'] or '(none)'}` | {p['forward_ms']:.1f} |")
    tf_ops = result["probes"].get("tf-ops")
    if tf_ops:
        ops = tf_ops["op_ms_by_type"]
        products = sum(v for k, v in ops.items() if "MatMul" in k)
        lines += [
            "",
            f"TensorFlow forward of a (32, 64) batch: {tf_ops['forward_ms']:.1f} ms "
            f"(`jit_compile=True`: {tf_ops['jit_compile_forward_ms']:.1f} ms); op time "
            f"summed over its threads: products {products:.1f} ms, everything else "
            f"{sum(ops.values()) - products:.1f} ms ("
            + ", ".join(
                f"{k} {v:.1f}" for k, v in list(ops.items())[:12] if "MatMul" not in k
            )
            + ").",
        ]
    layouts = [
        p
        for name in ("prediction-layout-tf", "prediction-layout-jax")
        for p in result["probes"].get(name, {}).values()
    ]
    if layouts:
        lines += [
            "",
            "| prediction | task | layout | jit_compile | default | shapes "
            "| padding | s per pass (min) | tokens/s |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for p in layouts:
            seconds = min(p["seconds"])
            padding = 1 - p["real_tokens"] / p["padded_tokens"]
            lines.append(
                f"| {p['backend']} | {p['task']} | {p['layout']} | {p['jit_compile']} "
                f"| {'yes' if p['default'] else ''} | {p['shapes']} | {padding:.0%} "
                f"| {seconds:.2f} | {p['real_tokens'] / seconds:,.0f} |"
            )
    bound = {
        **result["probes"].get("padding-bound-keras", {}),
        **result["probes"].get("padding-bound-torch", {}),
    }
    if bound:
        lines += ["", padding_bound_table(bound)]
    return "\n".join(lines)


def padding_bound_table(bound: dict) -> str:
    """Prediction tokens/s per system and plan, per task and summed, against
    the peer in dataset order."""
    import numpy as np

    rows = {}
    for p in bound.values():
        key = (p["system"], p["plan"])
        row = rows.setdefault(key, {"real": 0, "padded": 0, "seconds": 0.0})
        seconds = float(np.median(p["seconds"]))
        row[p["task"]] = (p["real_tokens"] / seconds, p["padded_tokens"], p["shapes"])
        row["real"] += p["real_tokens"]
        row["padded"] += p["padded_tokens"]
        row["seconds"] += seconds
    peer = rows.get(("transformers + PyTorch", "dataset order"))
    lines = [
        "| prediction | plan | mrpc tokens/s | cola tokens/s | mrpc+cola tokens/s "
        "| padding | shapes | x peer |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (system, plan), row in rows.items():
        rate = row["real"] / row["seconds"]
        ratio = rate / (peer["real"] / peer["seconds"]) if peer else float("nan")
        shapes = sum(row[t][2] for t in ("mrpc", "cola"))
        lines.append(
            f"| {system} | {plan} | {row['mrpc'][0]:,.0f} | {row['cola'][0]:,.0f} "
            f"| {rate:,.0f} | {1 - row['real'] / row['padded']:.0%} | {shapes} "
            f"| {ratio:.2f} |"
        )
    return "\n".join(lines)
