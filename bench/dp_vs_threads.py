#!/usr/bin/env python3
"""Data parallelism vs intra-op threads on the CPU: `gptlab bench train` (the benchmark model:
vocab 4096, context 256, 4 layers, 4 heads, width 256; fp32) with a global batch of 8x256
tokens, as 2 processes x 1 thread x batch 4 (`gptlab launch -n 2`, gradients averaged by
gptlab-dist's Gloo all-reduce every step) vs 1 process x 2 threads x batch 8. Runs alternate,
ROUNDS times; prints tokens/s (global) min/median/max and the ratio of the medians.

    .venv/bin/python bench/dp_vs_threads.py [--rounds 5] [--steps 10]
"""
import argparse, json, os, statistics, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GPTLAB = os.path.join(ROOT, "target/release/gptlab")


def run(args):
    out = subprocess.run([GPTLAB] + args, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"gptlab {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return json.loads([l for l in out.stdout.splitlines() if l.startswith("{")][-1])["tokens_per_s"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10)
    a = ap.parse_args()
    steps = ["--steps", str(a.steps), "--warmup", "2"]
    dp = ["launch", "-n", "2", "--", "bench", "train", "--threads", "1", "--batch", "4"] + steps
    th = ["bench", "train", "--threads", "2", "--batch", "8"] + steps
    res = {"2 proc x 1 thread": [], "1 proc x 2 threads": []}
    for r in range(a.rounds):
        order = [("2 proc x 1 thread", dp), ("1 proc x 2 threads", th)]
        for name, args in order if r % 2 == 0 else order[::-1]:
            res[name].append(run(args))
    print(f"gptlab bench train, global batch 8x256, {a.rounds} rounds x {a.steps} steps (tokens/s min/median/max)")
    for name, v in res.items():
        print(f"  {name:>20}: {min(v):8.0f} {statistics.median(v):8.0f} {max(v):8.0f}")
    print(f"  ratio (2x1 / 1x2, medians): {statistics.median(res['2 proc x 1 thread']) / statistics.median(res['1 proc x 2 threads']):.2f}x")


if __name__ == "__main__":
    main()
