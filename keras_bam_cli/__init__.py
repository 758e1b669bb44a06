"""The `keras-bam` command line.

A package of its own, beside `keras_bam`, so that parsing needs neither
TensorFlow nor JAX: `--help` and argument errors answer at once, and
`keras_bam` (with its backend) is imported only to run a command.
"""

from keras_bam_cli.main import main
from keras_bam_cli.main import native_stderr_captured
