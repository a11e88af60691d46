#!/usr/bin/env python3
"""PPO speed, side by side: TRL's PPOTrainer (PyPI `trl`, experimental.ppo) vs `gptlab ppo`.

Both start from the same checkpoints, made here by gptlab at the demo's model size (a world,
then one step each of pretraining, SFT and RM training: the weights barely matter for speed,
and a near-random policy rarely stops early, so both sample the full response length):
4 layers, 4 heads, width 128, context 128, the world's BPE vocabulary. The same settings on
both sides: rollout batch 16 prompts (chat-rendered), 24 new tokens at temperature 1, 4 PPO
epochs of 2 minibatches of 8, k3 KL against the frozen reference, β = 0.02, a value model
and a reward model of the policy's size, no pretraining term, fp32 on the CPU, 2 threads.

An iteration is one rollout batch and its update (TRL: one `update`, timed between its
per-update log calls; gptlab: `time/iteration_s` in metrics.jsonl). The first iteration
of each run is warm-up and not counted. ROUNDS alternating runs, each in its own process;
prints iterations/s min/median/max per implementation and the ratio of medians.

    .venv/bin/python bench/ppo_vs_trl.py [--rounds 3] [--iters 8]

TRL is installed into .venv on first use (trl==1.12.0, the newest release that still ships
PPOTrainer, under trl.experimental.ppo).
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GL = os.path.join(ROOT, "target", "release", "gptlab")
TRL_VERSION = "1.12.0"
BATCH, MINIBATCH, EPOCHS, NEW = 16, 8, 4, 24


def sh(*args):
    r = subprocess.run(list(args), capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return r.stdout


def make_checkpoints(d):
    w = os.path.join(d, "world")
    sh(GL, "world", "generate", "--seed", "0", "--out", w, "--corpus-sentences", "4000", "--prompts", "400")
    cfg = lambda s: os.path.join(ROOT, "configs", "tiny", f"{s}.toml")
    sh(GL, "pretrain", "--config", cfg("pretrain"), "--quiet", "--set", f"data.corpus={w}/corpus.txt",
       "--set", "train.max_iters=1", "--set", "train.eval_iters=1", "--set", f"run.out_dir={d}/pretrain")
    sh(GL, "sft", "--config", cfg("sft"), "--quiet", "--set", f"sft.init_from={d}/pretrain/best",
       "--set", f"sft.train={w}/sft.jsonl", "--set", "train.max_iters=1", "--set", f"run.out_dir={d}/sft")
    sh(GL, "world", "label", "--world", w, "--model", f"{d}/sft/best", "--limit", "40", "--out", f"{d}/cmp.jsonl")
    sh(GL, "rm", "--config", cfg("rm"), "--quiet", "--set", f"rm.init_from={d}/sft/best",
       "--set", f"rm.train={d}/cmp.jsonl", "--set", "train.max_iters=1", "--set", f"run.out_dir={d}/rm")
    return w


def gptlab_run(d, w, iters, threads, tag):
    out = os.path.join(d, f"ppo-{tag}")
    sh(GL, "ppo", "--config", os.path.join(ROOT, "configs", "tiny", "ppo.toml"), "--quiet",
       "--set", f"ppo.policy_from={d}/sft/best", "--set", f"ppo.reward_from={d}/rm/best",
       "--set", f"ppo.prompts={w}/prompts_train.jsonl", "--set", f"ppo.val_prompts={w}/prompts_val.jsonl",
       "--set", f"rollout.batch={BATCH}", "--set", f"ppo.minibatch_size={MINIBATCH}",
       "--set", f"ppo.ppo_epochs={EPOCHS}", "--set", f"rollout.max_new_tokens={NEW}",
       "--set", f"train.max_iters={iters}", "--set", f"train.threads={threads}",
       "--set", f"run.out_dir={out}")
    recs = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))]
    times = [r["time/iteration_s"] for r in recs][1:]
    rollout = [r["time/rollout_s"] for r in recs][1:]
    lens = [r["val/mean_len"] for r in recs]
    return {"impl": "gptlab", "iters_per_s": 1.0 / statistics.mean(times), "mean_response_len": statistics.mean(lens),
            "rollout_share": sum(rollout) / sum(times)}


def trl_child(d, w, iters, threads):
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, PreTrainedTokenizerFast, TrainerCallback
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    sft = os.path.join(d, "sft", "best")
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(sft, "tokenizer.json"))
    tok.eos_token = "<|end|>"
    # TRL masks pad positions out of attention, so the pad must be a token prompts never hold
    tok.add_special_tokens({"pad_token": "<|pad|>"})
    tok.padding_side = "left"
    prompts = [json.loads(l)["prompt"] for l in open(os.path.join(w, "prompts_train.jsonl"))]
    ids = [tok(f"<|bos|><|user|>{p}<|end|><|assistant|>", add_special_tokens=False)["input_ids"] for p in prompts]
    ds = Dataset.from_dict({"input_ids": ids})

    def load(cls, **kw):
        m = cls.from_pretrained(sft, **kw)
        m.resize_token_embeddings(len(tok))
        m.config.pad_token_id = tok.pad_token_id
        return m

    policy, ref = load(AutoModelForCausalLM), load(AutoModelForCausalLM)
    reward = load(AutoModelForSequenceClassification, num_labels=1)
    value = load(AutoModelForSequenceClassification, num_labels=1)
    stamps, lens = [], []

    class Clock(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "objective/kl" in logs:
                stamps.append(time.perf_counter())
                n = logs.get("val/num_eos_tokens")
                lens.append(n)

    args = PPOConfig(
        output_dir=os.path.join(d, "trl-out"), per_device_train_batch_size=BATCH, gradient_accumulation_steps=1,
        num_mini_batches=BATCH // MINIBATCH, num_ppo_epochs=EPOCHS, response_length=NEW, temperature=1.0,
        total_episodes=(iters + 1) * BATCH, learning_rate=1e-5, kl_coef=0.02, kl_estimator="k1", cliprange=0.2,
        cliprange_value=0.2, vf_coef=0.1, gamma=1.0, lam=0.95, stop_token="eos", local_rollout_forward_batch_size=BATCH,
        num_sample_generations=0, report_to=[], save_strategy="no", logging_steps=1, use_cpu=True, bf16=False,
        fp16=False, seed=0, dataloader_num_workers=0,
    )
    trainer = PPOTrainer(args=args, processing_class=tok, model=policy, ref_model=ref, reward_model=reward,
                         train_dataset=ds, value_model=value, callbacks=[Clock()])
    trainer.train()
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    print(json.dumps({"impl": "trl", "iters_per_s": 1.0 / statistics.mean(gaps), "iterations_timed": len(gaps),
                      "eos_tokens_per_batch": statistics.mean(lens) if lens else None}))


def ensure_trl():
    try:
        import trl  # noqa: F401
        if trl.__version__ == TRL_VERSION:
            return
    except ImportError:
        pass
    print(f"installing trl=={TRL_VERSION} into {sys.prefix}", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", f"trl=={TRL_VERSION}"], check=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters", type=int, default=8, help="timed PPO iterations per run (one more runs as warm-up)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", nargs=2, default=None)
    a = ap.parse_args()
    if a.child:
        return trl_child(a.child[0], a.child[1], a.iters, a.threads)
    if not os.path.exists(GL):
        sys.exit(f"{GL} is missing: build it first (./dev.sh setup; cargo build --release -p gptlab-cli)")
    ensure_trl()
    with tempfile.TemporaryDirectory() as d:
        w = make_checkpoints(d)
        res = {"trl": [], "gptlab": []}
        for r in range(a.rounds):
            out = subprocess.run([sys.executable, __file__, "--child", d, w, "--iters", str(a.iters), "--threads", str(a.threads)],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"TRL run failed:\n{out.stderr[-3000:]}")
            t = json.loads(out.stdout.strip().splitlines()[-1])
            g = gptlab_run(d, w, a.iters + 1, a.threads, r)
            res["trl"].append(t["iters_per_s"])
            res["gptlab"].append(g["iters_per_s"])
            print(f"round {r + 1}: TRL {t['iters_per_s']:.3f} it/s, gptlab {g['iters_per_s']:.3f} it/s "
                  f"(gptlab: mean response {g['mean_response_len']:.1f} tokens, rollout {100 * g['rollout_share']:.0f}% of an iteration)", flush=True)
    summary = {k: {"min": min(v), "median": statistics.median(v), "max": max(v)} for k, v in res.items()}
    summary["ratio_gptlab_over_trl"] = summary["gptlab"]["median"] / summary["trl"]["median"]
    summary["settings"] = {"rollout_batch": BATCH, "minibatch": MINIBATCH, "ppo_epochs": EPOCHS, "new_tokens": NEW,
                           "threads": a.threads, "iters": a.iters, "rounds": a.rounds, "trl": TRL_VERSION}
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
