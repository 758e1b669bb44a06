"""How long the test suites take, as `make test` runs them: both backends at once.

Runs `pytest` on TensorFlow and on JAX side by side and writes each suite's
summary, its wall time and its slowest tests to a JSON file:

    python tools/test_times.py benchmarks/results/test_times_<name>.json

`--at COMMIT` times that commit's suite instead (checked out in a temporary
worktree beside this checkout, so `../shared` is found as usual); `--tests-of COMMIT`
runs only the tests that existed at COMMIT, found here by their name (a test
that moved to another file counts as the same test): the same tests at two
commits, for a like-for-like comparison of the suite's speed.

    python tools/test_times.py then.json --at <commit>
    python tools/test_times.py now-same-tests.json --tests-of <commit>
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.append(os.path.join(REPO, "benchmarks"))  # provenance.py, shared with them
from provenance import machine  # noqa: E402
from provenance import portable  # noqa: E402

SUMMARY = re.compile(r"^=*\s*(.*\d+ (?:passed|failed).* in ([\d.]+)s\b.*?)\s*=*$")
DURATION = re.compile(r"^([\d.]+)s (call|setup|teardown)\s+(\S+)")


def git(*args, cwd=REPO) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@contextlib.contextmanager
def worktree(commit: str):
    """A worktree of `commit` beside this checkout, for the time of the block
    (beside it, so that its tests find `../shared` as this checkout's do)."""
    path = tempfile.mkdtemp(prefix=f".test-times-{commit}-", dir=os.path.dirname(REPO))
    git("worktree", "add", "--force", "--detach", path, commit)
    try:
        yield path
    finally:
        git("worktree", "remove", "--force", path)
        shutil.rmtree(path, ignore_errors=True)


def collected(cwd: str) -> list:
    """The test ids `pytest` collects in `cwd`."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": "tensorflow"},
    )
    return [line for line in done.stdout.splitlines() if "::" in line]


def same_tests(old: list, new: list) -> tuple:
    """`old`'s tests among `new`: by id, else by name when one test has it.

    Returns:
        `(ids in new, old ids not found)`.
    """
    by_name = {}
    for test in new:
        by_name.setdefault(test.split("::", 1)[1], []).append(test)
    found, missing = [], []
    for test in old:
        named = by_name.get(test.split("::", 1)[1], [])
        if test in new:
            found.append(test)
        elif len(named) == 1:
            found.append(named[0])
        else:
            missing.append(test)
    return sorted(set(found)), missing


def suite_result(log: str, slowest: int) -> dict:
    """A suite's summary line, wall seconds and slowest tests, from its log."""
    lines = log.splitlines()
    summary = next((m for m in map(SUMMARY.match, reversed(lines)) if m), None)
    durations = [m for m in map(DURATION.match, lines) if m]
    return {
        "summary": summary.group(1) if summary else lines[-1:],
        "seconds": float(summary.group(2)) if summary else None,
        "slowest": [
            {"seconds": float(m.group(1)), "phase": m.group(2), "test": m.group(3)}
            for m in durations[:slowest]
        ],
    }


def run_suites(cwd: str, tests: list, slowest: int) -> dict:
    """Both backends' suites at once in `cwd`, as `make test` runs them."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += [f"--durations={slowest}", *tests]
    logs, processes = {}, {}
    for backend in ("tensorflow", "jax"):
        logs[backend] = tempfile.TemporaryFile(mode="w+")
        processes[backend] = subprocess.Popen(
            command,
            cwd=cwd,
            stdout=logs[backend],
            stderr=subprocess.STDOUT,
            # `cwd` first on the path of every process the suites start, so a
            # worktree's tests import its own package, not the editable install's.
            env={**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": cwd},
        )
    results = {}
    for backend, process in processes.items():
        process.wait()
        logs[backend].seek(0)
        results[backend] = suite_result(logs[backend].read(), slowest)
        results[backend]["exit_code"] = process.returncode
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("output", help="the JSON file to write")
    parser.add_argument(
        "--at", help="time this commit's suite (default: this checkout)"
    )
    parser.add_argument("--tests-of", help="only the tests that existed at this commit")
    parser.add_argument("--slowest", type=int, default=15)
    args = parser.parse_args(argv)
    tests, selection = [], {"tests": "all"}
    with contextlib.ExitStack() as stack:
        cwd = stack.enter_context(worktree(args.at)) if args.at else REPO
        if args.tests_of:
            with worktree(args.tests_of) as then:
                old = collected(then)
            tests, missing = same_tests(old, collected(cwd))
            selection = {
                "tests_of": args.tests_of,
                "collected_there": len(old),
                "run": len(tests),
                "not_found": missing,
            }
        result = {
            "date": datetime.date.today().isoformat(),
            "commit": git("rev-parse", "--short", "HEAD", cwd=cwd),
            "machine": machine(),
            "command": "python tools/test_times.py "
            + portable(" ".join(argv or sys.argv[1:])),
            "selection": selection,
            **run_suites(cwd, tests, args.slowest),
        }
    with open(args.output, "w") as f:
        json.dump(result, f, indent=2)
    for backend in ("tensorflow", "jax"):
        print(f"{backend}: {result[backend]['summary']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
