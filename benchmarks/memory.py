"""Peak resident memory of the main job (`make demo`) and of a paper-recipe run.

Each configuration runs `examples/glue.py` in its own child process with a fresh
output folder and a fresh encoded-data cache (so reading and encoding are
included, as on a first run). The parent samples the child's resident memory
(VmRSS) every `--interval` seconds, matching each sample to the phase the job's
log last announced (teachers, then students), and reads the
child's exact peak from `getrusage(RUSAGE_CHILDREN)` when it ends.

Configurations:
- **demo**: `make demo`'s command: four tasks (RTE, MRPC, STS-B, CoLA), the
  quick setting (400 training examples per task, 2 teacher and 2 student
  epochs, the students' steps in 4 micro-batches), both students, export and
  submission files.
- **paper**: the same four tasks with `--paper` (BAM's recipes: batch 128 for
  the student, length 128, ...), on the first `--paper-train-limit` training
  examples of each task and one epoch each, so that it finishes on a CPU: the
  memory of a step does not depend on the number of epochs, and the data's own
  memory at full size is what `big_task.py` measures.

Usage:
    KERAS_BACKEND=tensorflow python benchmarks/memory.py --configs demo paper \
        --output benchmarks/results/memory_cpu2.json --readme benchmarks/README.md
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time

from docs_tables import write_between_markers
from provenance import code_version
from provenance import machine
from provenance import portable

MARKER = "<!-- memory-table -->"
TASKS = ("rte", "mrpc", "stsb", "cola")
# Log lines that start a phase, as `run_glue` writes them at the INFO level
# (a teacher's phase includes its predictions; a student's its export).
PHASES = (
    (re.compile(r"^(\S+) teacher: \d+ examples"), "teacher"),
    (re.compile(r"^Student on "), "student"),
)


def job_command(config: str, output_dir: str, cache_dir: str, args) -> list:
    """The `examples/glue.py` command line of one configuration."""
    command = [
        sys.executable,
        "examples/glue.py",
        "--tasks",
        *TASKS,
        "--output-dir",
        output_dir,
        "--cache-dir",
        cache_dir,
    ]
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    if config == "paper":
        command += [
            "--paper",
            "--train-limit",
            str(args.paper_train_limit),
            "--train-sample-seed",
            "0",
            "--teacher-epochs",
            "1",
            "--student-epochs",
            "1",
        ]
    elif config != "demo":
        raise ValueError(f"Unknown configuration {config!r}; use demo or paper.")
    return command


def _rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def measure(config: str, args) -> dict:
    """Runs one configuration in a child process; its peak memory per phase."""
    commit = code_version()  # The code the child runs (HEAD may move meanwhile).
    with tempfile.TemporaryDirectory(prefix=f"keras-bam-memory-{config}-") as tmp:
        command = job_command(
            config, os.path.join(tmp, "out"), os.path.join(tmp, "cache"), args
        )
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        start = time.perf_counter()
        child = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        phase = {"name": "start"}
        samples = []
        log = []

        def sample():
            while child.poll() is None:
                rss = _rss_mib(child.pid)
                if rss is not None:
                    samples.append(
                        (round(time.perf_counter() - start, 1), phase["name"], rss)
                    )
                time.sleep(args.interval)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        for line in child.stdout:
            log.append(line.rstrip("\n"))
            if args.echo:
                print(line, end="", flush=True)
            for pattern, name in PHASES:
                if pattern.search(line):
                    phase["name"] = name
                    break
        returncode = child.wait()
        sampler.join()
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if returncode != 0:
        tail = "\n".join(log[-30:])
        raise SystemExit(f"{config}: the job exited with {returncode}:\n{tail}")
    phases = {}
    for _, name, rss in samples:
        phases[name] = max(phases.get(name, 0.0), rss)
    return {
        "config": config,
        "commit": commit,
        "command": portable(" ".join(command[1:])),
        "seconds": round(seconds, 1),
        # ru_maxrss is the largest peak of any waited-for child (KiB); when an
        # earlier child peaked higher it hides this one's, so fall back on samples.
        "peak_rss_mib": round(
            (peak / 1024) if peak > before else max(phases.values()), 1
        ),
        "sampled_peak_by_phase_mib": {k: round(v, 1) for k, v in phases.items()},
        "samples": samples,
        "log_tail": portable(log[-12:]),
    }


def table(result) -> str:
    rows = [
        "| run | peak RSS MiB | goal MiB | by phase (sampled peak, MiB) | seconds "
        "| commit |",
        "|---|---:|---:|---|---:|---|",
    ]
    for run in result["runs"]:
        goal = result["goals_mib"][run["config"]]
        phases = ", ".join(
            f"{k} {v:,.0f}" for k, v in run["sampled_peak_by_phase_mib"].items()
        )
        verdict = "PASS" if run["peak_rss_mib"] < goal else "FAIL"
        rows.append(
            f"| {run['config']} | {run['peak_rss_mib']:,.0f} ({verdict}) | "
            f"{goal:,} | {phases} | {run['seconds']:.0f} | "
            f"{run.get('commit', result['commit'])} |"
        )
    return "\n".join(rows)


def render_readme(result, readme: str):
    command = "KERAS_BACKEND={} python benchmarks/memory.py --configs CONFIG".format(
        result["backend"]
    )
    body = (
        f"\n**{result['label']}**, {result['machine']}, backend {result['backend']}, "
        f"each run measured at its commit by `{command}`\n\n{table(result)}\n"
    )
    write_between_markers(readme, MARKER, body)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["demo", "paper"])
    parser.add_argument("--paper-train-limit", type=int, default=1024)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--label", default="cpu2")
    parser.add_argument("--output", default="benchmarks/results/memory_cpu2.json")
    parser.add_argument("--readme", default=None)
    parser.add_argument("--echo", action="store_true", help="print the job's log")
    args = parser.parse_args()
    result = {
        "label": args.label,
        "machine": machine(),
        "backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
        "commit": code_version(),
        "argv": portable(sys.argv[1:]),
        # The goals, 3 GB and 4 GB (10**9 bytes), in MiB.
        "goals_mib": {"demo": 2861, "paper": 3815},
        "runs": [],
    }
    # Configurations not measured now keep their earlier runs (and commits).
    if os.path.exists(args.output):
        with open(args.output) as f:
            earlier = json.load(f)
        if (earlier["label"], earlier["backend"]) == (args.label, result["backend"]):
            for run in earlier["runs"]:
                run.setdefault("commit", earlier["commit"])
            result["runs"] = [
                r for r in earlier["runs"] if r["config"] not in args.configs
            ]
    for config in args.configs:
        result["runs"] = [r for r in result["runs"] if r["config"] != config]
        result["runs"].append(measure(config, args))
        result["runs"].sort(key=lambda r: ("demo", "paper").index(r["config"]))
        os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
        with open(args.output, "w") as f:
            json.dump(result, f, indent=1)
        print(table(result), flush=True)
    if args.readme:
        render_readme(result, args.readme)


if __name__ == "__main__":
    main()
