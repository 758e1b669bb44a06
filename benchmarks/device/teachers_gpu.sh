#!/usr/bin/env bash
# Teacher quality on a lent GPU machine (JAX and PyTorch, no TensorFlow): keras-bam on
# KERAS_BACKEND=jax and the Hugging Face peer, same recipe, several seeds.
#
# Prepare here with `bash benchmarks/device/prepare.sh` (.whl/: keras, keras-hub,
# namex, optree wheels for Python 3.12; .devcarry/: MiniLM in float16, GLUE TSVs),
# then run with the device tool, carrying both:
#   bash benchmarks/device/teachers_gpu.sh
# Options: SEEDS="0 1 2", TASKS="rte mrpc stsb cola", LIMIT (seconds per system),
# SKIP_HF=1 (keras-bam only), AUTOTUNE (XLA GEMM autotuning level, 0 by default).
# Results come back as $OUT/results.tgz (one JSON per run) plus logs.
set -u
# Scratch space on the machine (installed wheels, XLA cache, results before packing).
SCRATCH=${SCRATCH:-${TMPDIR:-/tmp}}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target "$SCRATCH/site" .whl/*.whl || exit 1
export PYTHONPATH=$SCRATCH/site:$PWD PYTHONUNBUFFERED=1 KERAS_BACKEND=jax
export XLA_PYTHON_CLIENT_PREALLOCATE=false JAX_DEFAULT_MATMUL_PRECISION=highest
export JAX_COMPILATION_CACHE_DIR=$SCRATCH/jaxcache JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
OUT=${OUT:-$SCRATCH/out}; RES=$SCRATCH/results; mkdir -p "$RES" "$OUT"
SEEDS=${SEEDS:-"0 1 2"}; TASKS=${TASKS:-"rte mrpc stsb cola"}; LIMIT=${LIMIT:-480}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
# GEMM autotuning made XLA spend about 45 s compiling each batch shape on an H200.
export XLA_FLAGS="${XLA_FLAGS:-} --xla_gpu_autotune_level=${AUTOTUNE:-0}"
if [ -z "${SKIP_HF:-}" ]; then
  timeout "$LIMIT" python3 benchmarks/hf_teachers.py --tasks $TASKS --seeds $SEEDS \
    --data-dir .devcarry/glue --model .devcarry/minilm --results-dir "$RES" \
    > "$OUT/hf.log" 2>&1 &
fi
timeout "$LIMIT" python3 benchmarks/teachers.py --recipe matched --tasks $TASKS --seeds $SEEDS \
  --data-dir .devcarry/glue --backbone .devcarry/minilm --cache-dir "$SCRATCH/cache" \
  --results-dir "$RES" > "$OUT/jax.log" 2>&1
wait
tar czf "$OUT/results.tgz" -C "$RES" .
grep -h '^{' "$OUT"/*.log
tail -n 3 "$OUT"/*.log
