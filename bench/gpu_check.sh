#!/usr/bin/env bash
# The GPU checks, run on a GPU machine. Build first, on the development machine:
# `bench/gpu_build.sh` (→ .gpu/). Then, on the GPU machine, from the repository root with
# .gpu/ copied beside it:
#
#   bench/gpu_check.sh            # ~5 min on an H200; logs and a summary under $OUT
#
# 1. parity: the golden test (logits, loss, every gradient, 10 AdamW steps against PyTorch
#    fixtures) on CUDA;
# 2. agreement: a short pretraining run on CUDA, then its validation loss and greedy sample on
#    CUDA and on the CPU must agree;
# 3. speed: `bench/train_vs_pytorch.py --device cuda --size gpt2` (GPT-2 small's shape,
#    fp32 and bf16, gptlab and the machine's own PyTorch side by side) and `gptlab bench
#    generate --device cuda`;
# 4. GPT-2 small (124M) bf16 training: tokens/s of `gptlab bench train` and its MFU (model
#    FLOPs 6N + 12·L·T·C per token, as nanoGPT/PaLM count them, against the chip's dense bf16
#    peak: 989 TFLOP/s for H100/H200 SXM, or GPTLAB_PEAK_TFLOPS); the goal is >= 45%;
# 5. data parallel on NCCL: a 1-GPU world-size-1 run of the data-parallel path (RANK=0,
#    WORLD_SIZE=1), whose losses must equal the plain run's (needs a build with the `nccl`
#    feature: bench/gpu_build.sh adds it when CUDA_HOME holds a CUDA toolkit).
# Exit status: non-zero if a check failed (the speed runs are reported, not judged).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gptlab-gpu-out}
mkdir -p "$OUT"
GL=${GPTLAB_GPU_BIN:-.gpu}/gptlab
PARITY=${GPTLAB_GPU_BIN:-.gpu}/golden_parity
PY=${PYTHON:-python3}
TORCH_LIB=$("$PY" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fail=0
summary="$OUT/summary.txt"
: > "$summary"
say() { echo "$*" | tee -a "$summary"; }

say "device: $(nvidia-smi -L 2>/dev/null | head -1); torch $("$PY" -c 'import torch; print(torch.__version__)')"
for f in "$GL" "$PARITY"; do
    [[ -x "$f" ]] || { say "missing $f: run bench/gpu_build.sh here and carry .gpu"; exit 2; }
done

# 1. parity on CUDA
if GPTLAB_TEST_DEVICE=cuda GPTLAB_GOLDEN_DIR="$PWD/testdata/golden" "$PARITY" --test-threads 1 --nocapture > "$OUT/parity.log" 2>&1; then
    say "parity on CUDA: ok ($(grep -m1 'logits max' "$OUT/parity.log"))"
else
    say "parity on CUDA: FAILED (tail of $OUT/parity.log below)"; tail -20 "$OUT/parity.log" | tee -a "$summary"; fail=1
fi

# 2. CPU/CUDA agreement on a model trained on CUDA
W=/tmp/gptlab-gpu-world P=/tmp/gptlab-gpu-pretrain
rm -rf "$W" "$P"
"$GL" world generate --seed 0 --out "$W" --corpus-sentences 4000 --prompts 100 > "$OUT/world.log" 2>&1
t0=$SECONDS
if "$GL" pretrain --config configs/tiny/pretrain.toml --quiet --set "data.corpus=$W/corpus.txt" --set train.max_iters=300 \
    --set train.device=cuda --set "run.out_dir=$P" > "$OUT/pretrain.log" 2>&1; then
    say "pretrain on CUDA (300 steps, tiny config): $((SECONDS - t0)) s; $(tail -1 "$OUT/pretrain.log")"
    lc=$("$GL" eval loss --model "$P/best" --data "$W/corpus_val.txt" --device cuda 2>>"$OUT/agree.log")
    lp=$("$GL" eval loss --model "$P/best" --data "$W/corpus_val.txt" --device cpu 2>>"$OUT/agree.log")
    sc=$("$GL" sample --model "$P/best" --prompt "The capital of" --temperature 0 --max-new-tokens 40 --device cuda 2>>"$OUT/agree.log")
    sp=$("$GL" sample --model "$P/best" --prompt "The capital of" --temperature 0 --max-new-tokens 40 --device cpu 2>>"$OUT/agree.log")
    if "$PY" - "$lc" "$lp" <<'EOF'
import json, sys
c, p = json.loads(sys.argv[1])["loss"], json.loads(sys.argv[2])["loss"]
print(f"val loss CUDA {c:.6f} CPU {p:.6f} diff {abs(c - p):.2e}")
sys.exit(0 if abs(c - p) < 1e-3 else 1)
EOF
    then say "eval loss CPU vs CUDA: ok ($lc vs $lp)"; else say "eval loss CPU vs CUDA: FAILED ($lc vs $lp)"; fail=1; fi
    if [[ "$sc" == "$sp" ]]; then say "greedy sample CPU vs CUDA: identical"; else say "greedy sample CPU vs CUDA: differ"; say "  cuda: $sc"; say "  cpu:  $sp"; fi
else
    say "pretrain on CUDA: FAILED"; tail -20 "$OUT/pretrain.log" | tee -a "$summary"; fail=1
fi

# 3. speed, side by side with the machine's PyTorch (reported, not judged)
"$PY" bench/train_vs_pytorch.py --device cuda --size gpt2 --rounds 3 --steps 20 --gptlab "$GL" > "$OUT/train_speed.log" 2>&1 ||
    say "train speed run failed (see $OUT/train_speed.log)"
grep -E "tokens/s|ratio" "$OUT/train_speed.log" | tee -a "$summary"
for dt in fp32 bf16; do
    "$GL" bench generate --device cuda --dtype "$dt" --vocab 50304 --block 1024 --n-layer 12 --n-head 12 --n-embd 768 \
        --batch 8 --new-tokens 200 2>&1 | tail -1 | tee -a "$summary"
done
# 4. GPT-2 small bf16 training: tokens/s and MFU (reported against the 45% goal, not judged)
B=${GPTLAB_GPT2_BATCH:-16}
if "$GL" bench train --device cuda --dtype bf16 --vocab 50304 --block 1024 --n-layer 12 --n-head 12 --n-embd 768 \
    --batch "$B" --steps 30 --warmup 5 > "$OUT/gpt2_bf16.log" 2>&1; then
    "$PY" - "$(tail -1 "$OUT/gpt2_bf16.log")" "${GPTLAB_PEAK_TFLOPS:-989}" <<'EOF' | tee -a "$summary"
import json, sys
r, peak = json.loads(sys.argv[1]), float(sys.argv[2]) * 1e12
L, T, C = 12, r["block"], 768
# nanoGPT's count: parameters without the position embeddings, plus attention
flops_per_token = 6 * (r["params"] - T * C) + 12 * L * T * C
mfu = r["tokens_per_s"] * flops_per_token / peak
print(f"GPT-2 124M bf16 training, batch {r['batch']}x{T}: {r['tokens_per_s']:.0f} tokens/s, MFU {100 * mfu:.1f}% of {peak / 1e12:.0f} TFLOP/s (goal 45%)")
EOF
else
    say "GPT-2 bf16 training run failed (see $OUT/gpt2_bf16.log)"; fail=1
fi

# 5. the data-parallel path on NCCL, world size 1: same losses as the plain run
D=/tmp/gptlab-gpu-dp
rm -rf "$D" && mkdir -p "$D"
dp_args=(pretrain --config configs/tiny/pretrain.toml --quiet --set "data.corpus=$W/corpus.txt" --set train.max_iters=20
    --set train.eval_interval=10 --set train.device=cuda)
if "$GL" "${dp_args[@]}" --set "run.out_dir=$D/plain" > "$OUT/dp_plain.log" 2>&1 &&
    RANK=0 WORLD_SIZE=1 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=${GPTLAB_DP_PORT:-29531} \
    "$GL" "${dp_args[@]}" --set "run.out_dir=$D/dp" > "$OUT/dp_nccl.log" 2>&1; then
    if "$PY" - "$D/plain/metrics.jsonl" "$D/dp/metrics.jsonl" <<'EOF'
import json, sys
a, b = ([json.loads(l) for l in open(f)] for f in sys.argv[1:3])
la, lb = ([r["loss"] for r in x if "loss" in r] for x in (a, b))
d = max(abs(x - y) / abs(x) for x, y in zip(la, lb))
print(f"NCCL world-size-1 data-parallel run: {len(lb)} steps, max relative loss difference to the plain run {d:.1e}")
sys.exit(0 if len(la) == len(lb) and d < 1e-4 else 1)
EOF
    then say "data parallel on NCCL (world size 1): ok"; else say "data parallel on NCCL (world size 1): FAILED (losses differ)"; fail=1; fi
else
    say "data parallel on NCCL (world size 1): FAILED (tail of $OUT/dp_nccl.log below)"; tail -5 "$OUT/dp_nccl.log" | tee -a "$summary"; fail=1
fi
say "gpu_check: $([[ $fail == 0 ]] && echo all checks passed || echo SOME CHECKS FAILED)"
exit $fail
