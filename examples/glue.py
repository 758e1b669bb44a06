"""keras-bam on GLUE: single-task BAM teachers, dev scores, and their predictions.

Each teacher is fine-tuned with BAM's single-task recipe (see
`keras_bam.FineTuningRecipe`), scored with the official GLUE dev metrics, and its
predictions over the training set are written for a later multi-task student.

    KERAS_BACKEND=jax python examples/glue.py --tasks rte mrpc
    KERAS_BACKEND=tensorflow python examples/glue.py --quick

`--quick` trains on 512 examples for 1 epoch per task (minutes on a 2-core CPU)
instead of the full training sets for 3 epochs.
"""

import argparse
import json
import os

from keras_bam.cli import add_teacher_arguments
from keras_bam.cli import format_dev_table
from keras_bam.cli import run_teachers


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["rte"])
    parser.add_argument(
        "--quick", action="store_true", help="512 training examples, 1 epoch per task"
    )
    add_teacher_arguments(parser)
    args = parser.parse_args()
    if args.quick:
        args.train_limit = args.train_limit or 512
        args.epochs = 1
    summaries = run_teachers(args, args.tasks)
    print(format_dev_table(summaries))
    with open(os.path.join(args.output_dir, "summary.json"), "w") as f:
        json.dump(summaries, f, indent=2)


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main()
