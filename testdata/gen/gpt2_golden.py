#!/usr/bin/env python3
"""Golden fixtures for gptlab's parity test with PyTorch / Hugging Face transformers (llm.c style).

Writes testdata/golden/gpt2-tiny/ (an HF GPT-2 checkpoint: config.json + model.safetensors,
random weights) and testdata/golden/gpt2-tiny-golden.safetensors holding:
  input [B,T] int64, target [B,T] int64, logits [B,T,V], loss [], grad.<param> for every
  parameter (HF names, tied wte counted once), and losses [10]: the loss before each of 10
  AdamW steps (lr 1e-3 constant, betas (0.9, 0.95), eps 1e-8, weight decay 0.1 on weight
  matrices only — not on biases, LayerNorms or embeddings — global-norm clip 1.0).

    .venv/bin/python testdata/gen/gpt2_golden.py      # needs torch and transformers
"""
import json, os
import torch
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden")
torch.manual_seed(1234)
cfg = GPT2Config(vocab_size=64, n_positions=16, n_embd=32, n_layer=2, n_head=4, resid_pdrop=0.0,
                 embd_pdrop=0.0, attn_pdrop=0.0, activation_function="gelu_new", bos_token_id=0, eos_token_id=0)
model = GPT2LMHeadModel(cfg).float()
# non-trivial biases and LayerNorm weights so their gradients and parity mean something
with torch.no_grad():
    for n, p in model.named_parameters():
        if n.endswith(".bias") or ".ln_" in n:
            p.add_(0.1 * torch.randn_like(p))
model.eval()
ckpt = os.path.join(OUT, "gpt2-tiny")
model.save_pretrained(ckpt, safe_serialization=True)

B, T = 2, 12
x = torch.randint(0, cfg.vocab_size, (B, T + 1))
inp, tgt = x[:, :T].contiguous(), x[:, 1:].contiguous()


def loss_fn():
    logits = model(input_ids=inp).logits
    return logits, torch.nn.functional.cross_entropy(logits.reshape(-1, cfg.vocab_size), tgt.reshape(-1))


logits, loss = loss_fn()
loss.backward()
out = {"input": inp, "target": tgt, "logits": logits.detach().contiguous(), "loss": loss.detach().reshape(())}
for n, p in model.named_parameters():
    out["grad." + n] = p.grad.detach().clone().contiguous()
model.zero_grad(set_to_none=True)

decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "wte" not in n and "wpe" not in n]
other = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "wte" not in n and "wpe" not in n)]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
                        lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
losses = []
for _ in range(10):
    opt.zero_grad(set_to_none=True)
    _, loss = loss_fn()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    losses.append(loss.item())
out["losses"] = torch.tensor(losses, dtype=torch.float32)
save_file(out, os.path.join(OUT, "gpt2-tiny-golden.safetensors"), metadata={"format": "pt"})
print(json.dumps({"loss": out["loss"].item(), "losses": losses}))
