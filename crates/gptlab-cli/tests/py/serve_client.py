"""Checks a running `gptlab serve` with the official `openai` client and plain HTTP.

usage: serve_client.py URL KEY DB   (KEY: an API key of the server's store; DB: its SQLite file)
Exits non-zero with the failed check on stderr.
"""
import json
import sqlite3
import sys
import threading

import http.client
import urllib.error
import urllib.parse
import urllib.request

import openai

url, key, db = sys.argv[1], sys.argv[2], sys.argv[3]
client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=60)
MODEL = "m"
ask = [{"role": "user", "content": "What is the capital of Vanitel?"}]


def check(cond, what):
    if not cond:
        sys.exit(f"serve_client: {what}")


# models
ids = [m.id for m in client.models.list().data]
check(ids == [MODEL], f"models {ids}")
check(client.models.retrieve(MODEL).id == MODEL, "retrieve")

# chat, not streamed, n > 1, a seed, log-probabilities
r = client.chat.completions.create(model=MODEL, messages=ask, max_tokens=12, n=3, seed=5, logprobs=True, top_logprobs=2)
check(len(r.choices) == 3 and r.object == "chat.completion", f"n=3: {r}")
check(all(c.finish_reason in ("stop", "length") and c.message.role == "assistant" for c in r.choices), "finish/role")
check(r.usage.completion_tokens == sum(len(c.logprobs.content) for c in r.choices), f"usage counts tokens: {r.usage}")
check(r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens, "total")
check(all(len(t.top_logprobs) == 2 and t.logprob <= 0 for c in r.choices for t in c.logprobs.content), "top_logprobs")
bad = [(c.message.content, [t.token for t in c.logprobs.content]) for c in r.choices if c.finish_reason == "length" and "\ufffd" not in c.message.content and "".join(t.token for t in c.logprobs.content) != c.message.content]
check(not bad, f"tokens spell the text: {bad}")
again = client.chat.completions.create(model=MODEL, messages=ask, max_tokens=12, n=3, seed=5)
check([c.message.content for c in again.choices] == [c.message.content for c in r.choices], "same seed, same choices")

# the same request alone and among concurrent ones gives the same text (continuous batching)
alone = client.chat.completions.create(model=MODEL, messages=ask, max_tokens=24, seed=11, temperature=1.0).choices[0].message.content
others, crowd = [], {}


def noise(i):
    client.completions.create(model=MODEL, prompt="The river " * (i + 1), max_tokens=8 + 4 * i, seed=100 + i)


def target():
    crowd["text"] = client.chat.completions.create(model=MODEL, messages=ask, max_tokens=24, seed=11, temperature=1.0).choices[0].message.content


threads = [threading.Thread(target=noise, args=(i,)) for i in range(6)] + [threading.Thread(target=target)]
for t in threads:
    t.start()
for t in threads:
    t.join()
check(crowd.get("text") == alone, f"alone {alone!r} vs in a batch {crowd.get('text')!r}")

# streaming chat with usage; the deltas add up to the text of the same request not streamed
chunks = list(client.chat.completions.create(model=MODEL, messages=ask, max_tokens=16, seed=3, stream=True, stream_options={"include_usage": True}))
text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
check(chunks[0].choices[0].delta.role == "assistant", "first chunk has the role")
check(chunks[-1].usage is not None and not chunks[-1].choices, "usage chunk last")
check(any(c.choices and c.choices[0].finish_reason for c in chunks), "finish chunk")
whole = client.chat.completions.create(model=MODEL, messages=ask, max_tokens=16, seed=3)
check(text == whole.choices[0].message.content, f"stream {text!r} vs whole {whole.choices[0].message.content!r}")
check(chunks[-1].usage.completion_tokens == whole.usage.completion_tokens, "stream usage")

# completions, whole and streamed; a stop sequence cuts the text before it
c = client.completions.create(model=MODEL, prompt="The capital of", max_tokens=20, seed=2, temperature=1.0)
check(c.object == "text_completion" and c.choices[0].finish_reason in ("stop", "length"), f"{c}")
full = c.choices[0].text
if len(full.strip()) > 3:
    ch = full.strip()[2]
    s = client.completions.create(model=MODEL, prompt="The capital of", max_tokens=20, seed=2, temperature=1.0, stop=[ch])
    check(s.choices[0].text == full[: full.index(ch)] and s.choices[0].finish_reason == "stop", f"stop {ch!r}: {s.choices[0].text!r} from {full!r}")
streamed = "".join(x.choices[0].text for x in client.completions.create(model=MODEL, prompt="The capital of", max_tokens=20, seed=2, stream=True) if x.choices)
check(streamed == full, f"completions stream {streamed!r} vs {full!r}")
lp = client.completions.create(model=MODEL, prompt="The", max_tokens=4, logprobs=2, seed=1)
check(len(lp.choices[0].logprobs.tokens) == len(lp.choices[0].logprobs.token_logprobs) == lp.usage.completion_tokens, "completion logprobs")
two = client.completions.create(model=MODEL, prompt=["The", "A"], max_tokens=3, n=2, seed=1)
check(len(two.choices) == 4, "two prompts × n=2")

# errors: a bad key, an unknown model, bad values; each an OpenAI error object
try:
    openai.OpenAI(base_url=url + "/v1", api_key="gl-wrong", max_retries=0).models.list()
    check(False, "a bad key is refused")
except openai.AuthenticationError as e:
    check(e.status_code == 401 and e.body["code"] == "invalid_api_key", f"{e}")
try:
    client.chat.completions.create(model="nope", messages=ask)
    check(False, "unknown model")
except openai.NotFoundError as e:
    check(e.status_code == 404 and e.body["param"] == "model", f"{e}")
for kwargs, param in [
    (dict(messages=[]), "messages"),
    (dict(messages=[{"role": "wizard", "content": "x"}]), "messages[0].role"),
    (dict(messages=ask, temperature=3), "temperature"),
    (dict(messages=ask, n=100), "n"),
    (dict(messages=ask, max_tokens=10**6), "max_tokens"),
    (dict(messages=[{"role": "user", "content": "word " * 400}]), "messages"),
    (dict(messages=ask, stop=["a", "b", "c", "d", "e"]), "stop"),
]:
    try:
        client.chat.completions.create(model=MODEL, **kwargs)
        check(False, f"{param} accepted")
    except openai.BadRequestError as e:
        check(e.status_code == 400 and e.body.get("param") == param, f"{param}: {e.body}")

h = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def post(path, body):
    """(status, parsed JSON) of a raw POST."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url + path, data=body, headers=h, method="POST"), timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


for body, status in [(b"{not json", 400), (b'{"model": "m", "messages": "hi"}', 400), (b"[1, 2]", 400), (b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "bogus": 1}', 400), (b"x" * (2 << 20), 413)]:
    try:
        code, j = post("/v1/chat/completions", body)
    except (ConnectionResetError, BrokenPipeError, urllib.error.URLError):
        check(status == 413, f"{body[:40]!r}: connection reset")
        continue
    check(code == status and set(j["error"]) == {"message", "type", "param", "code"}, f"{body[:40]!r}: {code} {j}")
# a slow client: the body does not arrive in time (the server runs with --body-timeout 2)
import socket
u0 = urllib.parse.urlparse(url)
with socket.create_connection((u0.hostname, u0.port), timeout=20) as sock:
    sock.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{{\"model\"".encode())
    reply = sock.recv(4096).decode()
    check(reply.startswith("HTTP/1.1 408") and '"error"' in reply, f"slow body: {reply[:200]}")
code, _ = post("/no/such/route", b"{}")
check(code == 404, "unknown route")
# a client that leaves mid-stream: logged as client_closed, and the server goes on
u = urllib.parse.urlparse(url)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
conn.request("POST", "/v1/chat/completions", json.dumps({"model": "m", "messages": ask, "max_tokens": 100, "stream": True, "seed": 9, "temperature": 2.0}), h)
resp = conn.getresponse()
check(resp.status == 200 and resp.readline().startswith(b"data: "), "stream starts")
conn.close()
with urllib.request.urlopen(url + "/health", timeout=10) as r:
    check(json.loads(r.read())["status"] == "ok", "still serving")

for _ in range(100):
    if sqlite3.connect(db).execute("SELECT COUNT(*) FROM requests WHERE status = 'client_closed'").fetchone()[0]:
        break
    threading.Event().wait(0.1)
else:
    check(False, "the client that left is logged as client_closed")
client.chat.completions.create(model=MODEL, messages=ask, max_tokens=2, user="end-user-7")
rows = sqlite3.connect(db).execute("SELECT status, user, consent, endpoint, input, params, prompt_tokens FROM requests ORDER BY id").fetchall()
statuses = [r[0] for r in rows]
check(statuses.count("ok") >= 15 and set(statuses) <= {"ok", "client_closed"}, f"ok rows: {statuses}")
last = rows[-1]
check(last[1] == "alice" and last[2] == 1 and last[3] == "chat.completions" and json.loads(last[4]) == ask and json.loads(last[5])["user"] == "end-user-7", f"log row {last}")
print(json.dumps({"requests_logged": len(rows), "statuses": sorted(set(statuses))}))
