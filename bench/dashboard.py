"""Page load time of /dashboard on a loaded cluster, in headless Chromium (Selenium).

    .venv/bin/python bench/dashboard.py [--bin target/release/qdrant-node] [--points 100000]
                                        [--dim 128] [--runs 5]

Starts three nodes (stopped on exit), loads `--points` points into one collection (3 shards,
replication factor 2), then opens the dashboard `--runs` times per view and prints the median
time from navigation until the collections table, and the cluster view, show the data; and
the time of `GET /dashboard/api/cluster` alone.
"""

import argparse
import random
import statistics
import time
import urllib.request

from local_cluster import Cluster, call, wait
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def load(url, n, dim):
    rng = random.Random(7)
    call(url, "PUT", "/collections/bench", {"vectors": {"size": dim, "distance": "Cosine"},
                                            "shard_number": 3, "replication_factor": 2})
    for start in range(0, n, 1000):
        pts = [{"id": i, "vector": [rng.random() for _ in range(dim)], "payload": {"i": i}}
               for i in range(start, min(n, start + 1000))]
        call(url, "PUT", "/collections/bench/points?wait=true", {"points": pts})


def page(d, url, tab, ready_js):
    d.get("about:blank")
    started = time.perf_counter()
    d.get(f"{url}/dashboard#{tab}")
    WebDriverWait(d, 60, poll_frequency=0.01).until(lambda _: d.execute_script(ready_js))
    return time.perf_counter() - started


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/qdrant-node")
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    cluster = Cluster(a.bin)
    try:
        url = cluster.urls[0]
        t = time.time()
        load(url, a.points, a.dim)
        wait("the count", lambda: call(url, "POST", "/collections/bench/points/count", {"exact": True})
             ["result"]["count"] == a.points)
        print(f"loaded {a.points} x {a.dim} in {time.time() - t:.1f} s")
        d = browser()
        try:
            views = {
                "collections": "return !!document.querySelector('#collections-table tr[data-name=bench]')",
                "cluster": "return document.querySelectorAll('#shard-table td[data-state]').length === 6",
            }
            for tab, js in views.items():
                page(d, url, tab, js)  # warm the browser's cache once
                times = [page(d, url, tab, js) for _ in range(a.runs)]
                print(f"{tab} view shown: median {1000 * statistics.median(times):.0f} ms "
                      f"(min {1000 * min(times):.0f}, max {1000 * max(times):.0f}) over {a.runs}")
        finally:
            d.quit()
        times = []
        for _ in range(20):
            t = time.perf_counter()
            urllib.request.urlopen(f"{url}/dashboard/api/cluster").read()
            times.append(time.perf_counter() - t)
        print(f"GET /dashboard/api/cluster: median {1000 * statistics.median(times):.1f} ms")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
