#!/usr/bin/env bash
# The speed benchmark and the quality protocol on a lent GPU machine (JAX and
# PyTorch, no TensorFlow): benchmarks/speed.py and benchmarks/quality.py on
# KERAS_BACKEND=jax, inside one call's time budget.
#
# Prepare here with `bash benchmarks/device/prepare.sh` (.whl/: keras, keras-hub,
# namex, optree wheels for Python 3.12; .devcarry/: MiniLM in float16, GLUE TSVs),
# then run with the device tool, carrying both:
#   bash benchmarks/device/quality_gpu.sh
#
# Order: the speed benchmark first (fp32 on both sides: JAX at "highest" matmul
# precision, PyTorch's default fp32 matmuls), then the quality protocol's core
# comparison (teachers, multi-task, BAM) seed by seed, then the ablations, each
# (system, seed) result stored on its own until BUDGET runs out. The quality runs use
# the library's defaults, which are BAM's (multiples from BAM's table, random batches).
#
# Measured on an H100 (2026-11-26): with an empty XLA cache the speed benchmark's JAX
# process takes 220 s (41 s with the cache filled) and each full-data teacher 60-90 s,
# mostly compilation; 15 minutes of device time complete the speed benchmark and about
# three teachers. Later calls: SKIP_SPEED=1 and quality-partial.tgz.
#
# Options: BUDGET (seconds for the whole script, 540), SPEED_LIMIT (seconds for the
# speed part, 300), SPEED_EXAMPLES (per task, 1024), SPEED_STEPS (64), SKIP_SPEED=1,
# SEEDS="0 1 2", CORE / ABLATIONS (quality systems), SETTING, TASKS (GLUE tasks, "rte mrpc
# stsb cola"; with SST-2: TASKS="rte mrpc stsb cola sst2" SETTING=minilm-full-sst2-gpu, after
# `TASKS="RTE MRPC STS-B CoLA SST-2" bash benchmarks/device/prepare.sh`), TRAIN_LIMIT
# (examples per task; 0: all), QUALITY_PRECISION (JAX matmul precision of the quality runs,
# tensorfloat32), AUTOTUNE (XLA GEMM autotuning level, 0), PY (python3), NO_INSTALL=1
# (rehearsal on a machine that already has keras and keras-hub).
# Results come back as $OUT/quality.tgz (one JSON per (system, seed), resumable: put it
# in the repository root as quality-partial.tgz and run again to continue) and
# $OUT/speed_gpu.json, plus logs (logs.tgz: each speed child's and quality run's).
set -u
# Scratch space on the machine (installed wheels, XLA cache, results before packing).
SCRATCH=${SCRATCH:-${TMPDIR:-/tmp}}
START=$(date +%s)
BUDGET=${BUDGET:-540}
left() { echo $((BUDGET - ($(date +%s) - START))); }
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
OUT=${OUT:-$SCRATCH/out}
RES=${RES:-$SCRATCH/results}
WORK=${WORK:-$SCRATCH/quality}
mkdir -p "$RES" "$OUT"
SEEDS=${SEEDS:-"0 1 2"}
SETTING=${SETTING:-minilm-full-gpu}
CORE=${CORE:-"teachers multitask bam"}
TASKS=${TASKS:-"rte mrpc stsb cola"}
ABLATIONS=${ABLATIONS:-"distilled uninformative born_again oof_bam"}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$OUT/gpu.txt" 2>&1
# GEMM autotuning made XLA spend about 45 s compiling each batch shape on an H200.
export XLA_FLAGS="${XLA_FLAGS:-} --xla_gpu_autotune_level=${AUTOTUNE:-0}"
{
  echo "start $(date -u +%FT%TZ) budget ${BUDGET}s"
  $PY -c "import jax, keras, keras_hub; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__, 'keras_hub', keras_hub.__version__)"
} >"$OUT/timeline.log" 2>&1

if [ -z "${SKIP_SPEED:-}" ]; then
  JAX_DEFAULT_MATMUL_PRECISION=highest timeout "${SPEED_LIMIT:-300}" \
    $PY benchmarks/speed.py --systems keras-bam-jax hf-torch \
    --limit "${SPEED_EXAMPLES:-1024}" --steps "${SPEED_STEPS:-64}" \
    --data-dir .devcarry/glue --model .devcarry/minilm --label gpu \
    --cache-dir "$SCRATCH/speedcache" --results-dir "$OUT" >"$OUT/speed.log" 2>&1
  echo "speed rc $? at $(($(date +%s) - START))s" >>"$OUT/timeline.log"
fi

# Results already collected (from an earlier call) are skipped.
if [ -f quality-partial.tgz ]; then tar xzf quality-partial.tgz -C "$RES"; fi
for systems in "$CORE" "$ABLATIONS"; do
  [ -n "$systems" ] || continue
  seconds=$(($(left) - 10))
  [ "$seconds" -gt 30 ] || break
  echo "quality ($systems) for ${seconds}s from $(($(date +%s) - START))s" >>"$OUT/timeline.log"
  JAX_DEFAULT_MATMUL_PRECISION=${QUALITY_PRECISION:-tensorfloat32} timeout "$seconds" \
    $PY benchmarks/quality.py run --setting "$SETTING" \
    --train-limit "${TRAIN_LIMIT:-0}" --student-batch-size 128 --student-epochs 6 \
    --seeds $SEEDS --systems $systems --tasks $TASKS --data-dir .devcarry/glue \
    --backbone .devcarry/minilm --work-dir "$WORK" --results-dir "$RES" \
    >>"$OUT/quality.log" 2>&1
  echo "quality rc $? at $(($(date +%s) - START))s" >>"$OUT/timeline.log"
done
tar czf "$OUT/quality.tgz" -C "$RES" .
# The speed children's logs and the quality runs' logs (at most 8 files come back).
tar czf "$OUT/logs.tgz" runs/speed/gpu $(find "$WORK" -name "*.log" -o -name "*.csv" 2>/dev/null) 2>/dev/null
cat "$OUT/timeline.log"
tail -n 25 "$OUT/speed.log" 2>/dev/null
grep -h "wrote\|running\|Error\|error" "$OUT/quality.log" | tail -n 30
