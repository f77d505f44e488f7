#!/usr/bin/env bash
# GPU check for a lent CUDA machine (torch only; it has no TensorFlow). One short script:
#   1. the smoke profile with torch on cuda;
#   2. ResNet-V2-50 at batch 1, 32, 128, inference and training, torch on cuda;
#   3. a check that GPU step time grows with batch size (a sign the timer waits for the GPU:
#      without a sync every batch size would time the kernel launches alone).
# Missing Python packages (sqlalchemy, alembic, mako, greenlet) travel as wheels in .whl/
# (see the device tool's README). Results land in $OUT (or ./out/gpu-check).
set -euo pipefail
cd "$(dirname "$0")/.."
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
dest="${OUT:-out/gpu-check}"
mkdir -p "$dest"
db="sqlite:///$dest/gpu.sqlite"

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
python3 -m suite run --profile smoke --frameworks torch --devices cuda --db "$db" \
    --label gpu-smoke --json > "$dest/smoke.json"
python3 -m suite run --profile quick --frameworks torch --devices cuda --depths 50 \
    --batch-sizes 1,32,128 --modes inference,training --db "$db" --label gpu-scaling \
    --json > "$dest/scaling.json"
python3 -m suite show latest --db "$db"

python3 - "$dest/smoke.json" "$dest/scaling.json" <<'PY'
import json, sys
smoke = json.load(open(sys.argv[1]))
bad = [r for r in smoke if r["status"] != "ok"]
print(f"smoke: {len(smoke)} cases, {len(bad)} not ok")
for r in bad:
    print("  ", r["case"], r["status"], r["reason"])
scaling = json.load(open(sys.argv[2]))
ok = not bad
for mode in ("inference", "training"):
    rows = sorted((r["case"]["batch_size"], r["stats"]["median_s"], r["sync"])
                  for r in scaling if r["case"]["mode"] == mode and r["status"] == "ok")
    print(mode, ", ".join(f"b{b}: {m * 1e3:.2f} ms" for b, m, _ in rows), "| sync:", rows[0][2] if rows else "-")
    grows = len(rows) == 3 and rows[0][1] < rows[1][1] < rows[2][1]
    ok = ok and grows
    print(f"  step time grows with batch size: {'yes' if grows else 'NO'}")
sys.exit(0 if ok else 1)
PY
