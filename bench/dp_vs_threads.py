#!/usr/bin/env python3
"""Data parallelism vs intra-op threads on the CPU: `gptlab bench train` (the benchmark model:
vocab 4096, context 256, 4 layers, 4 heads, width 256; fp32) with a global batch of 8x256
tokens, as 2 processes x 1 thread x batch 4 (`gptlab launch -n 2`, gradients averaged by
gptlab-dist's Gloo all-reduce every step) vs 1 process x 2 threads x batch 8. Runs alternate,
ROUNDS times; prints tokens/s (global) min/median/max and the ratio of the medians. With
--zero1, a third configuration: 2 processes x 1 thread with AdamW's moments sharded (ZeRO
stage 1: each rank updates its half of the parameters, then the ranks all-gather them).

    .venv/bin/python bench/dp_vs_threads.py [--rounds 5] [--steps 10] [--zero1]
"""
import argparse, json, os, statistics, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GPTLAB = os.path.join(ROOT, "target/release/gptlab")


def run(args):
    out = subprocess.run([GPTLAB] + args, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"gptlab {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    r = json.loads([l for l in out.stdout.splitlines() if l.startswith("{")][-1])
    return r["tokens_per_s"], r.get("peak_rss_mib") or 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--zero1", action="store_true")
    a = ap.parse_args()
    steps = ["--steps", str(a.steps), "--warmup", "2"]
    dp = ["launch", "-n", "2", "--", "bench", "train", "--threads", "1", "--batch", "4"] + steps
    th = ["bench", "train", "--threads", "2", "--batch", "8"] + steps
    order = [("2 proc x 1 thread", dp), ("1 proc x 2 threads", th)] + ([("2 proc x 1 thread ZeRO-1", dp + ["--zero1"])] if a.zero1 else [])
    res = {name: [] for name, _ in order}
    rss = {name: [] for name, _ in order}
    for r in range(a.rounds):
        for name, args in order[r % len(order):] + order[:r % len(order)]:
            tps, mib = run(args)
            res[name].append(tps)
            rss[name].append(mib)
    print(f"gptlab bench train, global batch 8x256, {a.rounds} rounds x {a.steps} steps (tokens/s min/median/max)")
    for name, v in res.items():
        print(f"  {name:>26}: {min(v):8.0f} {statistics.median(v):8.0f} {max(v):8.0f}   peak RSS (rank 0) {statistics.median(rss[name]):.0f} MiB")
    print(f"  ratio (2x1 / 1x2, medians): {statistics.median(res['2 proc x 1 thread']) / statistics.median(res['1 proc x 2 threads']):.2f}x")
    if a.zero1:
        print(f"  ratio (2x1 ZeRO-1 / 2x1, medians): {statistics.median(res['2 proc x 1 thread ZeRO-1']) / statistics.median(res['2 proc x 1 thread']):.2f}x")


if __name__ == "__main__":
    main()
