#!/usr/bin/env python3
"""How far a half-precision KV cache moves `gptlab serve`'s output from the model's own
precision: the same prompts, greedy, 200 tokens, through a server with `--kv-cache-dtype auto`
and one with `f16`; counts the completions that are token for token the same, where the others
first differ, and the largest difference of a chosen token's log-probability before that.

The model: --model DIR (a gptlab checkpoint with its tokenizer.json), or by default the serving
benchmark's (bench/serve_load.py: one `gptlab pretrain` step, nearly untrained). Prompts: the
first 32 tokens of tiny shakespeare at every 5,000th character.

    .venv/bin/python bench/kv_cache_agreement.py [--prompts 32] [--model DIR]
"""
import argparse, json, os, subprocess, sys, tempfile, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_load  # noqa: E402  (the benchmark's model and paths)


def start(model, db, dtype):
    p = subprocess.Popen([serve_load.GL, "serve", "--model", f"m={model}", "--db", db, "--addr", "127.0.0.1:0", "--rate-limit", "0", "--kv-cache-dtype", dtype],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return p, p.stdout.readline().strip()


def complete(url, prompt):
    """(tokens, their log-probabilities) of one greedy completion."""
    body = json.dumps({"model": "m", "prompt": prompt, "max_tokens": serve_load.NEW, "temperature": 0, "logprobs": 1}).encode()
    req = urllib.request.Request(url + "/v1/completions", data=body, headers={"Content-Type": "application/json"})
    c = json.loads(urllib.request.urlopen(req, timeout=300).read())["choices"][0]["logprobs"]
    return c["tokens"], c["token_logprobs"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--model", help="a gptlab checkpoint directory (default: the serving benchmark's model)")
    a = ap.parse_args()
    from tokenizers import Tokenizer
    with tempfile.TemporaryDirectory() as d:
        model = a.model or serve_load.make_model(d)
        tok = Tokenizer.from_file(os.path.join(model, "tokenizer.json"))
        text = open(serve_load.CORPUS).read()
        prompts = [tok.decode(tok.encode(text[i * 5000:i * 5000 + 2000]).ids[:32]) for i in range(a.prompts)]
        outs = {}
        for dtype in ("auto", "f16"):
            p, url = start(model, os.path.join(d, dtype + ".db"), dtype)
            try:
                outs[dtype] = [complete(url, q) for q in prompts]
            finally:
                p.kill()
                p.wait()
    same, first, worst = 0, [], 0.0
    for (ta, la), (tb, lb) in zip(outs["auto"], outs["f16"]):
        n = next((i for i, (x, y) in enumerate(zip(ta, tb)) if x != y), None)
        upto = min(len(ta), len(tb)) if n is None else n
        worst = max([worst] + [abs(x - y) for x, y in zip(la[:upto], lb[:upto])])
        if n is None and len(ta) == len(tb):
            same += 1
        else:
            first.append(upto)
    print(json.dumps({"model": a.model or "serve_load's", "prompts": len(prompts), "identical_greedy_completions": same, "first_difference_at_token": first,
                      "max_abs_logprob_difference_before_it": worst}))


if __name__ == "__main__":
    main()
