"""Drives the chat page of a running `gptlab serve` in headless Chromium (Playwright).

usage: chat_page.py URL KEY SCREENSHOT
Multi-turn streaming chat with the API key, the model picker, tokens/s, the stop button, new
chat; and a reply holding HTML or a <script> is shown as text. Exits non-zero on a failure.
"""
import json
import sys

from playwright.sync_api import sync_playwright

url, key, shot = sys.argv[1], sys.argv[2], sys.argv[3]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def check(cond, what):
    if not cond:
        sys.exit(f"chat_page: {what}")


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
    page = browser.new_page()
    bodies = []
    page.on("request", lambda r: bodies.append(json.loads(r.post_data)) if r.url.endswith("/v1/chat/completions") else None)
    page.goto(url)
    # without the key the models cannot be listed (the server has keys)
    page.wait_for_function("document.getElementById('status').textContent.includes('API key')")
    page.fill("#key", key)
    page.dispatch_event("#key", "change")
    page.wait_for_function("document.querySelectorAll('#model option').length > 0")
    check(page.eval_on_selector_all("#model option", "os => os.map(o => o.value)") == ["m", "m2"], "model picker")
    page.select_option("#model", "m2")
    page.fill("#max", "12")
    # two turns: the second request carries the whole conversation
    for i, text in enumerate(["What is the capital of Vanitel?", "And of Oxdor?"]):
        page.fill("#input", text)
        page.press("#input", "Enter")
        page.wait_for_function("document.getElementById('status').textContent.includes('tokens/s')", timeout=30000)
        check(page.locator(".msg.user").count() == i + 1 and page.locator(".msg.assistant").count() == i + 1, f"turn {i + 1}")
        page.evaluate("document.getElementById('status').textContent = ''")
    check(bodies[-1]["model"] == "m2" and [m["role"] for m in bodies[-1]["messages"]] == ["user", "assistant", "user"] and bodies[-1]["stream"], f"multi-turn request {bodies[-1]}")
    page.screenshot(path=shot, full_page=True)
    # stop: a reply still streaming is cut short by the button (a stream that never ends on its
    # own, so the click cannot come too late)
    page.evaluate("""() => { window.realFetch = window.fetch; window.fetch = (u, o) => {
        if (!String(u).endsWith('/v1/chat/completions')) return window.realFetch(u, o);
        const enc = new TextEncoder();
        const body = new ReadableStream({ start(c) {
            c.enqueue(enc.encode('data: ' + JSON.stringify({choices: [{index: 0, delta: {role: 'assistant', content: 'Once upon'}, finish_reason: null}]}) + '\\n\\n'));
            o.signal.addEventListener('abort', () => c.error(new DOMException('aborted', 'AbortError')));
        } });
        return Promise.resolve(new Response(body, {status: 200, headers: {'Content-Type': 'text/event-stream'}}));
    }; }""")
    page.fill("#input", "Tell me a long story.")
    page.press("#input", "Enter")
    page.wait_for_function("document.querySelectorAll('.msg.assistant')[2] && document.querySelectorAll('.msg.assistant')[2].textContent === 'Once upon'")
    page.click("#stop")
    page.wait_for_function("document.getElementById('status').textContent === 'stopped'", timeout=30000)
    page.evaluate("() => { window.fetch = window.realFetch; }")
    check(page.is_enabled("#send"), "send enabled after stop")
    # new chat clears the conversation
    page.click("#new")
    check(page.locator(".msg").count() == 0, "new chat")
    # a reply with HTML is text, not markup
    evil = '<b id="bold">x</b><img src=x onerror="window.pwned=1"><script>window.pwned=1</script>'
    sse = "".join(f"data: {json.dumps(c)}\n\n" for c in [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": evil}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 5, "total_tokens": 6}},
    ]) + "data: [DONE]\n\n"
    page.route("**/v1/chat/completions", lambda route: route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=sse))
    page.fill("#input", "say something nasty")
    page.press("#input", "Enter")
    page.wait_for_function("document.querySelectorAll('.msg.assistant').length === 1 && document.querySelector('.msg.assistant').textContent.length > 0")
    page.wait_for_timeout(200)
    check(page.text_content(".msg.assistant") == evil, "the reply is shown as its text")
    check(page.locator("#log b, #log img, #log script").count() == 0, "no element made from the reply")
    check(page.evaluate("window.pwned === undefined"), "no script ran")
    browser.close()
print("chat page ok")
