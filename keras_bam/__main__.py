import sys

from keras_bam.cli import main

sys.exit(main())
