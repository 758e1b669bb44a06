#!/usr/bin/env bash
# The long quality runs of issue 15, in order, on TensorFlow: the ablation of keras-bam's
# options at 400 examples per task (setting minilm-400-bam), then the paper's comparison
# on the full training sets (setting minilm-full). Every (system, seed) result is written
# to benchmarks/results/quality/<setting>/ when done and skipped when run again; teachers'
# predictions and student checkpoints live in the work folder (~/.cache/keras-bam/quality
# by default, outside the checkout), so starting this again resumes where it stopped.
#   nohup bash benchmarks/quality_queue.sh > /dev/null 2>&1 &
set -u
cd "$(dirname "$0")/.."
mkdir -p runs/logs
export KERAS_BACKEND=${KERAS_BACKEND:-tensorflow}
PY=${PY:-.venv/bin/python}
# minilm-400-bam began before packing existed: its students train on padded batches
# (--no-packing), and bam_packed measures packing against them. A fresh work folder
# trains the stored teachers again and goes on only if they reproduce the stored ones.
ABLATION="$PY benchmarks/quality.py run --setting minilm-400-bam --train-limit 400 \
  --no-packing --retrain-teachers --seeds 0 1 2 --save-every 100"
$ABLATION --systems bam_packed >> runs/logs/ablation.log 2>&1
$ABLATION --systems teachers bam bam_length_grouped bam_trained_multiples \
  >> runs/logs/ablation.log 2>&1
$ABLATION --systems bam_ensemble bam_ensemble_logits >> runs/logs/ablation.log 2>&1
$PY benchmarks/quality.py run --setting minilm-full --train-limit 0 \
  --teacher-epochs 3 --student-epochs 6 --student-batch-size 128 \
  --seeds 0 1 2 --systems teachers multitask bam --save-every 100 >> runs/logs/full.log 2>&1
