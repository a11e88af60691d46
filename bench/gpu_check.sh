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
#    generate --device cuda`.
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
say "gpu_check: $([[ $fail == 0 ]] && echo all checks passed || echo SOME CHECKS FAILED)"
exit $fail
