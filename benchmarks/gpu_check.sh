#!/usr/bin/env bash
# The GPU check, as one script: on a machine with an NVIDIA GPU, from the repository root, with
# the project's environment active (make install, or: python -m venv .venv && . .venv/bin/activate
# && pip install -e '.[test]'):
#     bash benchmarks/gpu_check.sh            # everything, about 5 minutes on one modern GPU
#     bash benchmarks/gpu_check.sh 2>&1 | tee gpu_check.log
# It runs (1) the tiny workflow (tests/configs/tiny.yaml) with `device: cuda` in a temporary
# folder, (2) the CAM benchmark for ResNet-50 and ViT-B/16 at 224 pixels, batch 64, with the
# peak GPU memory, and (3) the training-step benchmark, all on CUDA. Random weights only: nothing
# is downloaded. Stops at the first failure (non-zero exit).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PYTHON="${PYTHON:-python}"

"$PYTHON" - <<'PY'
import sys

import torch

if not torch.cuda.is_available():
    sys.exit("gpu_check: torch sees no CUDA device")
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}")
PY

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== 1/3 tiny workflow, device: cuda =="
start=$SECONDS
"$PYTHON" -m snakemake -s Snakefile -d "$work/tiny" --configfile tests/configs/tiny.yaml \
    --config device=cuda --cores 4 --quiet rules
test -s "$work/tiny/results/tables/robustness.csv"
test -s "$work/tiny/results/tables/accuracy.csv"
echo "tiny workflow: $((SECONDS - start)) s, tables in place"

echo "== 2/3 CAM benchmark, 224 pixels, batch 64 =="
for model in resnet50 vit_b_16; do
    "$PYTHON" benchmarks/cam_throughput.py --device cuda --model "$model" --batch 64 --repeats 3
done

echo "== 3/3 training-step benchmark =="
"$PYTHON" benchmarks/train_step.py --device cuda

echo "gpu_check: all passed"
