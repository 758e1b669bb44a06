"""The dev table of whole BAM runs (teachers, multi-task and BAM students).

`--collect RUN_DIR` copies a run's `results.json` (written by `examples/glue.py` /
`keras_bam.run_glue`) into `benchmarks/results/glue_<backend>_<setting>_seed<n>.json`
with the machine and the command; then every collected run is tabulated, and
`--readme README.md` writes the table between README.md's `<!-- student-table -->`
markers.

    python benchmarks/glue_table.py --collect RUN_DIR --setting paper-3ep \
        --command "python examples/glue.py --paper --student-epochs 3"
    python benchmarks/glue_table.py --readme README.md
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform

from provenance import portable

from keras_bam.tasks import get_task
from keras_bam.training.glue_run import STUDENT_LABELS

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


def collect(run_dir: str, setting: str, command: str) -> str:
    with open(os.path.join(run_dir, "results.json")) as f:
        results = json.load(f)
    seed = results["student_recipe"]["seed"]
    results["setting"] = setting
    results["command"] = command
    results["machine"] = f"cpu:{os.cpu_count()} cores ({platform.processor() or 'x86'})"
    path = os.path.join(RESULTS, f"glue_{results['backend']}_{setting}_seed{seed}.json")
    with open(path, "w") as f:
        json.dump(portable(results), f, indent=2)
    return path


def metric_cell(splits: dict, metrics: list) -> str:
    return ", ".join(
        "/".join(f"{100 * m[k]:.1f}" for k in metrics if k in m)
        for m in splits.values()
    )


def table(paths: list) -> str:
    lines = []
    for path in paths:
        with open(path) as f:
            results = json.load(f)
        tasks = results["tasks"]
        header = (
            ["system"]
            + [get_task(t).display_name for t in tasks]
            + ["average", "Δ avg"]
        )
        lines += [
            f"**{results['setting']}**, {results['backend']}, {results['machine']}, "
            f"seed {results['student_recipe']['seed']}: `{results['command']}`",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
        ]
        base = results["scores"]["teachers"]["average"]
        for system, scores in results["scores"].items():
            metrics = results["dev_metrics"][system]
            cells = [STUDENT_LABELS.get(system, system)]
            for task in tasks:
                names = [k for k in next(iter(metrics[task].values())) if k != "score"]
                cells.append(metric_cell(metrics[task], names))
            delta = (
                ""
                if system == "teachers"
                else f"{100 * (scores['average'] - base):+.1f}"
            )
            cells += [f"{100 * scores['average']:.1f}", delta]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines).strip()


def write_readme(readme: str, text: str):
    with open(readme) as f:
        content = f.read()
    start, end = "<!-- student-table -->", "<!-- /student-table -->"
    before, rest = content.split(start)
    _, after = rest.split(end)
    with open(readme, "w") as f:
        f.write(f"{before}{start}\n{text}\n{end}{after}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collect", default=None, help="a run's output folder")
    parser.add_argument("--setting", default="run")
    parser.add_argument("--command", default="")
    parser.add_argument("--readme", default=None)
    args = parser.parse_args()
    if args.collect:
        print("collected", collect(args.collect, args.setting, args.command))
    paths = sorted(glob.glob(os.path.join(RESULTS, "glue_*_seed*.json")))
    text = table(paths)
    print(text)
    if args.readme:
        write_readme(args.readme, text)
    summary = {}
    for path in paths:
        with open(path) as f:
            summary[os.path.basename(path)] = json.load(f)["scores"]
    with open(os.path.join(RESULTS, "glue_summary.json"), "w") as f:
        json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
