#!/usr/bin/env bash
# Side by side: nanoGPT's CPU recipe for shakespeare_char vs `gptlab pretrain
# --config configs/shakespeare-char.toml`, on the same machine, one after the other.
# Prints each run's final val loss and wall time, and the wall-time ratio.
#
#   bench/nanogpt_shakespeare.sh /path/to/nanoGPT-checkout
#
# nanoGPT is not vendored: bring a checkout yourself (git clone of karpathy/nanoGPT).
# It runs with the project's .venv (PyTorch 2.13, eager: --compile=False), 2 threads.
set -euo pipefail
NANO=${1:?usage: $0 /path/to/nanoGPT}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CORPUS=${CORPUS:-$ROOT/../shared/data/tinyshakespeare/input.txt}
cd "$ROOT" && ./dev.sh setup >/dev/null
export PATH="$ROOT/.venv/bin:$PATH" OMP_NUM_THREADS=${THREADS:-2}
python -c "import requests" 2>/dev/null || pip install --quiet requests
cp "$CORPUS" "$NANO/data/shakespeare_char/input.txt"
(cd "$NANO" && python data/shakespeare_char/prepare.py >/dev/null)

echo "== nanoGPT (eager, cpu) =="
t0=$(date +%s.%N)
(cd "$NANO" && python train.py config/train_shakespeare_char.py --device=cpu --compile=False \
    --eval_iters=200 --log_interval=100 --block_size=64 --batch_size=12 --n_layer=4 --n_head=4 \
    --n_embd=128 --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0 --out_dir=/tmp/nanogpt-out) \
    | tee /tmp/nanogpt.log | grep -E "^step" || true
t1=$(date +%s.%N)
nano_wall=$(python -c "print($t1 - $t0)")
nano_val=$(grep -E "^step 2000" /tmp/nanogpt.log | sed -E 's/.*val loss ([0-9.]+).*/\1/')

echo "== gptlab =="
t0=$(date +%s.%N)
"$ROOT/dev.sh" pretrain --config configs/shakespeare-char.toml --quiet --set run.out_dir=\"/tmp/gptlab-sc\" \
    --set train.threads=${THREADS:-2} | tee /tmp/gptlab-sc.log
t1=$(date +%s.%N)
gl_wall=$(python -c "print($t1 - $t0)")
gl_val=$(python -c "import json,sys; print(json.load(open('/tmp/gptlab-sc.log'))['final_eval_loss'])")

python - <<PY
nw, gw = $nano_wall, $gl_wall
print(f"nanoGPT: val loss {float('$nano_val'):.4f}, wall {nw:.1f} s")
print(f"gptlab : val loss {float('$gl_val'):.4f}, wall {gw:.1f} s")
print(f"wall-time ratio nanoGPT/gptlab = {nw/gw:.2f}x")
PY
