"""Drives the labeling page (/label) of a running `gptlab serve` in headless Chromium (Playwright).

usage: label_page.py URL LABELER_KEY ADMIN_KEY SHOT_DIR
A labeler signs in, writes a demonstration, then scores, flags and ranks four outputs (by drag
and drop and by the keyboard, ending with one tie) and submits; a prompt holding HTML and a
<script> is shown as text; a labeler's key cannot export; an admin exports. Prints the
labels it submitted as JSON on its last line; exits non-zero on a failure.
"""
import json
import os
import sys

from playwright.sync_api import sync_playwright

url, labeler_key, admin_key, shots = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DEMO = "A <script> element runs JavaScript; <b>bold</b> makes its text bold."
SCORES = [5, 2, 7, 5]
FLAG = (1, "hallucination")
WANT = [[2], [0, 3], [1]]


def check(cond, what):
    if not cond:
        sys.exit(f"label_page: {what}")


def tiers(page):
    return page.eval_on_selector_all("#tiers .tier", "ts => ts.map(t => [...t.querySelectorAll('.chip')].map(c => Number(c.dataset.output)))")


def sign_in(page, key):
    page.goto(url + "/label")
    page.fill("#key", key)
    page.click("#signin-button")
    page.wait_for_selector("#app", state="visible")


def next_task(page, kind):
    page.click("#next")
    page.wait_for_function("k => document.getElementById('task-title').textContent.startsWith(k)", arg="Rank" if kind == "ranking" else "Write")


def submit(page):
    page.click("[data-testid=submit]")
    page.wait_for_function("document.getElementById('msg').textContent.startsWith('Submitted task')")


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, labeler_key)
    check(page.text_content("#who").endswith("(labeler)"), "signed in as a labeler")
    check(page.locator("#guidelines h3").count() > 0 and page.is_hidden("#admin"), "guidelines shown, admin tools hidden")

    # the demonstration task
    next_task(page, "demonstration")
    page.fill("[data-testid=demonstration]", DEMO)
    submit(page)

    # the ranking task: the prompt and outputs are text, never markup
    next_task(page, "ranking")
    prompt = page.text_content("[data-testid=prompt]")
    check("<script>alert(1)</script><b>bold</b>" in prompt, f"the prompt is shown as its text: {prompt!r}")
    check(page.locator("#task-body .prompt *, #task-body .output-text *").count() == 0, "no element made from the prompt or outputs")
    check(page.locator("[data-testid^=output-]").count() == 4, "four outputs")
    for i, s in enumerate(SCORES):
        page.check(f"[data-testid=score-{i}-{s}]")
    page.check(f"#flag-{FLAG[0]}-{FLAG[1]}")

    check(tiers(page) == [[0], [1], [2], [3]], f"starts one output per row: {tiers(page)}")
    # drag C above the first row: C alone at the top
    page.locator("[data-testid=chip-2]").drag_to(page.locator("[data-testid=gap-0]"))
    check(tiers(page) == [[2], [0], [1], [3]], f"after dragging C to the top: {tiers(page)}")
    # keyboard: D up joins B's row (a tie), then B down leaves it for a row of its own
    page.focus("[data-testid=chip-3]")
    page.keyboard.press("ArrowUp")
    check(tiers(page) == [[2], [0], [1, 3]], f"after D ArrowUp: {tiers(page)}")
    check(page.evaluate("document.activeElement.dataset.output") == "3", "focus stays on the moved output")
    page.focus("[data-testid=chip-1]")
    page.keyboard.press("ArrowDown")
    check(tiers(page) == [[2], [0], [3], [1]], f"after B ArrowDown: {tiers(page)}")
    # drag D onto A's row: tied with A
    page.locator("[data-testid=chip-3]").drag_to(page.locator("[data-testid=tier-1]"))
    check(tiers(page) == WANT, f"after dragging D onto A's row: {tiers(page)}")
    check(page.locator("#tiers .tier .rank").all_text_contents() == ["#1", "#2", "#3"], "rows numbered")
    # a drop that is not an output's chip (other text, a file) moves nothing
    for data in ["", "x"]:
        dt = page.evaluate_handle("d => { const t = new DataTransfer(); t.setData('text/plain', d); return t; }", data)
        page.dispatch_event("[data-testid=gap-0]", "drop", {"dataTransfer": dt})
    check(tiers(page) == WANT, f"a foreign drop moved an output: {tiers(page)}")
    check(page.evaluate("document.documentElement.scrollWidth") <= 1280, "long outputs wrap: no sideways scrolling")
    page.screenshot(path=os.path.join(shots, "label_ranking.png"), full_page=True)
    submit(page)
    check("(done)" in page.text_content("#task-title") and page.locator("[data-testid=submit]").count() == 0, "the task shows as done")
    check(tiers(page) == WANT, "the submitted ranking is shown")
    statuses = page.eval_on_selector_all("#tasks li", "ls => ls.map(l => l.textContent)")
    check(len(statuses) == 2 and all(s.endswith("done") for s in statuses), f"the task list shows both done: {statuses}")
    check(not dialogs and page.evaluate("window.alert.toString().includes('native code')"), f"no script from the prompt ran: {dialogs}")

    # a labeler's key cannot export
    code = page.evaluate("k => fetch('/label/api/export', {headers: {Authorization: 'Bearer ' + k}}).then(r => r.status)", labeler_key)
    check(code == 403, f"a labeler exporting got {code}")

    # sign out; the admin exports
    page.click("#signout")
    page.wait_for_selector("#signin", state="visible")
    sign_in(page, admin_key)
    check(page.text_content("#who").endswith("(admin)") and page.is_visible("#admin"), "admin tools for an admin")
    page.click("#export")
    page.wait_for_function("document.getElementById('admin-out').textContent.startsWith('Exported')")
    report = json.loads(page.text_content("#admin-out").removeprefix("Exported: ").split("Download")[0])
    check(report["demonstrations"] >= 1 and report["comparisons"] >= 1, f"export report {report}")
    check(page.locator("[data-testid=export-link]").count() == 1, "a download link")
    page.screenshot(path=os.path.join(shots, "label_admin.png"))
    browser.close()
print(json.dumps({"demonstration": DEMO, "scores": SCORES, "flag": FLAG, "ranking": WANT}))
