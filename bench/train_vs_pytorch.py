#!/usr/bin/env python3
"""Training speed, side by side: PyTorch eager vs `gptlab bench train`.

Same model (GPT-2 style: vocab 4096, context 256, 4 layers, 4 heads, width 256, biases,
tanh GELU, tied embeddings, fused SDPA attention), same batch (8x256 random tokens), same step
(forward + cross-entropy + backward + clip 1.0 + AdamW with decay/no-decay groups), 2 threads,
fp32 and bf16 (PyTorch: torch.autocast("cpu", bfloat16); gptlab: --dtype bf16, the same
mixed precision: fp32 master weights, bf16 matmuls and attention). Runs all four ROUNDS times,
alternating, each in its own process, and prints tokens/s and peak RSS min/median/max and
the ratios.

    .venv/bin/python bench/train_vs_pytorch.py [--rounds 5] [--steps 20]

On a GPU (bench/gpu_check.sh runs this on the GPU machine): `--device cuda --size gpt2`
uses GPT-2 small's shape (vocab 50304, context 1024, 12 layers, 12 heads, width 768, batch 8)
and `torch.autocast("cuda", bfloat16)`; each step ends with a device synchronisation on both
sides (gptlab reads the loss back every step).
"""
import argparse, json, os, resource, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


SIZES = {"small": (4096, 256, 4, 4, 256, 8), "gpt2": (50304, 1024, 12, 12, 768, 8)}


def pytorch_run(steps, warmup, threads, dtype, device="cpu", size="small"):
    import torch, torch.nn as nn, torch.nn.functional as F
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    V, T, L, H, C, B = SIZES[size]

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
            self.c_attn, self.attn_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
            self.c_fc, self.mlp_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

        def forward(self, x):
            b, t, c = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
            q, k, v = (z.view(b, t, H, C // H).transpose(1, 2) for z in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.attn_proj(y.transpose(1, 2).contiguous().view(b, t, c))
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
            self.h = nn.ModuleList(Block() for _ in range(L))
            self.ln_f = nn.LayerNorm(C)

        def forward(self, idx, tgt):
            x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
            for blk in self.h:
                x = blk(x)
            logits = self.ln_f(x) @ self.wte.weight.t()
            return F.cross_entropy(logits.view(-1, V), tgt.reshape(-1))

    m = GPT().to(device)
    decay = [p for n, p in m.named_parameters() if p.dim() >= 2 and "wte" not in n and "wpe" not in n]
    other = [p for n, p in m.named_parameters() if not (p.dim() >= 2 and "wte" not in n and "wpe" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.95))
    x = torch.randint(V, (B, T + 1), device=device)
    inp, tgt = x[:, :T], x[:, 1:]
    times = []
    import contextlib
    ctx = (lambda: torch.autocast(device, dtype=torch.bfloat16)) if dtype == "bf16" else contextlib.nullcontext
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with ctx():
            loss = m(inp, tgt)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        sync()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"bench": "train", "impl": "pytorch", "dtype": dtype, "tokens_per_s": B * T / med, "peak_rss_mib": rss,
                      "torch": torch.__version__, "threads": torch.get_num_threads(), "device": device, "size": size}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--size", default="small", choices=sorted(SIZES))
    ap.add_argument("--gptlab", default=os.path.join(ROOT, "target", "release", "gptlab"), help="the gptlab binary")
    ap.add_argument("--child", default=None, help="internal: run PyTorch with this dtype")
    a = ap.parse_args()
    if a.child:
        return pytorch_run(a.steps, a.warmup, a.threads, a.child, a.device, a.size)
    gl = a.gptlab
    V, T, L, H, C, B = SIZES[a.size]
    shape = ["--vocab", str(V), "--block", str(T), "--n-layer", str(L), "--n-head", str(H), "--n-embd", str(C), "--batch", str(B),
             "--device", a.device]
    impls = ["pytorch-fp32", "gptlab-fp32", "pytorch-bf16", "gptlab-bf16"]
    res = {i: [] for i in impls}
    rss = {i: [] for i in impls}
    for r in range(a.rounds):
        for impl in impls:
            who, dtype = impl.split("-")
            common = ["--steps", str(a.steps), "--warmup", str(a.warmup), "--threads", str(a.threads)]
            if who == "pytorch":
                cmd = [sys.executable, __file__, "--child", dtype, "--device", a.device, "--size", a.size] + common
            else:
                cmd = [gl, "bench", "train", "--dtype", dtype] + common + shape
            out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
            res[impl].append(out["tokens_per_s"])
            rss[impl].append(out["peak_rss_mib"])
            print(f"round {r} {impl:13s} {out['tokens_per_s']:8.0f} tok/s  peak {out['peak_rss_mib']:.0f} MiB", flush=True)
    med = {i: statistics.median(res[i]) for i in impls}
    for impl in impls:
        v = sorted(res[impl])
        print(f"{impl:13s} tokens/s min {v[0]:.0f} median {med[impl]:.0f} max {v[-1]:.0f}; "
              f"peak RSS median {statistics.median(rss[impl]):.0f} MiB")
    for num, den in (("gptlab-fp32", "pytorch-fp32"), ("gptlab-bf16", "pytorch-fp32"), ("gptlab-bf16", "pytorch-bf16")):
        ratios = sorted(g / p for g, p in zip(res[num], res[den]))
        print(f"{num} / {den}: per round min {ratios[0]:.2f} median {statistics.median(ratios):.2f} "
              f"max {ratios[-1]:.2f}; ratio of medians {med[num] / med[den]:.2f}x")


if __name__ == "__main__":
    main()
