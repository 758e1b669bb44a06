#!/usr/bin/env bash
# The long quality runs, in order, on TensorFlow: packed against padded batches for BAM's
# student at 400 examples per task (setting minilm-400-packing), then the paper's
# comparison on the full training sets (setting minilm-full). Every (system, seed) result is written
# to benchmarks/results/quality/<setting>/ when done and skipped when run again; teachers'
# predictions and student checkpoints live in the work folder (~/.cache/keras-bam/quality
# by default, outside the checkout), so starting this again resumes where it stopped;
# each seed's teachers' training-set predictions are also committed beside their result
# (teachers_seed<N>_predictions/), so a fresh machine's students learn from the same
# teachers.
#   nohup bash benchmarks/quality_queue.sh > /dev/null 2>&1 &
set -u
cd "$(dirname "$0")/.."
mkdir -p runs/logs
export KERAS_BACKEND=${KERAS_BACKEND:-tensorflow}
PY=${PY:-.venv/bin/python}
# Packing against padding for the BAM student, on the same teachers per
# seed. Its own setting: minilm-400-bam's teachers could not be retrained bit for bit
# on another machine (benchmarks/results/quality/minilm-400-bam/teacher_reproductions.json),
# so its remaining ablation seeds need that setting's work folder.
$PY benchmarks/quality.py run --setting minilm-400-packing --train-limit 400 --no-packing \
  --seeds 0 1 2 --systems teachers bam_packed bam --save-every 100 \
  >> runs/logs/packing.log 2>&1
$PY benchmarks/quality.py run --setting minilm-full --train-limit 0 \
  --teacher-epochs 3 --student-epochs 6 --student-batch-size 128 \
  --seeds 0 1 2 --systems teachers multitask bam --save-every 100 >> runs/logs/full.log 2>&1
