#!/usr/bin/env bash
# The real-data path (SFT on Alpaca, RM on HH-RLHF harmless), on the shared datasets:
#   1. split Alpaca (../shared/data/alpaca/alpaca_5000.json) into 4,500 training and 500
#      validation records, and write a pretraining corpus: tiny shakespeare plus the training
#      records' text (never the validation records);
#   2. `gptlab pretrain` a small English base model on it   (configs/real/pretrain.toml);
#   3. `gptlab sft` on the Alpaca training split, validation loss on the 500 held out
#                                                            (configs/real/sft.toml);
#   4. `gptlab rm` on Anthropic HH-RLHF harmless-base test (2,312 pairs, whole conversations),
#      20% held out, from the SFT model                     (configs/real/rm.toml).
# Prints one JSON line with the held-out numbers; BENCHMARKS.md records a run.
#
#   bench/real_data.sh [OUT]      # default OUT = runs/real; ≈ 30 minutes on 2 cores
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/real}
DATA=../shared/data
for f in "$DATA/alpaca/alpaca_5000.json" "$DATA/tinyshakespeare/input.txt" "$DATA/hh-rlhf-harmless-test/harmless-base-test.jsonl.gz"; do
    [[ -f $f ]] || { echo "real_data.sh: $f is missing (the shared data must sit beside the repo)" >&2; exit 2; }
done
./dev.sh setup
export PATH="$PWD/.venv/bin:$PATH" LIBTORCH_USE_PYTORCH=1
LD_LIBRARY_PATH="$(.venv/bin/python -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH
cargo build --release -q -p gptlab-cli
GL=target/release/gptlab
mkdir -p "$OUT"

python3 - "$DATA" "$OUT" <<'PY'
import json, os, sys
data, out = sys.argv[1], sys.argv[2]
recs = json.load(open(os.path.join(data, "alpaca", "alpaca_5000.json")))
train, val = recs[:4500], recs[4500:]
for name, part in (("alpaca_train.json", train), ("alpaca_val.json", val)):
    with open(os.path.join(out, name + ".tmp"), "w") as f:
        json.dump(part, f)
    os.replace(os.path.join(out, name + ".tmp"), os.path.join(out, name))
text = open(os.path.join(data, "tinyshakespeare", "input.txt")).read()
text += "\n\n" + "\n\n".join("\n".join(x for x in (r["instruction"], r["input"], r["output"]) if x) for r in train)
with open(os.path.join(out, "corpus.txt.tmp"), "w") as f:
    f.write(text)
os.replace(os.path.join(out, "corpus.txt.tmp"), os.path.join(out, "corpus.txt"))
print(f"alpaca: {len(train)} train / {len(val)} val records; corpus {len(text)} chars", file=sys.stderr)
PY

t0=$(date +%s)
$GL pretrain --config configs/real/pretrain.toml --set "data.corpus=$OUT/corpus.txt" --set "run.out_dir=$OUT/pretrain" > "$OUT/pretrain.json"
t1=$(date +%s)
$GL sft --config configs/real/sft.toml --set "sft.init_from=$OUT/pretrain/best" --set "sft.train=$OUT/alpaca_train.json" \
    --set "sft.val=$OUT/alpaca_val.json" --set "run.out_dir=$OUT/sft" > "$OUT/sft.json"
t2=$(date +%s)
$GL rm --config configs/real/rm.toml --set "rm.init_from=$OUT/sft/best" --set "rm.train=$DATA/hh-rlhf-harmless-test/harmless-base-test.jsonl.gz" \
    --set "run.out_dir=$OUT/rm" > "$OUT/rm.json"
t3=$(date +%s)
python3 - "$OUT" "$t0" "$t1" "$t2" "$t3" <<'PY'
import json, sys
out, t0, t1, t2, t3 = sys.argv[1], *map(int, sys.argv[2:])
last = lambda f: json.loads(open(f"{out}/{f}").read().strip().splitlines()[-1])
p, s, r = last("pretrain.json"), last("sft.json"), last("rm.json")
print(json.dumps({"pretrain_val_loss": p.get("best_eval_loss"), "sft_val_loss_alpaca": s.get("best_eval_loss"),
                  "rm_accuracy_hh_harmless_heldout": r["rm_accuracy"], "rm_val_pairs": r["val_groups"], "rm_train_pairs": r["train_groups"],
                  "seconds": {"pretrain": t1 - t0, "sft": t2 - t1, "rm": t3 - t2}}))
PY
