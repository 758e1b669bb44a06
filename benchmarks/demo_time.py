"""The main job's quick setting: how long it takes, its memory, what it prints.

Runs `examples/glue.py` (what `make demo` runs) in a fresh process, in a new
folder (so its output, encoded examples and JAX's compiled programs start
empty), on GLUE's folder (`KERAS_BAM_DATA_DIR`, else `../shared/glue`), and
records its wall time, the
peak resident memory of its process, when each phase began (from its log: the
teachers, the students, the table) and every line of its output that is not the
run's own: other libraries' start-up lines and TensorFlow's retracing warnings,
which the job should not print.

    python benchmarks/demo_time.py --backend tensorflow \
        --json benchmarks/results/demo_time_tensorflow.json

Set-up (`make install`) is not counted. `--clean-clone` measures what a new
user meets instead: `make demo` (set-up, then the job) in a fresh clone of this
checkout's commit, beside it (so `../shared/glue` is found), its `.venv`
created and installed from the package index by the Makefile:

    python benchmarks/demo_time.py --clean-clone \
        --json benchmarks/results/demo_time_clean_clone_tensorflow.json
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
import time

from provenance import ROOT
from provenance import code_version
from provenance import machine

# The first line of each phase in the job's log.
PHASES = {
    "teachers": re.compile(r"^\w[\w-]* train: read "),
    "students": re.compile(r"^Student on "),
    "table": re.compile(r"^\| system "),
}
# make's echo of the job's command, after the set-up (`--clean-clone`).
JOB = re.compile(r"python examples/glue\.py")
# What the job itself prints: keras-bam's log lines, Keras's progress, the table.
OWN = re.compile(
    r"^(\w[\w-]* (train|dev|test|teacher|train_swapped)\b|Student |Epoch \d|\d+/\d+ |"
    r"Encoded |Quick setting|\||Everything is in|Resuming|Exported|Wrote|Saved)"
)


def cpu() -> str:
    """The processor's model name, and whether it has AVX-512."""
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        return "unknown"
    model = re.search(r"^model name\s*:\s*(.+)$", info, re.MULTILINE)
    avx512 = "with AVX-512" if "avx512f" in info else "without AVX-512"
    return f"{model.group(1) if model else 'unknown'}, {avx512}"


def run_demo(backend: str, extra: list, clean_clone: bool = False) -> dict:
    """Runs the quick setting once on a cold cache (with `clean_clone`, `make
    demo` in a fresh clone); returns its measurements."""
    parent = os.path.dirname(ROOT) if clean_clone else None
    with tempfile.TemporaryDirectory(prefix=".demo-time-", dir=parent) as folder:
        data_dir = os.environ.get("KERAS_BAM_DATA_DIR") or os.path.join(
            os.path.dirname(ROOT), "shared", "glue"
        )
        command = [
            sys.executable,
            os.path.join(ROOT, "examples", "glue.py"),
            "--data-dir",
            os.path.abspath(data_dir),
            *extra,
        ]
        env = {**os.environ, "KERAS_BACKEND": backend}
        if clean_clone:
            head = code_version()
            subprocess.run(["git", "clone", "-q", ROOT, folder], check=True)
            subprocess.run(["git", "checkout", "-q", head], cwd=folder, check=True)
            command = ["make", "demo", f"BACKEND={backend}", f"ARGS={' '.join(extra)}"]
            env.pop("VIRTUAL_ENV", None)
        start = time.monotonic()
        phases, others, lines = {}, [], 0
        with subprocess.Popen(
            command,
            cwd=folder,  # Its runs/, .cache/encoded and .cache/xla.
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as job:
            for line in job.stdout:
                line = line.rstrip("\n")
                lines += 1
                if clean_clone and "job" not in phases:
                    # Set-up's lines (pip's), up to make's echo of the job.
                    if JOB.search(line):
                        phases["job"] = round(time.monotonic() - start, 1)
                    continue
                for phase, pattern in PHASES.items():
                    if phase not in phases and pattern.search(line):
                        phases[phase] = round(time.monotonic() - start, 1)
                if line.strip() and not OWN.search(line):
                    others.append(line[:200])
        wall = time.monotonic() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "command": " ".join(command[:2] if clean_clone else ["examples/glue.py"])
        + "".join(f" {e}" for e in extra),
        "set_up_counted": clean_clone,
        "backend": backend,
        "exit_status": job.returncode,
        "wall_seconds": round(wall, 1),
        "peak_rss_mib": round(peak),
        "phase_start_seconds": phases,
        "output_lines": lines,
        "lines_not_the_jobs": others,
        "retracing_warnings": sum("retracing" in line for line in others),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="tensorflow")
    parser.add_argument("--json", help="where to write the result")
    parser.add_argument(
        "--clean-clone",
        action="store_true",
        help="`make demo` in a fresh clone of this commit: set-up counted",
    )
    parser.add_argument("extra", nargs="*", help="more options for examples/glue.py")
    args = parser.parse_args(argv)
    result = {
        "code_version": code_version(),
        "machine": machine(),
        "cpu": cpu(),
        **run_demo(args.backend, args.extra, args.clean_clone),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
