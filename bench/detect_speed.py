#!/usr/bin/env python3
"""Fast-DetectGPT scoring speed, side by side: PyTorch (HF transformers GPT2LMHeadModel) vs
gptlab (`gptlab_eval::detect::bench`, run by the example `detect_bench`).

Both load the same weights (a random GPT-2 of the benchmark shape: vocab 4096, context 256,
4 layers, 4 heads, width 256, saved once with save_pretrained; or --model DIR, any gptlab /
HF GPT-2 checkpoint) and score the same token ids (text j, token i: (7 i + 13 j + 3) mod V)
with the same criterion, sampling model = scoring model:

    mu_t = sum_v p_t(v) log p_t(v),  var_t = sum_v p_t(v) (log p_t(v) - mu_t)^2,
    score = (sum_t log p_t(x_t) - sum_t mu_t) / sqrt(sum_t var_t)

in batches of all texts (they have equal length), fp32, 2 threads. Alternates ROUNDS times,
each in its own process; prints texts/s min/median/max per implementation, the ratio of
medians, and the largest difference between the two implementations' scores.

    cargo build --release -p gptlab-eval --example detect_bench
    .venv/bin/python bench/detect_speed.py [--rounds 5] [--texts 32] [--tokens 256]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_model(path):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=4096, n_positions=256, n_embd=256, n_layer=4, n_head=4,
                     bos_token_id=0, eos_token_id=0)
    GPT2LMHeadModel(cfg).save_pretrained(path, safe_serialization=True)


def ids(texts, tokens, vocab):
    return [[(7 * i + 13 * j + 3) % vocab for i in range(tokens)] for j in range(texts)]


def fast_detectgpt(logits, labels):
    """Bao et al. 2023's analytic criterion; logits [B, T-1, V] predict labels [B, T-1]."""
    import torch
    lp = torch.log_softmax(logits.float(), dim=-1)
    p = lp.exp()
    ll = lp.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    mu = (p * lp).sum(-1)
    var = (p * (lp - mu.unsqueeze(-1)).square()).sum(-1)
    return (ll.sum(-1) - mu.sum(-1)) / var.sum(-1).sqrt()


def hf_run(path, texts, tokens, repeats, threads):
    import torch
    from transformers import GPT2LMHeadModel
    torch.set_num_threads(threads)
    m = GPT2LMHeadModel.from_pretrained(path).eval()
    tokens = min(tokens, m.config.n_positions)
    x = torch.tensor(ids(texts, tokens, m.config.vocab_size))
    times = []
    with torch.inference_mode():
        for r in range(repeats + 1):
            t0 = time.perf_counter()
            scores = fast_detectgpt(m(x).logits[:, :-1], x[:, 1:])
            if r > 0:
                times.append(time.perf_counter() - t0)
    print(json.dumps({"impl": "pytorch", "texts_per_s": texts / statistics.median(times), "scores": scores.tolist()}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--texts", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default=None, help="a checkpoint dir (default: a fresh random GPT-2)")
    ap.add_argument("--child", default=None)
    a = ap.parse_args()
    if a.child:
        return hf_run(a.child, a.texts, a.tokens, a.repeats, a.threads)
    exe = os.path.join(ROOT, "target", "release", "examples", "detect_bench")
    if not os.path.exists(exe):
        sys.exit(f"{exe} is missing: cargo build --release -p gptlab-eval --example detect_bench")
    with tempfile.TemporaryDirectory() as d:
        model = a.model or d
        if not a.model:
            make_model(d)
        res, scores = {"pytorch": [], "gptlab": []}, {}
        for r in range(a.rounds):
            for impl in ("pytorch", "gptlab"):
                if impl == "pytorch":
                    cmd = [sys.executable, __file__, "--child", model, "--texts", str(a.texts), "--tokens", str(a.tokens),
                           "--repeats", str(a.repeats), "--threads", str(a.threads)]
                else:
                    cmd = [exe, model, a.device, str(a.threads), str(a.texts), str(a.tokens), str(a.repeats)]
                out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
                res[impl].append(out["texts_per_s"])
                scores[impl] = out["scores"]
                print(f"round {r} {impl:8s} {out['texts_per_s']:9.1f} texts/s", flush=True)
        for impl in res:
            v = sorted(res[impl])
            print(f"{impl:8s} texts/s min {v[0]:.1f} median {statistics.median(v):.1f} max {v[-1]:.1f}")
        print(f"ratio of medians gptlab/pytorch: {statistics.median(res['gptlab']) / statistics.median(res['pytorch']):.2f}x")
        diff = max(abs(x - y) for x, y in zip(scores["pytorch"], scores["gptlab"]))
        print(f"largest score difference: {diff:.2e} (over {len(scores['gptlab'])} texts)")


if __name__ == "__main__":
    main()
