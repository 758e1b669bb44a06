import sys

from keras_bam_cli import main

sys.exit(main())
