"""Summarizes teacher runs (`teacher_*.json` in benchmarks/results/) as a table.

Prints a Markdown table of dev scores, mean ± standard deviation over seeds, for
keras-bam on each backend and the Hugging Face peer, and the difference of each
keras-bam system from the peer; writes the same as `teachers_summary.json`.
`--readme README.md` also writes the table between README.md's
`<!-- teacher-table -->` markers.

    python benchmarks/teacher_table.py --readme README.md
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TASK_ORDER = ["rte", "mrpc", "stsb", "cola"]
HEADLINE = {
    "rte": ("accuracy",),
    "mrpc": ("f1", "accuracy"),
    "stsb": ("pearson", "spearman"),
    "cola": ("matthews_corrcoef",),
}
DISPLAY = {"rte": "RTE", "mrpc": "MRPC", "stsb": "STS-B", "cola": "CoLA"}
METRIC_NAMES = {
    "matthews_corrcoef": "Matthews",
    "f1": "F1",
    "accuracy": "accuracy",
    "pearson": "Pearson",
    "spearman": "Spearman",
}
PEER = "transformers + PyTorch"


def load_runs(results_dir):
    runs = collections.defaultdict(lambda: collections.defaultdict(dict))
    for path in sorted(glob.glob(os.path.join(results_dir, "teacher_*.json"))):
        with open(path) as f:
            record = json.load(f)
        system = f"{record['system']} [{record['device']}]"
        runs[system][record["task"]][record["seed"]] = record
    return runs


def summarize(runs):
    summary = {}
    for system, tasks in runs.items():
        summary[system] = {}
        for task, seeds in tasks.items():
            metrics = HEADLINE.get(task) or tuple(
                next(iter(seeds.values()))["dev_metrics"]["dev"]
            )
            values = {
                m: [100 * r["dev_metrics"]["dev"][m] for r in seeds.values()]
                for m in metrics + ("score",)
            }
            summary[system][task] = {
                "seeds": sorted(seeds),
                "mean": {m: float(np.mean(v)) for m, v in values.items()},
                "std": {
                    m: float(np.std(v, ddof=1)) if len(v) > 1 else None
                    for m, v in values.items()
                },
                "train_seconds": float(
                    np.mean([r["train_seconds"] for r in seeds.values()])
                ),
            }
    return summary


def markdown(summary):
    tasks = [t for t in TASK_ORDER if any(t in s for s in summary.values())]
    header = "| system | " + " | ".join(
        f"{DISPLAY[t]} ({'/'.join(METRIC_NAMES[m] for m in HEADLINE[t])})"
        for t in tasks
    )
    lines = [header + " | average |", "|---" * (len(tasks) + 2) + "|"]
    for system, by_task in sorted(summary.items()):
        cells, scores = [], []
        for task in tasks:
            if task not in by_task:
                cells.append("–")
                continue
            entry = by_task[task]
            parts = []
            for metric in HEADLINE[task]:
                mean, std = entry["mean"][metric], entry["std"][metric]
                spread = f" ± {std:.1f}" if std is not None else ""
                parts.append(f"{mean:.1f}{spread}")
            seeds = len(entry["seeds"])
            cells.append(" / ".join(parts) + f" (n={seeds})")
            scores.append(entry["mean"]["score"])
        average = f"{np.mean(scores):.1f}" if len(scores) == len(tasks) else "–"
        lines.append(f"| {system} | " + " | ".join(cells) + f" | {average} |")
    return "\n".join(lines)


def update_readme(path, table):
    """Replaces the text between `<!-- teacher-table -->` and its closing marker."""
    start, end = "<!-- teacher-table -->\n", "<!-- /teacher-table -->"
    with open(path) as f:
        text = f.read()
    if start not in text or end not in text:
        raise ValueError(f"{path} has no teacher-table markers.")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    with open(path, "w") as f:
        f.write(head + start + table + "\n" + end + tail)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", default=os.path.join(HERE, "results"))
    parser.add_argument(
        "--readme",
        default=None,
        help="also write the table between this file's teacher-table markers "
        "(README.md holds them)",
    )
    args = parser.parse_args(argv)
    summary = summarize(load_runs(args.results_dir))
    peers = [s for s in summary if s.startswith(PEER)]
    deltas = {}
    if peers:
        peer = summary[peers[0]]
        for system, by_task in summary.items():
            if system in peers:
                continue
            deltas[system] = {
                task: entry["mean"]["score"] - peer[task]["mean"]["score"]
                for task, entry in by_task.items()
                if task in peer
            }
    with open(os.path.join(args.results_dir, "teachers_summary.json"), "w") as f:
        json.dump({"summary": summary, "score_minus_peer": deltas}, f, indent=2)
    table = markdown(summary)
    print(table)
    if args.readme:
        update_readme(args.readme, table)
    for system, by_task in deltas.items():
        text = ", ".join(f"{t} {d:+.1f}" for t, d in by_task.items())
        print(f"\n{system} minus peer (GLUE score points): {text}")


if __name__ == "__main__":
    main()
