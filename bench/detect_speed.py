#!/usr/bin/env python3
"""Fast-DetectGPT scoring speed, side by side: gptlab (`gptlab_eval::detect::bench`, run by the
example `detect_bench`) against two PyTorch peers on HF transformers' GPT2LMHeadModel.

All load the same weights (a random GPT-2 of the benchmark shape: vocab 4096, context 256,
4 layers, 4 heads, width 256, saved once with save_pretrained; or --model DIR, any gptlab /
HF GPT-2 checkpoint) and score the same token ids (text j, token i: (7 i + 13 j + 3) mod V;
the ids are given, so no tokenization is timed) with Bao et al. 2023's analytic criterion,
sampling model = scoring model, fp32, 2 threads:

    mu_t = sum_v p_t(v) log p_t(v),  var_t = Var_{v ~ p_t}[log p_t(v)],
    score = (sum_t log p_t(x_t) - sum_t mu_t) / sqrt(sum_t var_t)

Peers:
  reference  the structure of the authors' scoring loop (baoguangsheng/fast-detect-gpt,
             scripts/fast_detect_gpt.py, --discrepancy_analytic), i.e. how the criterion is
             run in practice: one text at a time, a batch of 1 with its all-ones attention
             mask, under torch.no_grad(); logits[:, :-1] serve as both scoring and reference
             logits; log_softmax of the one and a separate softmax of the other, the
             log-likelihood by gather, var_t = sum_v p lp^2 - mu_t^2, and .item() per text.
  batched    a tuned peer: all texts in one batch (they have equal length) under
             torch.inference_mode(), one log_softmax whose exp gives p, and the centred
             variance sum_v p (lp - mu_t)^2.
gptlab scores all texts in one call (`score_seqs`). The two variance formulas differ
numerically (E[lp^2] - mu^2 cancels), so the largest score difference to gptlab is
reported per peer.

Each round runs every implementation in its own process (one warm-up pass, then the median
of REPEATS timed passes over all texts), in an order rotated from round to round; prints
texts/s min/median/max per implementation and, per peer, the ratio of medians gptlab/peer.

    cargo build --release -p gptlab-eval --example detect_bench
    .venv/bin/python bench/detect_speed.py [--rounds 5] [--texts 32] [--tokens 256] [--peers reference,batched]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = ("reference", "batched")


def make_model(path):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=4096, n_positions=256, n_embd=256, n_layer=4, n_head=4,
                     bos_token_id=0, eos_token_id=0)
    GPT2LMHeadModel(cfg).save_pretrained(path, safe_serialization=True)


def ids(texts, tokens, vocab):
    return [[(7 * i + 13 * j + 3) % vocab for i in range(tokens)] for j in range(texts)]


def batched_scores(m, x):
    """All texts at once: x [B, T] -> B scores (a tensor)."""
    import torch
    logits, labels = m(x).logits[:, :-1].float(), x[:, 1:]
    lp = torch.log_softmax(logits, dim=-1)
    p = lp.exp()
    ll = lp.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    mu = (p * lp).sum(-1)
    var = (p * (lp - mu.unsqueeze(-1)).square()).sum(-1)
    return (ll.sum(-1) - mu.sum(-1)) / var.sum(-1).sqrt()


def reference_score(m, x, mask):
    """One text, the authors' way: x [1, T] -> a Python float."""
    import torch
    with torch.no_grad():
        logits = m(input_ids=x, attention_mask=mask).logits[:, :-1]
        scoring, ref, labels = logits, logits, x[:, 1:]
        lp = torch.log_softmax(scoring, dim=-1)
        p = torch.softmax(ref, dim=-1)
        ll = lp.gather(dim=-1, index=labels.unsqueeze(-1)).squeeze(-1)
        mu = (p * lp).sum(dim=-1)
        var = (p * lp.square()).sum(dim=-1) - mu.square()
        return ((ll.sum(dim=-1) - mu.sum(dim=-1)) / var.sum(dim=-1).sqrt()).mean().item()


def peer_run(peer, path, texts, tokens, repeats, threads):
    import torch
    from transformers import GPT2LMHeadModel
    torch.set_num_threads(threads)
    m = GPT2LMHeadModel.from_pretrained(path).eval()
    tokens = min(tokens, m.config.n_positions)
    x = torch.tensor(ids(texts, tokens, m.config.vocab_size))
    if peer == "batched":
        def run():
            with torch.inference_mode():
                return batched_scores(m, x).tolist()
    else:
        rows = [(x[j:j + 1].clone(), torch.ones(1, tokens, dtype=torch.long)) for j in range(texts)]
        def run():
            return [reference_score(m, xj, mj) for xj, mj in rows]
    times = []
    for r in range(repeats + 1):
        t0 = time.perf_counter()
        scores = run()
        if r > 0:
            times.append(time.perf_counter() - t0)
    print(json.dumps({"impl": peer, "texts_per_s": texts / statistics.median(times), "scores": scores}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--texts", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default=None, help="a checkpoint dir (default: a fresh random GPT-2)")
    ap.add_argument("--peers", default=",".join(PEERS), help="comma-separated, from: " + ",".join(PEERS))
    ap.add_argument("--child", default=None)
    a = ap.parse_args()
    peers = [p for p in a.peers.split(",") if p]
    if not peers or any(p not in PEERS for p in peers):
        sys.exit(f"--peers: choose from {','.join(PEERS)}")
    if a.child:
        return peer_run(peers[0], a.child, a.texts, a.tokens, a.repeats, a.threads)
    exe = os.path.join(ROOT, "target", "release", "examples", "detect_bench")
    if not os.path.exists(exe):
        sys.exit(f"{exe} is missing: cargo build --release -p gptlab-eval --example detect_bench")
    sizes = ["--texts", str(a.texts), "--tokens", str(a.tokens), "--repeats", str(a.repeats), "--threads", str(a.threads)]
    with tempfile.TemporaryDirectory() as d:
        model = a.model or d
        if not a.model:
            make_model(d)
        impls = ["gptlab"] + peers
        res, scores = {i: [] for i in impls}, {}
        for r in range(a.rounds):
            for impl in impls[r % len(impls):] + impls[:r % len(impls)]:
                if impl == "gptlab":
                    cmd = [exe, model, a.device, str(a.threads), str(a.texts), str(a.tokens), str(a.repeats)]
                else:
                    cmd = [sys.executable, __file__, "--child", model, "--peers", impl] + sizes
                out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
                res[impl].append(out["texts_per_s"])
                scores[impl] = out["scores"]
                print(f"round {r} {impl:9s} {out['texts_per_s']:9.1f} texts/s", flush=True)
        for impl in impls:
            v = sorted(res[impl])
            print(f"{impl:9s} texts/s min {v[0]:.1f} median {statistics.median(v):.1f} max {v[-1]:.1f}")
        for peer in peers:
            ratio = statistics.median(res["gptlab"]) / statistics.median(res[peer])
            diff = max(abs(x - y) for x, y in zip(scores[peer], scores["gptlab"]))
            print(f"gptlab/{peer}: ratio of medians {ratio:.2f}x, largest score difference {diff:.2e} (over {len(scores[peer])} texts)")


if __name__ == "__main__":
    main()
