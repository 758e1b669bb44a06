"""Does the BAM student beat its teachers? The paper's comparison, over seeds.

Runs, for each seed, the systems of BAM's Table 1 and its ablations on the same
training sample, and stores each (system, seed) result on its own in
`benchmarks/results/quality/<setting>/<system>_seed<n>.json`, so the protocol can
run in several parts (or on several machines) and a second run skips what is
done:

- `teachers`: one single-task teacher per task (BAM's single-task recipe);
- `multitask`: the multi-task student on gold labels only;
- `bam`: the multi-task student with teacher annealing (λ from 0 to 1);
- `distilled`: distillation with a fixed teacher weight (0.5), no annealing;
- `uninformative`: the control, annealing towards a uniform (or mean) teacher;
- `born_again`: single-task born-again students (one per task, annealed
  towards its own teacher, with the teacher's recipe and another seed, so that
  initialization, dropout and data order are not the teacher's);
- `oof_bam`: BAM with out-of-fold teacher predictions (k-fold cross-fitting:
  no teacher predicts an example it trained on);

and the ablations of keras-bam's own options against BAM's defaults:

- `bam_length_grouped`: BAM with length-grouped batches (a speed option);
- `bam_trained_multiples`: BAM with multiples and weights computed among the
  trained tasks only (`weighting="bam_trained"`) instead of BAM's table;
- `bam_ensemble`: BAM distilling from the teachers of every seed of
  `ENSEMBLE_SEEDS` per task, their probabilities averaged (MT-DNN's);
- `bam_ensemble_logits`: the same with the teachers' logits averaged.

`report` aggregates what is there: per task and GLUE-average mean ± sd over
seeds; paired comparisons of BAM with every other system (paired t-test over
seeds, paired bootstrap over dev examples pooling the seeds); the teachers'
confidence on their training examples, in sample and out of fold; a plot (per
task bars with error bars, λ over training); and the table in benchmarks/README.md.

    python benchmarks/quality.py run --seeds 0 1 2 --systems teachers multitask bam
    python benchmarks/quality.py report --readme benchmarks/README.md

Everything runs through the library (`train_teacher`, `train_student`,
`cross_fit_teacher`); the setting's parameters are stored with every result and
a result of another setting is never mixed in.
"""

from __future__ import annotations

import argparse
import os

from qualitybench import store
from qualitybench.report import report
from qualitybench.setting import SYSTEMS
from qualitybench.systems import run

import keras_bam
from keras_bam_cli.arguments import add_batching_argument

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK_DIR = os.environ.get(
    "KERAS_BAM_QUALITY_WORK_DIR",
    os.path.join(os.path.expanduser("~"), ".cache", "keras-bam", "quality"),
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command_name", required=True)
    run_parser = commands.add_parser("run", help="run (system, seed) results")
    run_parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    run_parser.add_argument(
        "--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS
    )
    run_parser.add_argument(
        "--tasks", nargs="+", default=["cola", "mrpc", "stsb", "rte"]
    )
    run_parser.add_argument("--backbone", default=None, help="MiniLM by default")
    run_parser.add_argument(
        "--train-limit",
        type=int,
        default=500,
        help="training examples per task (a seeded random sample); 0: all",
    )
    run_parser.add_argument("--teacher-epochs", type=int, default=3)
    run_parser.add_argument("--student-epochs", type=int, default=3)
    run_parser.add_argument("--student-batch-size", type=int, default=32)
    run_parser.add_argument("--student-learning-rate", type=float, default=1e-4)
    run_parser.add_argument("--max-length", type=int, default=128)
    run_parser.add_argument("--folds", type=int, default=3)
    run_parser.add_argument(
        "--save-every",
        type=int,
        default=200,
        help="checkpoint students every N steps (and at every epoch end)",
    )
    # Every model's batches; --packing defaults to the setting's stored results.
    add_batching_argument(run_parser, packing_default=None)
    run_parser.add_argument(
        "--work-dir",
        default=WORK_DIR,
        help="teachers' predictions, encoded data and student checkpoints; outside "
        "the checkout by default, so a later run from a fresh checkout resumes",
    )
    run_parser.add_argument(
        "--retrain-teachers",
        action="store_true",
        help="when a stored teachers result's predictions are not in --work-dir, "
        "train those teachers again and go on only if they reproduce it",
    )
    run_parser.add_argument(
        "--deterministic",
        action="store_true",
        help="keras_bam.backend.enable_op_determinism() (recorded in each result)",
    )
    run_parser.add_argument("--verbose", type=int, default=2)
    report_parser = commands.add_parser(
        "report", help="aggregate, plot, fill the table in --readme"
    )
    report_parser.add_argument("--resamples", type=int, default=1000)
    report_parser.add_argument(
        "--readme",
        default=None,
        help="the file whose table to fill (benchmarks/README.md holds the quality "
        "tables)",
    )
    report_parser.add_argument(
        "--readme-marker",
        default="quality-table",
        help="the <!-- MARKER --> ... <!-- /MARKER --> block of --readme to replace",
    )
    report_parser.add_argument("--command", default=None)
    report_parser.add_argument(
        "--pair",
        nargs=2,
        action="append",
        metavar=("SYSTEM", "OTHER"),
        help="also compare SYSTEM with OTHER (SYSTEM minus OTHER); repeatable",
    )
    for sub in (run_parser, report_parser):
        sub.add_argument("--setting", default="minilm-500")
        sub.add_argument(
            "--data-dir", default=os.path.join(ROOT, "..", "shared", "glue")
        )
        sub.add_argument("--results-dir", default=store.RESULTS)
    args = parser.parse_args(argv)
    store.set_results_dir(args.results_dir)
    if args.command_name == "run":
        if args.deterministic:
            keras_bam.backend.enable_op_determinism()
        if args.train_limit == 0:
            args.train_limit = None
        run(args)
    else:
        report(args)


if __name__ == "__main__":
    main()
