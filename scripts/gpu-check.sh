#!/usr/bin/env bash
# The GPU proof of issue 10, for a lent one-GPU machine (about 4 minutes on one H100):
#   1. a short `resnet-bench run` of torch on cuda (depth 50, batch 1/32/256, inference and
#      training, bf16, and cudagraph at batch 1; 2 processes per case) into a SQLite file;
#   2. one DistributedDataParallel replica on cuda:0 with NCCL, through the elastic launcher;
#   3. benchmarks/gpu_check.py: every stored case ok, step time growing with the batch, the
#      suite within 3% of torch's Timer, the suite's torch ResNet-V2-50 at least 1.0x timm's
#      resnetv2_50 (batch 256, bf16, channels-last, both modes), cudagraph >= 3x eager at b1.
#
#   scripts/gpu-check.sh           # on the GPU machine; results and report in $OUT
#   scripts/gpu-check.sh --cpu     # try the script here first: CPU, small images, not judged
#
# The lent machine has torch, timm, pandas and scipy but not sqlalchemy, alembic, mako or
# greenlet: put their wheels in .whl/ (see the device README) and carry it; they are
# installed into /tmp/site. The suite runs from this source tree (PYTHONPATH).
set -euo pipefail
cd "$(dirname "$0")/.."

DEVICE=cuda SIZE=224 BATCHES="1, 32, 256"
if [[ "${1:-}" == "--cpu" ]]; then DEVICE=cpu SIZE=64 BATCHES="1, 2"; fi
OUT="${OUT:-/tmp/gpu-check}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total \
    --format=csv,noheader
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'

DB="sqlite:///$OUT/gpu-check.sqlite"
rm -f "$OUT/gpu-check.sqlite"*
cat >"$OUT/gpu-check.toml" <<TOML
description = "gpu-check: torch depth 50, batch $BATCHES, both modes, bf16; cudagraph at b1"
[cases]
frameworks = ["torch"]
depths = [50]
batch_sizes = [$BATCHES]
devices = ["$DEVICE"]
modes = ["inference", "training"]
precisions = ["bf16"]
executions = ["eager"]
image_size = $SIZE
[[extra_cases]]
batch_sizes = [1]
executions = ["cudagraph"]
[sampling]
min_warmup = 3
min_warmup_time_gpu_s = 1.0
min_samples = 10
min_time_s = 0.5
min_processes = 2
max_processes = 2
timeout_s = 300
TOML

echo "== resnet-bench run"
status=0
python3 -m suite run --profile "$OUT/gpu-check.toml" --db "$DB" || status=$?
python3 -m suite report --db "$DB" -o "$OUT/report.html" || status=$?
echo "== one DDP replica (issue 14): NCCL on cuda:0 (gloo on the CPU with --cpu)"
python3 -m runners.nodes check "$DEVICE" "$SIZE" || status=$?
echo "== benchmarks/gpu_check.py"
python3 benchmarks/gpu_check.py --device "$DEVICE" --db "$DB" || status=$?
exit "$status"
