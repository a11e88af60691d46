#!/usr/bin/env python3
"""Serving speed and load, side by side with HF transformers, on one model.

The model: a GPT of the generation benchmark's shape (context 256, 4 layers, 4 heads, width
256, its own BPE tokenizer of 4096 tokens) from one `gptlab pretrain` step on tiny
shakespeare, so it has a tokenizer.json and HF loads the same weights.

Each round:
  - HF `generate`, single stream: 32-token prompt, 200 new tokens (min_new_tokens: no early
    stop), greedy, KV cache, 2 threads, fp32; tokens/s over the whole call.
  - `gptlab serve` (same weights, 2 torch threads), streamed `/v1/completions` with the same
    prompt text, 200 tokens, greedy, at 1, 4 and 16 concurrent clients (each sends 8, 4 or 3
    requests in a row; the clients are asyncio tasks in one Python process on the same 2 cores, each request on its own HTTP/1.1 connection): aggregate tokens/s (completion tokens / wall time), time to first token, and
    inter-token latency (gaps between streamed chunks) p50 / p99.
  - Load: 16 clients, 64 requests in all (a fixed count), each given at most --timeout seconds
    (a request past it is cut off and counted as an error, so the test stops by itself), then
    the request log is read: every request must be there with status ok, and no request failed.
  - With --kv-cache-dtype auto,f16, the server part runs twice a round: a server with the KV
    cache in the model's precision and one with it in half precision, each first in turn.

Prints one JSON line per measurement, then min/median/max over rounds and the two ratios the
serving issue asks for (single stream vs HF; 16 clients vs one), for each KV cache dtype, and
with two of them their ratio; exits non-zero when a load test had an error or a lost log row.

    .venv/bin/python bench/serve_load.py [--rounds 3] [--timeout 120] [--kv-cache-dtype default|auto|f16|auto,f16]
"""
import argparse, asyncio, json, os, sqlite3, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GL = os.path.join(ROOT, "target", "release", "gptlab")
CORPUS = os.path.join(ROOT, "..", "shared", "data", "tinyshakespeare", "input.txt")
NEW = 200
# requests each client sends in a row: more for one client, whose figure would be noisy
REQS = {1: 8, 4: 4, 16: 3}


def make_model(d):
    over = {"data.corpus": json.dumps(CORPUS), "run.out_dir": json.dumps(os.path.join(d, "run")), "data.vocab_size": "4096",
            "model.n_layer": "4", "model.n_head": "4", "model.n_embd": "256", "model.block_size": "256", "train.max_iters": "1",
            "train.eval_interval": "1", "train.eval_iters": "1", "train.batch_size": "2"}
    args = [GL, "pretrain", "--config", os.path.join(ROOT, "configs/tiny/pretrain.toml"), "--quiet"]
    for k, v in over.items():
        args += ["--set", f"{k}={v}"]
    subprocess.run(args, check=True, capture_output=True)
    return os.path.join(d, "run", "last")


def prompt_text(model):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(model, "tokenizer.json"))
    text = open(CORPUS).read()[:2000]
    ids = tok.encode(text).ids[:32]
    return tok.decode(ids), ids


def hf_tokens_per_s(model, ids):
    code = f"""
import json, time, torch
from transformers import GPT2LMHeadModel
torch.set_num_threads(2)
m = GPT2LMHeadModel.from_pretrained({model!r}).eval()
p = torch.tensor([{ids!r}])
ts = []
with torch.inference_mode():
    for r in range(4):
        t0 = time.perf_counter()
        out = m.generate(p, attention_mask=torch.ones_like(p), max_new_tokens={NEW}, min_new_tokens={NEW}, do_sample=False, use_cache=True, pad_token_id=0)
        if r: ts.append(time.perf_counter() - t0)
print(json.dumps({{"tokens_per_s": (out.shape[1] - p.shape[1]) / sorted(ts)[len(ts) // 2]}}))
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["tokens_per_s"]


# seconds a request may take before it is cut off and counted as an error (--timeout)
TIMEOUT = 120.0


async def stream_one(url, prompt, seed):
    """(ttft, gaps, completion tokens, ok) of one streamed completion, given at most TIMEOUT
    seconds: HTTP/1.1 on a raw asyncio connection (one per request), the chunked SSE body
    decoded as it arrives, every `data:` frame parsed; a frame's time is when its chunk was
    read."""
    try:
        return await asyncio.wait_for(stream_body(url, prompt, seed), TIMEOUT)
    except Exception as e:  # counted as an error
        print(f"request failed: {e!r}", file=sys.stderr)
        return None, [], 0, False


async def stream_body(url, prompt, seed):
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    body = json.dumps({"model": "m", "prompt": prompt, "max_tokens": NEW, "temperature": 0, "seed": seed, "stream": True,
                       "stream_options": {"include_usage": True}}).encode()
    head = f"POST /v1/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    first, last, gaps, tokens = None, None, [], 0
    t0 = time.perf_counter()
    r, w = await asyncio.open_connection(host, int(port))
    try:
        w.write(head.encode() + body)
        status = await r.readline()
        while (await r.readline()) not in (b"\r\n", b""):
            pass
        if b" 200 " not in status:
            raise RuntimeError(status.decode().strip())
        buf = b""
        while True:
            size = int((await r.readline()).split(b";")[0], 16)
            if size == 0:
                break
            buf += (await r.readexactly(size + 2))[:-2]
            now = time.perf_counter()
            *events, buf = buf.split(b"\n\n")
            for ev in events:
                if not ev.startswith(b"data: ") or ev == b"data: [DONE]":
                    continue
                c = json.loads(ev[6:])
                if c.get("usage"):
                    tokens = c["usage"]["completion_tokens"]
                elif c["choices"] and c["choices"][0]["text"]:
                    if first is None:
                        first = now - t0
                    else:
                        gaps.append(now - last)
                    last = now
        return first, gaps, tokens, True
    finally:
        w.close()


def clients(url, prompt, n, reqs):
    """n concurrent clients (asyncio tasks in this process), each sending reqs requests in a row."""
    async def client(i):
        return [await stream_one(url, prompt, i * 100 + j) for j in range(reqs)]

    async def run():
        return [r for rs in await asyncio.gather(*(client(i) for i in range(n))) for r in rs]

    t0 = time.perf_counter()
    res = asyncio.run(run())
    wall = time.perf_counter() - t0
    ok = [r for r in res if r[3]]
    gaps = sorted(g for r in ok for g in r[1])
    ttft = sorted(r[0] for r in ok if r[0] is not None)
    pct = lambda v, q: v[min(len(v) - 1, int(q * len(v)))] if v else float("nan")
    return {"clients": n, "requests": len(res), "errors": len(res) - len(ok), "tokens": sum(r[2] for r in ok),
            "tokens_per_s": sum(r[2] for r in ok) / wall, "ttft_p50_s": pct(ttft, 0.5), "ttft_p99_s": pct(ttft, 0.99),
            "itl_p50_ms": 1000 * pct(gaps, 0.5), "itl_p99_ms": 1000 * pct(gaps, 0.99)}


def serve_round(d, model, prompt, r, dt, res):
    """One round of `gptlab serve` with the KV cache in `dt`: 1, 4 and 16 clients, then the load
    test and the request log read back; results appended to res[dt]."""
    out = res.setdefault(dt, {})
    db = os.path.join(d, f"log{r}-{dt}.db")
    env = dict(os.environ, OMP_NUM_THREADS="2")
    kv = [] if dt == "default" else ["--kv-cache-dtype", dt]
    srv = subprocess.Popen([GL, "serve", "--model", f"m={model}", "--db", db, "--addr", "127.0.0.1:0", "--rate-limit", "0", "--max-batch", "16", *kv],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        url = srv.stdout.readline().strip()
        clients(url, prompt, 1, 1)  # warm-up
        for n in (1, 4, 16):
            m = clients(url, prompt, n, REQS[n])
            out.setdefault(f"serve_{n}", []).append(m)
            print(json.dumps({"round": r, "impl": "gptlab serve", "kv_cache_dtype": dt, **m}), flush=True)
        load = clients(url, prompt, 16, 4)
        rows = sqlite3.connect(db).execute("SELECT status, COUNT(*) FROM requests GROUP BY status").fetchall()
        logged_ok = dict(rows).get("ok", 0)
        sent = 1 + sum(out[f"serve_{n}"][-1]["requests"] for n in (1, 4, 16)) + load["requests"]
        load.update({"logged_ok": logged_ok, "sent": sent, "lost_log_rows": sent - logged_ok})
        out.setdefault("load", []).append(load)
        print(json.dumps({"round": r, "impl": "load", "kv_cache_dtype": dt, **load}), flush=True)
    finally:
        srv.terminate()
        srv.wait()


def main():
    global TIMEOUT
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds a request may take before it is cut off and counted as an error")
    ap.add_argument("--kv-cache-dtype", default="default", help="what the server's KV cache stores keys and values in (`gptlab serve --kv-cache-dtype`): "
                    "default (the server's own: f16 here), auto, f16, or two as auto,f16 (each round then runs one server of each, "
                    "in turn first)")
    a = ap.parse_args()
    TIMEOUT = a.timeout
    dtypes = a.kv_cache_dtype.split(",")
    if len(dtypes) > 2 or any(dt not in ("default", "auto", "f16") for dt in dtypes) or len(set(dtypes)) != len(dtypes):
        sys.exit(f"--kv-cache-dtype: {a.kv_cache_dtype!r} is not one or two of default, auto, f16")
    res, hf_single = {}, []
    with tempfile.TemporaryDirectory() as d:
        model = make_model(d)
        prompt, ids = prompt_text(model)
        for r in range(a.rounds):
            hf = hf_tokens_per_s(model, ids)
            hf_single.append(hf)
            print(json.dumps({"round": r, "impl": "hf", "tokens_per_s": hf}), flush=True)
            for dt in (dtypes if r % 2 == 0 else dtypes[::-1]):
                serve_round(d, model, prompt, r, dt, res)
    stat = lambda v: f"min {min(v):.1f} median {statistics.median(v):.1f} max {max(v):.1f}"
    ratio = lambda a, b: f"{a / b:.2f}x" if b > 0 else "n/a (no tokens)"
    med = lambda dt, n: statistics.median(m["tokens_per_s"] for m in res[dt][f"serve_{n}"])
    print(f"hf generate single stream tokens/s: {stat(hf_single)}")
    for dt in dtypes:
        for n in (1, 4, 16):
            v = res[dt][f"serve_{n}"]
            print(f"gptlab serve, KV cache {dt}, {n:2d} clients: tokens/s {stat([m['tokens_per_s'] for m in v])}; TTFT p50 {stat([m['ttft_p50_s'] * 1000 for m in v])} ms, "
                  f"p99 {stat([m['ttft_p99_s'] * 1000 for m in v])} ms; ITL p50 {stat([m['itl_p50_ms'] for m in v])} ms, p99 {stat([m['itl_p99_ms'] for m in v])} ms")
        print(f"KV cache {dt}: ratio single stream gptlab serve / hf generate (medians): {ratio(med(dt, 1), statistics.median(hf_single))}")
        print(f"KV cache {dt}: ratio 16 clients / 1 client aggregate tokens/s (medians): {ratio(med(dt, 16), med(dt, 1))}")
    if len(dtypes) == 2:
        for n in (1, 16):
            print(f"{n:2d} clients: ratio {dtypes[1]} / {dtypes[0]} aggregate tokens/s (medians): {ratio(med(dtypes[1], n), med(dtypes[0], n))}")
    loads = [m for dt in dtypes for m in res[dt]["load"]]
    print(f"load: errors {[m['errors'] for m in loads]}, lost log rows {[m['lost_log_rows'] for m in loads]}")
    if any(m["errors"] or m["lost_log_rows"] for m in loads):
        sys.exit("the load test had errors or lost log rows")


if __name__ == "__main__":
    main()
