"""BAM on GLUE, end to end: teachers, their predictions, students, dev table, export.

For each task a single-task teacher is fine-tuned and writes its predictions over
the training set; then a plain multi-task student (gold labels only) and a BAM
student (teacher annealing) are trained on all tasks together. Each student is
scored on dev, saved as `.keras`, exported as a SavedModel with one serving
signature per task, and writes GLUE's test submission files. The dev table of
teachers and students is printed and written to `<output-dir>/dev_table.md`.

    KERAS_BACKEND=jax python examples/glue.py
    KERAS_BACKEND=tensorflow python examples/glue.py --tasks rte mrpc stsb cola --paper

By default the quick setting runs (400 training examples of each task, a random
sample drawn with seed 0, 2 teacher and 2 student epochs: minutes on a 2-core CPU,
scores far below the paper's and too few steps to show BAM's effect); `--paper`
runs BAM's recipes on the full training sets. An interrupted
run started again with the same command reuses finished teachers and students and
resumes a student from its last checkpoint.
"""

import argparse
import logging

from keras_bam_cli.arguments import add_glue_arguments
from keras_bam_cli.arguments import check_data_dir
from keras_bam_cli.arguments import log_level
from keras_bam_cli.arguments import set_cpu_allocator


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_glue_arguments(parser)
    args = parser.parse_args(argv)
    check_data_dir(parser, args)
    logging.basicConfig(level=log_level(args), format="%(message)s")
    set_cpu_allocator(args)
    # Imported once the allocator is chosen: this import starts TensorFlow.
    from keras_bam_cli.commands import run_glue_from_arguments

    run_glue_from_arguments(args)


if __name__ == "__main__":
    main()
