"""Drives the node's /dashboard in headless Chromium (Selenium + chromedriver) and checks
what a user sees. Usage:

  dashboard.py URL SHOT_DIR STEP [ARGS...]

Steps:
  overview KEY COLLECTION...   every collection listed, a query run from the console, the
                               cluster view shows every shard on its peers
  transfer KEY COLLECTION      the cluster view shows a transfer of COLLECTION with a bar
  ask-key KEY COLLECTION       without a key the page asks for one; with it, data shows

KEY is "-" for none. Screenshots go to SHOT_DIR. Prints "dashboard checks passed".
"""

import json
import os
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

TIMEOUT = 60


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1400,1000"):
        opts.add_argument(a)
    service = Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    return webdriver.Chrome(service=service, options=opts)


def wait(d, what, cond):
    try:
        return WebDriverWait(d, TIMEOUT, poll_frequency=0.2).until(lambda _: cond())
    except Exception:
        err = d.find_element(By.ID, "error").text
        raise AssertionError(f"timed out waiting for {what}; page error: {err!r}")


def open_page(d, url, tab, key):
    d.get(f"{url}/dashboard")
    if key != "-":
        d.execute_script("localStorage.setItem('qdrant-node-api-key', arguments[0])", key)
    d.get(f"{url}/dashboard#{tab}")


def js(d, script, *args):
    """Reads the page in one step: the live view re-renders every 2 s, so element handles
    kept across calls would go stale."""
    return d.execute_script(script, *args)


def listed(d):
    return js(d, "return [...document.querySelectorAll('#collections-table tbody tr[data-name]')]"
                 ".map(r => r.dataset.name)")


def overview(d, url, shots, key, names):
    started = time.monotonic()
    open_page(d, url, "collections", key)
    wait(d, f"collections {names}", lambda: sorted(listed(d)) == sorted(names))
    print(f"collections shown after {time.monotonic() - started:.2f} s")
    d.save_screenshot(os.path.join(shots, "collections.png"))

    d.get(f"{url}/dashboard#points")
    wait(d, "the collection list", lambda: js(d, "return document.querySelectorAll('#points-collection option').length") == len(names))
    js(d, "document.getElementById('points-collection').value = arguments[0]", names[0])
    d.find_element(By.ID, "points-filter").send_keys(json.dumps({"must": [{"key": "g", "match": {"value": 3}}]}))
    d.find_element(By.ID, "points-vectors").click()
    d.find_element(By.ID, "points-scroll").click()
    rows = wait(d, "scrolled points", lambda: js(d, """
        const rows = [...document.querySelectorAll('#points-table tbody tr')].filter(r => r.cells.length === 3);
        return rows.length ? rows.map(r => [r.cells[1].textContent, r.cells[2].textContent]) : null;"""))
    assert len(rows) == 20, len(rows)
    for payload, vector in rows:
        assert json.loads(payload)["g"] == 3, payload
        assert len(json.loads(vector)) > 0, vector
    assert js(d, "return !document.getElementById('points-next').disabled"), "no next page"
    d.save_screenshot(os.path.join(shots, "points.png"))

    d.get(f"{url}/dashboard#console")
    path = d.find_element(By.ID, "console-path")
    path.clear()
    path.send_keys(f"/collections/{names[0]}/points/query")
    body = d.find_element(By.ID, "console-body")
    body.clear()
    body.send_keys(json.dumps({"query": 1, "limit": 3}))
    d.find_element(By.ID, "console-send").click()
    out = wait(d, "the console's answer",
               lambda: d.find_element(By.ID, "console-output").text or None)
    answer = json.loads(out)
    assert answer["status"] == "ok", answer
    assert len(answer["result"]["points"]) == 3, answer
    status = d.find_element(By.ID, "console-status").text
    assert status.startswith("200 "), status
    d.save_screenshot(os.path.join(shots, "console.png"))

    d.get(f"{url}/dashboard#cluster")
    view = wait(d, "the shard table", lambda: js(d, """
        const rows = [...document.querySelectorAll('#shard-table tbody tr')];
        if (!rows.length) return null;
        return {
          collections: [...new Set(rows.map(r => r.dataset.collection))],
          states: [...document.querySelectorAll('#shard-table td[data-state]')].map(c => c.dataset.state),
          peers: document.querySelectorAll('#peer-list li').length,
          leaders: document.querySelectorAll('#peer-list li.leader').length,
          bars: document.querySelectorAll('#peer-chart .bar').length,
        };"""))
    assert sorted(view["collections"]) == sorted(names), view
    assert view["peers"] >= 1 and (view["leaders"] == 1 or view["peers"] == 1), view
    assert view["states"] and all(s == "Active" for s in view["states"]), view
    assert view["bars"] == view["peers"], view
    d.save_screenshot(os.path.join(shots, "cluster.png"))


def transfer(d, url, shots, key, name):
    open_page(d, url, "cluster", key)
    found = wait(d, "a transfer in progress", lambda: js(d, """
        const t = document.querySelector(`#transfers .transfer[data-collection='${arguments[0]}']`);
        return t && {text: t.textContent, bar: !!t.querySelector('.progress')};""", name))
    assert found["bar"] and "→" in found["text"], found
    print(f"transfer shown: {found['text']}")
    d.save_screenshot(os.path.join(shots, "transfer.png"))


def ask_key(d, url, shots, key, name):
    d.get(f"{url}/dashboard#collections")
    d.execute_script("localStorage.removeItem('qdrant-node-api-key')")
    d.get(f"{url}/dashboard#collections")
    prompt = d.find_element(By.ID, "key-prompt")
    wait(d, "the key prompt", lambda: prompt.is_displayed())
    assert listed(d) == [], "collections shown without a key"
    d.save_screenshot(os.path.join(shots, "key-prompt.png"))
    d.find_element(By.ID, "key-input").send_keys(key)
    d.find_element(By.ID, "key-save").click()
    wait(d, f"collection {name} after the key", lambda: name in listed(d))
    assert not prompt.is_displayed()


def main():
    url, shots, step, key, *rest = sys.argv[1:]
    os.makedirs(shots, exist_ok=True)
    d = browser()
    try:
        if step == "overview":
            overview(d, url, shots, key, rest)
        elif step == "transfer":
            transfer(d, url, shots, key, rest[0])
        elif step == "ask-key":
            ask_key(d, url, shots, key, rest[0])
        else:
            raise SystemExit(f"unknown step {step}")
    except Exception:
        d.save_screenshot(os.path.join(shots, f"{step}-failed.png"))
        raise
    finally:
        d.quit()
    print("dashboard checks passed")


if __name__ == "__main__":
    main()
