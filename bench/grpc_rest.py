"""Upsert points/s and query QPS over REST and over gRPC with the same client (the PyPI
qdrant-client), on the same data, against any Qdrant-compatible server.

Usage: python bench/grpc_rest.py --url http://127.0.0.1:6333 --grpc-port 6334 [--n 100000]
       [--dim 128] [--queries 2000] [--threads 8] [--batch 1000]
(pip install -r bench/requirements.txt and qdrant-client). Prints one JSON line per API.
"""

import argparse
import json
import os
import statistics
import threading
import time

import numpy as np
from qdrant_client import QdrantClient, models


def data(n, dim, queries):
    rng = np.random.default_rng(7)
    centers = rng.normal(size=(64, dim)).astype(np.float32)
    points = centers[rng.integers(0, 64, n)] + 0.3 * rng.normal(size=(n, dim)).astype(np.float32)
    qs = centers[rng.integers(0, 64, queries)] + 0.3 * rng.normal(size=(queries, dim)).astype(np.float32)
    return points.astype(np.float32), qs.astype(np.float32)


def wait_indexed(client, name, n, deadline_s=1800):
    end = time.time() + deadline_s
    while time.time() < end:
        info = client.get_collection(name)
        if (info.indexed_vectors_count or 0) >= n * 0.99 and info.status == models.CollectionStatus.GREEN:
            return
        time.sleep(0.5)
    raise RuntimeError(f"{name} not indexed within {deadline_s} s")


def run(args, grpc):
    client = QdrantClient(url=args.url, grpc_port=args.grpc_port, prefer_grpc=grpc, timeout=600)
    name = f"bench_{'grpc' if grpc else 'rest'}"
    if client.collection_exists(name):
        client.delete_collection(name)
    client.create_collection(
        name,
        vectors_config=models.VectorParams(size=args.dim, distance=models.Distance.COSINE),
        shard_number=1,
    )
    points, qs = data(args.n, args.dim, args.queries)
    t0 = time.perf_counter()
    for start in range(0, args.n, args.batch):
        chunk = points[start : start + args.batch]
        client.upsert(
            name,
            points=models.Batch(
                ids=list(range(start, start + len(chunk))),
                vectors=chunk.tolist(),
                payloads=[{"group": int(i % 100)} for i in range(start, start + len(chunk))],
            ),
            wait=True,
        )
    upsert_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    wait_indexed(client, name, args.n)
    index_s = time.perf_counter() - t1

    lat = []
    t2 = time.perf_counter()
    for q in qs:
        s = time.perf_counter()
        client.query_points(name, query=q.tolist(), limit=10)
        lat.append(time.perf_counter() - s)
    seq_s = time.perf_counter() - t2

    # Concurrent clients: one client object per thread, each its own share of the queries.
    per = [qs[i :: args.threads] for i in range(args.threads)]
    clients = [
        QdrantClient(url=args.url, grpc_port=args.grpc_port, prefer_grpc=grpc, timeout=600)
        for _ in range(args.threads)
    ]

    def worker(c, mine):
        for q in mine:
            c.query_points(name, query=q.tolist(), limit=10)

    threads = [threading.Thread(target=worker, args=(c, m)) for c, m in zip(clients, per)]
    t3 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    par_s = time.perf_counter() - t3
    lat.sort()
    out = {
        "label": args.label,
        "api": "grpc" if grpc else "rest",
        "n": args.n,
        "dim": args.dim,
        "upsert_points_per_s": round(args.n / upsert_s),
        "index_wait_s": round(index_s, 1),
        "qps_1_client": round(len(qs) / seq_s),
        f"qps_{args.threads}_clients": round(len(qs) / par_s),
        "p50_ms": round(statistics.median(lat) * 1000, 2),
        "p99_ms": round(lat[int(len(lat) * 0.99) - 1] * 1000, 2),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    client.delete_collection(name)
    print(json.dumps(out), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:6333")
    ap.add_argument("--grpc-port", type=int, default=6334)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--label", default="server")
    ap.add_argument("--api", choices=["rest", "grpc", "both"], default="both")
    args = ap.parse_args()
    if args.api in ("rest", "both"):
        run(args, grpc=False)
    if args.api in ("grpc", "both"):
        run(args, grpc=True)


if __name__ == "__main__":
    main()
