#!/usr/bin/env python3
"""Reference GPT-2 (r50k_base) encodings from tiktoken, for gptlab's tokenizer parity test.

Writes testdata/golden/tiktoken_r50k.json: [{"text": ..., "ids": [...]}, ...], covering ASCII,
unicode (accents, CJK, emoji, combining marks, RTL), whitespace runs (spaces, tabs, newlines,
trailing), contractions, digits, code, and long inputs. Encoded with encode_ordinary (special
token strings are not among the texts).

    .venv/bin/python testdata/gen/tiktoken_ref.py   # needs tiktoken and ../shared/data
"""
import json, os, random
import tiktoken
from tiktoken.load import load_tiktoken_bpe
from tiktoken_ext.openai_public import r50k_pat_str

HERE = os.path.dirname(os.path.abspath(__file__))
RANKS = os.path.join(HERE, "..", "..", "..", "shared", "data", "gpt2-tokenizer", "r50k_base.tiktoken")
ranks = load_tiktoken_bpe(RANKS)
# the stock r50k_base definition, with the rank file read locally instead of fetched
enc = tiktoken.Encoding(name="r50k_base_local", pat_str=r50k_pat_str, mergeable_ranks=ranks,
                        special_tokens={"<|endoftext|>": 50256})

texts = [
    "Hello, world!", "", " ", "  ", "\n", "\n\n\n", "\t\t tab", "trailing spaces   ", "   leading",
    "I'm sure you'll see they've done it, we'd say it's theirs.", "DON'T SHOUT'S",
    "naïve café résumé Ångström", "東京は日本の首都です。", "Здравствуйте, мир", "مرحبا بالعالم",
    "emoji 😀🎉👩‍👩‍👧 and flags 🇫🇷", "e\u0301 combining", "numbers 1234567890 3.14159 1e-10 0x1F",
    "def f(x):\n    return x ** 2  # square\n\n\nprint(f(3))\n", "a  b   c    d     e",
    "line1\r\nline2\r\n", "\u00a0non-breaking\u2009thin\u3000ideographic", "😀" * 10,
    "<html><body class=\"x\">text</body></html>", "$$\\sum_{i=1}^n i = \\frac{n(n+1)}{2}$$",
]
rng = random.Random(0)
alphabet = "abcdefghijklmnopqrstuvwxyz ABCXYZ 0123456789 \n\t.,;:!?'\"-()[]{} éüß東京😀 "
for n in (1000, 5000, 20000):
    texts.append("".join(rng.choice(alphabet) for _ in range(n)))
shakespeare = os.path.join(HERE, "..", "..", "..", "shared", "data", "tinyshakespeare", "input.txt")
if os.path.exists(shakespeare):
    texts.append(open(shakespeare, encoding="utf-8").read()[:30000])
out = [{"text": t, "ids": enc.encode_ordinary(t)} for t in texts]
path = os.path.join(HERE, "..", "golden", "tiktoken_r50k.json")
with open(path, "w", encoding="utf-8") as f:
    json.dump(out, f, ensure_ascii=False)
print(f"wrote {len(out)} cases, {sum(len(o['ids']) for o in out)} tokens -> {path}")
