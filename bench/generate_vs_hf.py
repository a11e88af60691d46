#!/usr/bin/env python3
"""Generation speed, side by side: HF transformers `generate` vs `gptlab bench generate`.

Both load the same weights (a random GPT-2 of the benchmark shape: vocab 4096, context 256,
4 layers, 4 heads, width 256, saved once with save_pretrained), generate greedily with the KV
cache from the same 32-token prompt, 200 new tokens (no early stop), batch 1, 2 threads,
fp32. Alternates ROUNDS times, each in its own process; prints tokens/s min/median/max and
the ratio of medians.

    .venv/bin/python bench/generate_vs_hf.py [--rounds 5] [--batch 1]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPT_LEN, NEW = 32, 200


def make_model(path):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=4096, n_positions=256, n_embd=256, n_layer=4, n_head=4,
                     bos_token_id=0, eos_token_id=0)
    GPT2LMHeadModel(cfg).save_pretrained(path, safe_serialization=True)


def hf_run(path, batch, repeats, threads):
    import torch
    from transformers import GPT2LMHeadModel
    torch.set_num_threads(threads)
    m = GPT2LMHeadModel.from_pretrained(path).eval()
    prompt = torch.tensor([[(i * 7 + 3) % 4096 for i in range(PROMPT_LEN)]] * batch)
    times = []
    with torch.inference_mode():
        for r in range(repeats + 1):
            t0 = time.perf_counter()
            out = m.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=NEW,
                             min_new_tokens=NEW, do_sample=False, use_cache=True, pad_token_id=0)
            if r > 0:
                times.append(time.perf_counter() - t0)
    produced = (out.shape[1] - PROMPT_LEN) * batch
    print(json.dumps({"impl": "hf", "tokens_per_s": produced / statistics.median(times), "tokens": out[0, PROMPT_LEN:].tolist()}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", default=None)
    a = ap.parse_args()
    if a.child:
        return hf_run(a.child, a.batch, a.repeats, a.threads)
    gl = os.path.join(ROOT, "target", "release", "gptlab")
    with tempfile.TemporaryDirectory() as d:
        make_model(d)
        res = {"hf": [], "gptlab": []}
        for r in range(a.rounds):
            for impl in ("hf", "gptlab"):
                if impl == "hf":
                    cmd = [sys.executable, __file__, "--child", d, "--batch", str(a.batch), "--repeats", str(a.repeats),
                           "--threads", str(a.threads)]
                else:
                    cmd = [gl, "bench", "generate", "--model", d, "--batch", str(a.batch), "--prompt-len", str(PROMPT_LEN),
                           "--new-tokens", str(NEW), "--repeats", str(a.repeats), "--threads", str(a.threads)]
                out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
                res[impl].append(out["tokens_per_s"])
                print(f"round {r} {impl:7s} {out['tokens_per_s']:8.0f} tok/s", flush=True)
        for impl in res:
            v = sorted(res[impl])
            print(f"{impl:7s} tokens/s min {v[0]:.0f} median {statistics.median(v):.0f} max {v[-1]:.0f}")
        print(f"ratio of medians gptlab/hf: {statistics.median(res['gptlab']) / statistics.median(res['hf']):.2f}x")


if __name__ == "__main__":
    main()
