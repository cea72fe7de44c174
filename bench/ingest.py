"""Ingest side by side: the same points uploaded over REST to each server given, in batches with
wait=true from 1 or more client threads, while one more thread searches; then the time until
the collection is green. Prints one JSON line per server and run, then ratios to the first.

Usage: python bench/ingest.py --url http://127.0.0.1:6333 --url http://127.0.0.1:7333
       [--n 100000] [--dim 128] [--batch 1000] [--threads 1,4] [--client qdrant-client|raw]
`--client raw` serializes every request body before the clock starts and sends it over a
keep-alive HTTP connection per thread: the Python client's own JSON encoding (most of a batch's
time with qdrant-client) is left out, so the servers' ingest speed is what is compared.
(needs qdrant-client and numpy: pip install -r bench/requirements.txt)
"""

import argparse
import http.client
import json
import os
import threading
import time

from urllib.parse import urlparse

import numpy as np
from grpc_rest import data, wait_indexed  # same data and readiness check as the other benches
from qdrant_client import QdrantClient, models


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else None


def raw_bodies(points, batch):
    """The upsert bodies qdrant-client would send, encoded once, ahead of the timed run."""
    out = []
    for s in range(0, len(points), batch):
        ids = list(range(s, min(s + batch, len(points))))
        body = {"batch": {"ids": ids, "vectors": points[s : s + batch].tolist(), "payloads": [{"g": i % 100} for i in ids]}}
        out.append(json.dumps(body).encode())
    return out


def raw_uploader(url, name, bodies, lock):
    u = urlparse(url)

    def upload():
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
        while True:
            with lock:
                if not bodies:
                    return
                body = bodies.pop()
            conn.request("PUT", f"/collections/{name}/points?wait=true", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            text = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"upsert: {resp.status} {text[:200]!r}")

    return upload


def run(url, points, batch, threads, client_kind):
    client = QdrantClient(url=url, timeout=600)
    name = "bench_ingest"
    if client.collection_exists(name):
        client.delete_collection(name)
    client.create_collection(
        name, vectors_config=models.VectorParams(size=points.shape[1], distance=models.Distance.COSINE)
    )
    starts = list(range(0, len(points), batch))
    lock = threading.Lock()
    done = threading.Event()
    latencies = []

    bodies = raw_bodies(points, batch) if client_kind == "raw" else None

    def upload():
        c = QdrantClient(url=url, timeout=600)
        while True:
            with lock:
                if not starts:
                    return
                s = starts.pop()
            chunk = points[s : s + batch]
            ids = list(range(s, s + len(chunk)))
            c.upsert(
                name,
                points=models.Batch(ids=ids, vectors=chunk.tolist(), payloads=[{"g": i % 100} for i in ids]),
                wait=True,
            )

    def search():
        c = QdrantClient(url=url, timeout=600)
        rng = np.random.default_rng(3)
        while not done.is_set():
            q = points[rng.integers(0, len(points))].tolist()
            t = time.perf_counter()
            c.query_points(name, query=q, limit=10)
            latencies.append(time.perf_counter() - t)

    searcher = threading.Thread(target=search)
    searcher.start()
    t0 = time.perf_counter()
    target = raw_uploader(url, name, bodies, lock) if bodies is not None else upload
    workers = [threading.Thread(target=target) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    upload_s = time.perf_counter() - t0
    done.set()
    searcher.join()
    wait_indexed(client, name, len(points))
    green_s = time.perf_counter() - t0
    count = client.count(name, exact=True).count
    client.delete_collection(name)
    return {
        "url": url,
        "threads": threads,
        "client": client_kind,
        "points": count,
        "upload_points_per_s": round(len(points) / upload_s),
        "green_s": round(green_s, 1),
        "search_during_upload": len(latencies),
        "search_p50_ms": round(pct(latencies, 0.5) * 1e3, 2) if latencies else None,
        "search_p99_ms": round(pct(latencies, 0.99) * 1e3, 2) if latencies else None,
        "load": os.getloadavg()[0],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", action="append", required=True)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--threads", default="1,4")
    ap.add_argument("--client", choices=["qdrant-client", "raw"], default="qdrant-client")
    args = ap.parse_args()
    points, _ = data(args.n, args.dim, 0)
    for threads in [int(t) for t in args.threads.split(",")]:
        rows = [run(url, points, args.batch, threads, args.client) for url in args.url]
        for r in rows:
            print(json.dumps(r), flush=True)
        base = rows[0]
        for r in rows[1:]:
            # Above 1: the first server is ahead.
            ratio = {
                "upload": round(base["upload_points_per_s"] / r["upload_points_per_s"], 2),
                "time_to_green": round(r["green_s"] / base["green_s"], 2),
            }
            print(json.dumps({"threads": threads, "first_vs": r["url"], "ratio": ratio}), flush=True)


if __name__ == "__main__":
    main()
