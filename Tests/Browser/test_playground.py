"""The playground in a real browser against a real server: load, API key, model card,
streaming chips with log-probs, alternatives, compare continuations, Stop, errors, phone
width; every request the page makes goes to the server that served it.

Run: make test-browser   (or: python3 -m pytest Tests/Browser)"""
import base64
import http.client
import json
import math
import os
import re
import shutil
import threading
import time

import pytest
from conftest import API_KEY, MODEL, OUTPUT, Server, requested_urls, sent_requests
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.select import Select

PROMPT = "The history of the city begins"


def wait_for(condition, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def shot(browser, name):
    OUTPUT.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(OUTPUT / f"{name}.png"))


def by_id(browser, id_):
    return browser.find_element(By.ID, id_)


def set_value(browser, id_, value):
    """Types into a field as a person would (clear, then keys)."""
    field = by_id(browser, id_)
    field.clear()
    if value != "":
        field.send_keys(str(value))


def chips(browser):
    return browser.execute_script("""
        return [...document.querySelectorAll('#tokens .tok')].map(c => ({
            kind: c.classList.contains('gen') ? 'gen' : 'prompt', text: c.textContent,
            logprob: c.dataset.logprob === '' ? null : Number(c.dataset.logprob),
            background: getComputedStyle(c).backgroundColor}));""")


def gen_count(browser):
    return browser.execute_script("return document.querySelectorAll('#tokens .tok.gen').length")


def state(browser):
    return by_id(browser, "gen-stats").get_attribute("data-state")


def open_page(browser, server, key=API_KEY):
    browser.get(server.origin + "/")
    browser.execute_script("localStorage.clear()")
    if key:
        browser.execute_script("localStorage.setItem('polycom.apiKey', arguments[0])", key)
    browser.get(server.origin + "/")
    if key:
        wait_for(lambda: by_id(browser, "status").get_attribute("data-state") == "ready", what="model card")


def fill_sampling(browser, max_tokens, temperature=0.8, top_p=0.95, top_k=40, seed=1234, ignore_eos=True, prompt=PROMPT):
    set_value(browser, "prompt", prompt)
    set_value(browser, "max-tokens", max_tokens)
    set_value(browser, "temperature", temperature)
    set_value(browser, "top-p", top_p)
    set_value(browser, "top-k", top_k)
    set_value(browser, "seed", seed)
    box = by_id(browser, "ignore-eos")
    if box.is_selected() != ignore_eos:
        box.click()
    return {"prompt": prompt, "max_tokens": max_tokens, "temperature": temperature, "top_p": top_p,
            "top_k": top_k, "seed": seed, "ignore_eos": ignore_eos, "echo": True, "logprobs": 5}


def reference_tokens(server, body):
    """The same completion asked for directly (not streamed): what the chips must show."""
    choice = server.api("/v1/completions", body)["choices"][0]
    lp = choice["logprobs"]
    return lp["tokens"], lp["token_logprobs"], lp["top_logprobs"]


def posted_completions(browser) -> list:
    """The JSON bodies the page POSTed to /v1/completions, from the DevTools network log."""
    bodies = []
    for r in sent_requests(browser):
        if r["method"] == "POST" and r["url"].endswith("/v1/completions"):
            data = r.get("postData") or "".join(base64.b64decode(e["bytes"]).decode() for e in r.get("postDataEntries", []))
            bodies.append(json.loads(data))
    return bodies


def hue(rgb: str) -> float:
    r, g, b = [int(x) / 255 for x in rgb[rgb.index("(") + 1:rgb.index(")")].split(",")[:3]]
    mx, mn = max(r, g, b), min(r, g, b)
    if mx == mn:
        return 0
    if mx == r:
        return (60 * (g - b) / (mx - mn)) % 360
    return 60 * (b - r) / (mx - mn) + 120 if mx == g else 60 * (r - g) / (mx - mn) + 240


@pytest.fixture(autouse=True)
def only_own_origin(browser, server, request):
    """After each test: the page requested nothing but its own server, and the browser
    refused nothing under the page's Content-Security-Policy, and no script error."""
    # The last test's page keeps refreshing its card (maybe from another server): leave it
    # first, then drop what came before.
    browser.get("about:blank")
    requested_urls(browser)
    browser.get_log("browser")
    yield
    origins = (server.origin, getattr(request.node, "other_origin", server.origin))
    urls = requested_urls(browser)
    assert urls, "no request seen: the network log is not working"
    foreign = [u for u in urls if not u.startswith(origins) and not u.startswith("data:")]
    assert foreign == [], f"requests outside the test server: {foreign}"
    violations = browser.execute_script("return window.__violations || []")
    assert violations == [], f"Content-Security-Policy violations: {violations}"
    errors = [e for e in browser.get_log("browser") if e["source"] == "javascript"]
    assert errors == [], f"script errors: {errors}"


def test_page_asks_for_the_key_then_shows_the_model_card(browser, server):
    open_page(browser, server, key=None)
    wait_for(lambda: by_id(browser, "status").get_attribute("data-state") == "key", what="401 in the status pill")
    banner = by_id(browser, "error")
    assert banner.is_displayed() and banner.get_attribute("data-status") == "401"
    assert "API key" in banner.text and "invalid or missing API key" in banner.text
    shot(browser, "01-api-key-needed")

    by_id(browser, "api-key").send_keys(API_KEY)
    wait_for(lambda: by_id(browser, "status").get_attribute("data-state") == "ready", what="the key to work")
    assert not banner.is_displayed()
    model = server.api("/v1/models")["data"][0]
    info = server.api("/tokenizer_info")
    assert by_id(browser, "m-id").text == model["id"] == "polynorm-demo"
    assert by_id(browser, "m-context").text == f"{model['max_model_len']} tokens"
    assert by_id(browser, "m-tokenizer").text == f"{info['vocab_size']:,} tokens"
    assert by_id(browser, "m-special").text == f"BOS {info['bos_token']} · EOS {info['eos_token']}"
    # Figures from /metrics, refreshed: tokens/s needs two readings.
    wait_for(lambda: by_id(browser, "m-tps").text not in ("", "–"), timeout=10, what="a tokens/s figure")
    assert int(by_id(browser, "m-requests").text.split()[0].replace(",", "")) > 0
    assert by_id(browser, "m-running").text == "0"
    assert by_id(browser, "m-kv").text.endswith("iB")

    browser.refresh()
    assert by_id(browser, "api-key").get_attribute("value") == API_KEY, "the key is not kept in local storage"
    wait_for(lambda: by_id(browser, "status").get_attribute("data-state") == "ready", what="ready after reload")
    shot(browser, "02-model-card")


def test_generate_streams_chips_that_carry_logprobs(browser, server):
    open_page(browser, server)
    body = fill_sampling(browser, max_tokens=48)
    by_id(browser, "generate").click()
    seen = set()
    streaming_shot = False
    while state(browser) in ("idle", "streaming"):
        n = gen_count(browser)
        if state(browser) == "streaming" and 0 < n < 48:
            seen.add(n)
            if n >= 8 and not streaming_shot:
                shot(browser, "03-streaming")
                streaming_shot = True
        time.sleep(0.02)
    assert state(browser) == "done", by_id(browser, "gen-stats").text
    assert len(seen) >= 3, f"tokens did not stream in (counts seen while streaming: {sorted(seen)})"
    assert "48 generated tokens" in by_id(browser, "gen-stats").text
    # Every sampling control reached the request, as typed.
    assert posted_completions(browser) == [{**body, "stream": True, "stream_options": {"include_usage": True}}]

    shown = chips(browser)
    tokens, logprobs, _ = reference_tokens(server, body)
    assert [c["kind"] for c in shown].count("gen") == 48
    assert [c["text"] for c in shown] == [t.replace("\n", "↵") or "·" for t in tokens]
    assert shown[0]["logprob"] is None and logprobs[0] is None
    for c, lp in zip(shown[1:], logprobs[1:]):
        assert c["logprob"] is not None and c["logprob"] <= 0
        assert abs(c["logprob"] - lp) < 1e-4, (c, lp)
    # The colour follows the log-prob: the likeliest generated token is greener than the least.
    gen = [c for c in shown if c["kind"] == "gen"]
    best, worst = max(gen, key=lambda c: c["logprob"]), min(gen, key=lambda c: c["logprob"])
    assert best["logprob"] > worst["logprob"] and hue(best["background"]) > hue(worst["background"]) + 20
    scored_prompt = [c for c in shown if c["kind"] == "prompt" and c["logprob"] is not None]
    best, worst = max(scored_prompt, key=lambda c: c["logprob"]), min(scored_prompt, key=lambda c: c["logprob"])
    assert best["logprob"] > worst["logprob"] and hue(best["background"]) > hue(worst["background"]) + 20
    chip = browser.find_elements(By.CSS_SELECTOR, "#tokens .tok.gen")[12]
    ActionChains(browser).move_to_element(chip).perform()
    wait_for(by_id(browser, "alts").is_displayed, what="the alternatives on hover")
    shot(browser, "03-generated")  # the README's picture


def test_stop_strings_end_the_completion(browser, server):
    open_page(browser, server)
    body = fill_sampling(browser, max_tokens=64, temperature=0, seed="")
    set_value(browser, "stop-strings", ".\n?")
    by_id(browser, "generate").click()
    wait_for(lambda: state(browser) == "done", what="the completion")
    assert "stop string" in by_id(browser, "gen-stats").text
    body.pop("seed")
    assert [b["stop"] for b in posted_completions(browser)] == [[".", "?"]]
    expected = server.api("/v1/completions", {**body, "stop": [".", "?"]})["choices"][0]
    assert expected["finish_reason"] == "stop"
    shown = "".join(c["text"] for c in chips(browser) if c["kind"] == "gen")
    assert re.split(r"[.?]", shown)[0] == expected["text"][len(PROMPT):], (shown, expected["text"])
    set_value(browser, "stop-strings", "")


def test_a_token_shows_its_top5_alternatives(browser, server):
    open_page(browser, server)
    body = fill_sampling(browser, max_tokens=20, temperature=0, seed="")
    by_id(browser, "generate").click()
    wait_for(lambda: state(browser) == "done", what="the completion")
    body.pop("seed")
    tokens, logprobs, tops = reference_tokens(server, body)
    prompt_len = len(tokens) - 20
    index = prompt_len + 6
    chip = browser.find_element(By.CSS_SELECTOR, f'#tokens .tok[data-index="{index}"]')
    ActionChains(browser).move_to_element(chip).perform()
    popover = by_id(browser, "alts")
    wait_for(popover.is_displayed, what="the alternatives on hover")
    rows = popover.find_elements(By.CSS_SELECTOR, ".alts-list li")
    expected = sorted(tops[index].items(), key=lambda kv: -kv[1])[:5]
    assert len(rows) == 5
    for row, (piece, lp) in zip(rows, expected):
        assert abs(float(row.get_attribute("data-logprob")) - lp) < 1e-6
        pct = float(row.find_element(By.CLASS_NAME, "pct").text.rstrip("%"))
        assert abs(pct - 100 * math.exp(lp)) < 0.06, (pct, lp)
    # Greedy decoding: the chosen token is the first alternative, and marked.
    assert "chosen" in rows[0].get_attribute("class")
    assert abs(float(rows[0].get_attribute("data-logprob")) - logprobs[index]) < 1e-6
    assert "ranks 1" in popover.text
    shot(browser, "04-alternatives")

    # Tap a prompt token: the popover pins there; Esc closes it.
    ActionChains(browser).move_to_element(by_id(browser, "prompt")).perform()
    browser.find_element(By.CSS_SELECTOR, '#tokens .tok[data-index="2"]').click()
    assert popover.is_displayed() and "prompt token" in popover.text.lower()
    assert popover.get_attribute("data-index") == "2"
    by_id(browser, "prompt").send_keys(Keys.ESCAPE)
    assert not popover.is_displayed()


def test_compare_continuations_scores_and_highlights_the_winner(browser, server):
    open_page(browser, server)
    by_id(browser, "tab-compare").click()
    context = by_id(browser, "context").get_attribute("value")
    endings = [i.get_attribute("value") for i in browser.find_elements(By.CSS_SELECTOR, "#endings input")]
    assert len(endings) == 4
    by_id(browser, "add-ending").click()
    browser.find_elements(By.CSS_SELECTOR, "#endings input")[-1].send_keys("is flying to the moon.")
    endings.append("is flying to the moon.")
    by_id(browser, "context").send_keys(Keys.COMMAND, Keys.ENTER)  # Cmd+Enter runs the open panel
    wait_for(lambda: by_id(browser, "bars").get_attribute("data-state") == "done", what="scores")

    reference = server.api("/v1/loglikelihood", {"requests": [
        {"context": context, "continuation": " " + e} for e in endings]})["results"]
    rows = browser.find_elements(By.CSS_SELECTOR, "#bars .bar-row")
    assert len(rows) == 5
    shown = [float(r.get_attribute("data-logprob")) for r in rows]
    for s, r in zip(shown, reference):
        assert abs(s - r["logprob"]) < 1e-6
    best = max(range(5), key=lambda i: reference[i]["logprob"])
    winners = [i for i, r in enumerate(rows) if "winner" in r.get_attribute("class")]
    assert winners == [best]
    assert "model's pick" in rows[best].text
    shares = [float(r.get_attribute("data-share")) for r in rows]
    assert abs(sum(shares) - 1) < 1e-9 and max(shares) == shares[best]
    browser.execute_script("document.getElementById('bars').scrollIntoView({block: 'end'})")
    shot(browser, "05-compare")

    # acc_norm: log-prob per character of the continuation picks its own winner.
    Select(by_id(browser, "norm")).select_by_value("char")
    per_char = [r["logprob"] / len(" " + e) for r, e in zip(reference, endings)]
    best_norm = max(range(5), key=lambda i: per_char[i])
    rows = browser.find_elements(By.CSS_SELECTOR, "#bars .bar-row")
    assert [i for i, r in enumerate(rows) if "winner" in r.get_attribute("class")] == [best_norm]
    for row, score in zip(rows, per_char):
        assert abs(float(row.get_attribute("data-score")) - score) < 1e-9


def stop_mid_stream(browser, server, press_stop):
    before = server.metrics().get('polycom_sequences_finished_total{reason="abort"}', 0)
    fill_sampling(browser, max_tokens=400)
    by_id(browser, "prompt").send_keys(Keys.CONTROL, Keys.ENTER)  # the shortcut starts it
    wait_for(lambda: gen_count(browser) >= 8, what="tokens streaming")
    assert state(browser) == "streaming"
    press_stop()
    wait_for(lambda: state(browser) == "stopped", timeout=5, what="the page to stop")
    stopped_at = gen_count(browser)
    assert stopped_at < 400
    wait_for(lambda: server.metrics()["polycom_sequences_running"] == 0, timeout=10, what="no running sequence")
    after = server.metrics()['polycom_sequences_finished_total{reason="abort"}']
    assert after == before + 1, "the server did not cancel the sequence"
    assert gen_count(browser) == stopped_at
    return stopped_at


def test_stop_mid_stream_frees_the_sequence(browser, server):
    open_page(browser, server)
    stop_mid_stream(browser, server, lambda: by_id(browser, "stop").click())
    # The card shows it too, at its next refresh.
    wait_for(lambda: by_id(browser, "m-running").text == "0", timeout=8, what="running 0 on the card")
    assert "stopped" in by_id(browser, "gen-stats").text
    shot(browser, "06-stopped")
    # Esc stops as well.
    stop_mid_stream(browser, server, lambda: by_id(browser, "prompt").send_keys(Keys.ESCAPE))


def test_api_errors_are_readable(browser, server):
    open_page(browser, server)
    fill_sampling(browser, max_tokens=8, top_p=0)
    by_id(browser, "generate").click()
    banner = by_id(browser, "error")
    wait_for(banner.is_displayed, what="the 400 message")
    assert banner.get_attribute("data-status") == "400"
    assert "The server refused the request" in banner.text and "'top_p' must be in (0, 1]" in banner.text
    assert state(browser) == "error"
    shot(browser, "07-error-400")
    by_id(browser, "error-close").click()
    assert not banner.is_displayed()


def test_busy_and_shutting_down_server_errors(browser, server, request):
    """A server with room for one running sequence and one waiting request: with a
    generation running and another client's request waiting, scoring is refused with 429;
    a draining server (SIGTERM) answers 503 or refuses the connection, and the page says so."""
    busy = Server("busy-server", "--max-sequences", "1", "--max-queue", "1")
    request.node.other_origin = busy.origin
    try:
        open_page(browser, busy, key=None)
        wait_for(lambda: by_id(browser, "status").get_attribute("data-state") == "ready", what="ready")
        fill_sampling(browser, max_tokens=400)
        by_id(browser, "generate").click()
        wait_for(lambda: gen_count(browser) >= 3, what="tokens streaming")
        # Another client's request takes the one waiting place (a batch of pairs counts as
        # one waiting request, so the page's scoring alone would only wait).
        def wait_in_queue():
            try:
                busy.get("/v1/completions", {"prompt": "Hi", "max_tokens": 4}, key=None).read()
            except (http.client.HTTPException, OSError):
                pass  # the shutdown below may cut it off: not what this test checks
        waiting = threading.Thread(target=wait_in_queue, daemon=True)
        waiting.start()
        wait_for(lambda: busy.metrics().get("polycom_sequences_waiting") == 1, what="a waiting request")
        by_id(browser, "tab-compare").click()
        by_id(browser, "score").click()
        banner = by_id(browser, "error")
        wait_for(banner.is_displayed, what="the 429 message")
        assert banner.get_attribute("data-status") == "429"
        assert "The server is busy" in banner.text and "too many requests waiting" in banner.text
        shot(browser, "08-error-429")

        busy.process.terminate()  # drains: the running stream finishes, new work is turned away
        wait_for(lambda: by_id(browser, "status").get_attribute("data-state") in ("loading", "down"),
                 timeout=15, what="the card to notice the shutdown")
        assert banner.get_attribute("data-status") in ("503", "0")
        assert ("The model is not ready" in banner.text and "shutting down" in banner.text) or \
               "Cannot reach the server" in banner.text
        shot(browser, "09-error-shutdown")
    finally:
        busy.stop()


def test_model_not_ready_error(browser, server, request, tmp_path):
    """A deterministic 503 (the shutdown above may also end in a refused connection): a
    server whose memory-mapped weights (--mmap; a private copy keeps serving) changed on disk
    refuses work until a restart, and the page says the model is not ready, with the server's reason."""
    model = tmp_path / "polynorm-demo"
    shutil.copytree(MODEL, model)
    changed = Server("changed-weights-server", "--mmap", model=model)
    request.node.other_origin = changed.origin
    try:
        open_page(browser, changed, key=None)
        wait_for(lambda: by_id(browser, "status").get_attribute("data-state") == "ready", what="ready")
        weights = model / "model.safetensors"
        # Same bytes, a new modification time: what FileSnapshot sees as changed in place.
        os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 1_000_000_000))
        fill_sampling(browser, max_tokens=8)
        by_id(browser, "generate").click()
        wait_for(lambda: state(browser) == "error", what="the generation to fail")
        banner = by_id(browser, "error")
        assert banner.is_displayed() and banner.get_attribute("data-status") == "503"
        assert "The model is not ready:" in banner.text and "weights changed on disk" in banner.text
        wait_for(lambda: by_id(browser, "status").get_attribute("data-state") == "loading", timeout=8,
                 what="the card to say the model is not ready")
        shot(browser, "11-error-503")
    finally:
        changed.stop()


def test_phone_width_is_readable(browser, server):
    browser.set_window_size(390, 844)
    try:
        open_page(browser, server)
        fill_sampling(browser, max_tokens=24)
        by_id(browser, "generate").click()
        wait_for(lambda: state(browser) == "done", what="the completion")
        overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page is {overflow}px wider than a phone"
        browser.find_elements(By.CSS_SELECTOR, "#tokens .tok.gen")[3].click()
        popover = by_id(browser, "alts")
        assert popover.is_displayed() and "sheet" in popover.get_attribute("class")
        box = browser.execute_script("const r = document.getElementById('alts').getBoundingClientRect();"
                                     "return [r.left, r.right, window.innerWidth]")
        assert box[0] >= 0 and box[1] <= box[2]
        shot(browser, "10-phone")
    finally:
        browser.set_window_size(1280, 1000)
