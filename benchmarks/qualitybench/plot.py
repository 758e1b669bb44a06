"""The quality protocol's plot: per-task scores with error bars, and λ over
training."""

from __future__ import annotations

import numpy as np

import keras_bam
from qualitybench.setting import LABELS
from qualitybench.setting import SYSTEMS


def plot(results: dict, summary: dict, path: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: I001 (after choosing the backend)

    tasks = summary["setting"]["tasks"]
    keys = [*tasks, "average"]
    systems = list(summary["systems"])
    fig, (bars, lam) = plt.subplots(
        1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [2.2, 1]}
    )
    width = 0.8 / len(systems)
    x = np.arange(len(keys))
    for i, system in enumerate(systems):
        row = summary["systems"][system]
        means = [100 * row[k]["mean"] for k in keys]
        sds = [100 * np.nan_to_num(row[k]["sd"]) for k in keys]
        bars.bar(
            x + i * width,
            means,
            width,
            yerr=sds,
            capsize=2,
            label=row["label"],
            color=f"C{SYSTEMS.index(system)}",
        )
    bars.set_xticks(x + width * (len(systems) - 1) / 2)
    bars.set_xticklabels(
        [keras_bam.get_task(t).display_name for t in tasks] + ["GLUE avg"]
    )
    bars.set_ylabel("dev score ×100 (mean ± sd over seeds)")
    bars.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=4)
    for system in ("bam", "distilled", "uninformative", "oof_bam", "multitask"):
        seeds = results.get(system)
        if not seeds:
            continue
        first = seeds[min(seeds)]
        values = first.get("gold_weight_per_step") or []
        if values:
            start = first.get("gold_weight_first_step", 0)
            lam.plot(
                np.arange(start + 1, start + len(values) + 1),
                values,
                label=LABELS[system],
                color=f"C{SYSTEMS.index(system)}",
            )
    lam.set_xlabel("training step")
    lam.set_ylabel("λ (weight of the gold label)")
    lam.set_title("λ over training (first seed)")
    lam.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
