#!/usr/bin/env bash
# The quality protocol and the speed benchmark on a lent GPU machine (JAX and PyTorch,
# no TensorFlow): benchmarks/quality.py and benchmarks/speed.py on KERAS_BACKEND=jax.
#
# Prepare here with `bash benchmarks/device/prepare.sh` (.whl/: keras, keras-hub,
# namex, optree wheels for Python 3.12; .devcarry/: MiniLM in float16, GLUE TSVs),
# then run with the device tool, carrying both:
#   bash benchmarks/device/quality_gpu.sh
# Options: SEEDS="0 1 2", SYSTEMS (quality systems), SETTING, TRAIN_LIMIT (examples per
# task; 0: all), LIMIT (seconds for the quality part), SKIP_SPEED=1, AUTOTUNE (XLA GEMM
# autotuning level, 0 by default). Results come back as $OUT/quality.tgz (one JSON per
# (system, seed), resumable: unpack into benchmarks/results/quality/ and run again to
# continue) and $OUT/speed.json, plus logs.
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 KERAS_BACKEND=jax
export XLA_PYTHON_CLIENT_PREALLOCATE=false JAX_DEFAULT_MATMUL_PRECISION=highest
export JAX_COMPILATION_CACHE_DIR=/tmp/jaxcache JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
OUT=${OUT:-/tmp/out}; RES=/tmp/results; mkdir -p "$RES" "$OUT"
SEEDS=${SEEDS:-"0 1 2"}; LIMIT=${LIMIT:-420}; SETTING=${SETTING:-minilm-full-gpu}
SYSTEMS=${SYSTEMS:-"teachers multitask bam distilled uninformative born_again oof_bam"}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
# GEMM autotuning made XLA spend about 45 s compiling each batch shape on an H200.
export XLA_FLAGS="${XLA_FLAGS:-} --xla_gpu_autotune_level=${AUTOTUNE:-0}"
# Results already collected (from an earlier call) are skipped.
if [ -f quality-partial.tgz ]; then tar xzf quality-partial.tgz -C "$RES"; fi
timeout "$LIMIT" python3 benchmarks/quality.py run --setting "$SETTING" \
  --train-limit "${TRAIN_LIMIT:-0}" --student-batch-size 128 --student-epochs 6 \
  --seeds $SEEDS --systems $SYSTEMS --data-dir .devcarry/glue \
  --backbone .devcarry/minilm --work-dir /tmp/quality --results-dir "$RES" \
  > "$OUT/quality.log" 2>&1
tar czf "$OUT/quality.tgz" -C "$RES" .
if [ -z "${SKIP_SPEED:-}" ]; then
  timeout 170 python3 benchmarks/speed.py --systems keras-bam-jax hf-torch \
    --data-dir .devcarry/glue --model .devcarry/minilm --label gpu \
    --results-dir "$OUT" > "$OUT/speed.log" 2>&1
fi
tail -n 5 "$OUT"/*.log
