"""Qdrant's own engine in-process (qdrant-edge-py) on the data `bench dump` wrote.

    bench --n 100000 dump --out /tmp/bench-data
    python bench/edge_baseline.py /tmp/bench-data 16,32,64,128,256
Prints index build time, recall@10, QPS and latency percentiles per hnsw_ef, in the same
layout as `bench index`.
"""

import os
import resource
import sys
import tempfile
import time

import numpy as np
from qdrant_edge import (
    Distance,
    EdgeConfig,
    EdgeShard,
    EdgeVectorParams,
    Point,
    Query,
    QueryRequest,
    SearchParams,
    UpdateOperation,
)


def read_vecs(path, dtype):
    raw = np.fromfile(path, dtype=np.int32)
    dim = raw[0]
    rows = raw.reshape(-1, dim + 1)[:, 1:]
    return rows.view(dtype) if dtype == np.float32 else rows


def pct(lat, p):
    s = sorted(lat)
    return s[min(len(s) - 1, round((len(s) - 1) * p))]


def main():
    folder = sys.argv[1]
    efs = [int(x) for x in (sys.argv[2] if len(sys.argv) > 2 else "16,32,64,128,256").split(",")]
    base = read_vecs(os.path.join(folder, "base.fvecs"), np.float32)
    queries = read_vecs(os.path.join(folder, "queries.fvecs"), np.float32)
    truth = read_vecs(os.path.join(folder, "truth.ivecs"), np.int32)
    n, dim = base.shape
    path = tempfile.mkdtemp(prefix="edge-")
    shard = EdgeShard.create(path, EdgeConfig(vectors=EdgeVectorParams(size=int(dim), distance=Distance.Cosine)))
    t = time.perf_counter()
    for start in range(0, n, 1000):
        pts = [Point(id=i, vector=base[i].tolist()) for i in range(start, min(n, start + 1000))]
        shard.update(UpdateOperation.upsert_points(pts))
    upload = time.perf_counter() - t
    t = time.perf_counter()
    shard.optimize()
    build = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"qdrant-edge: {n} points x {dim} dims\n  insert {upload:.2f}s, optimize (index build) {build:.2f}s, peak RSS {rss:.1f} MB")
    print(f"  {'ef':>6} {'recall':>8} {'qps':>10} {'p50_ms':>10} {'p95_ms':>10} {'p99_ms':>10}")
    rows = []
    for ef in efs:
        lat, hits = [], 0
        wall = time.perf_counter()
        for q, tr in zip(queries, truth):
            t = time.perf_counter()
            res = shard.query(QueryRequest(limit=10, query=Query.Nearest(q.tolist()), params=SearchParams(hnsw_ef=ef)))
            lat.append(time.perf_counter() - t)
            hits += len({p.id for p in res} & set(int(x) for x in tr[:10]))
        wall = time.perf_counter() - wall
        recall = hits / (10 * len(queries))
        rows.append((ef, recall))
        print(f"  {ef:>6} {recall:>8.4f} {len(queries) / wall:>10.1f} {pct(lat, .5) * 1e3:>10.3f} {pct(lat, .95) * 1e3:>10.3f} {pct(lat, .99) * 1e3:>10.3f}")
    shard.close()


if __name__ == "__main__":
    main()
