"""Qdrant's own engine in-process (qdrant-edge-py) on the sparse and multivector data that
`bench vectors --dump DIR` wrote, measured as `bench vectors` measures ours.

    cargo run --release -p bench -- vectors --dump /tmp/kinds-data
    python bench/edge_kinds.py /tmp/kinds-data
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
    EdgeOptimizersConfig,
    EdgeShard,
    EdgeSparseVectorParams,
    EdgeVectorParams,
    MultiVectorComparator,
    MultiVectorConfig,
    Point,
    Query,
    QueryRequest,
    SearchParams,
    SparseVector,
    UpdateOperation,
)


def read_sparse(path):
    raw = np.fromfile(path, dtype=np.uint32)
    n, at, out = int(raw[0]), 1, []
    for _ in range(n):
        k = int(raw[at])
        idx = raw[at + 1 : at + 1 + k]
        vals = raw[at + 1 + k : at + 1 + 2 * k].view(np.float32)
        out.append((idx.tolist(), vals.tolist()))
        at += 1 + 2 * k
    return out


def read_multi(path):
    raw = np.fromfile(path, dtype=np.uint32)
    n, at, out = int(raw[0]), 1, []
    for _ in range(n):
        k, dim = int(raw[at]), int(raw[at + 1])
        out.append(raw[at + 2 : at + 2 + k * dim].view(np.float32).reshape(k, dim))
        at += 2 + k * dim
    return out


def pct(lat, p):
    s = sorted(lat)
    return s[min(len(s) - 1, round((len(s) - 1) * p))]


def report(what, lat, hits, n):
    wall = sum(lat)
    print(f"  {what:<28} recall@10 {hits / (10 * n):.4f}  qps {n / wall:>8.1f}  p50 {pct(lat, .5) * 1e3:.3f} ms  p99 {pct(lat, .99) * 1e3:.3f} ms")


def run(shard, queries, make, truth=None):
    lat, hits, found = [], 0, []
    for i, q in enumerate(queries):
        t = time.perf_counter()
        res = shard.query(make(q))
        lat.append(time.perf_counter() - t)
        ids = [int(p.id) for p in res]
        found.append(ids)
        if truth is not None:
            hits += len(set(ids) & set(truth[i]))
    return lat, hits, found


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sparse(folder):
    docs = read_sparse(os.path.join(folder, "sparse_docs.bin"))
    queries = read_sparse(os.path.join(folder, "sparse_queries.bin"))
    print(f"qdrant-edge sparse: {len(docs)} documents, {len(queries)} queries")
    shard = EdgeShard.create(tempfile.mkdtemp(prefix="edge-sparse-"), EdgeConfig(
        vectors={}, sparse_vectors={"text": EdgeSparseVectorParams()}))
    before = rss_mb()
    t = time.perf_counter()
    for start in range(0, len(docs), 1000):
        pts = [Point(id=i, vector={"text": SparseVector(*docs[i])}) for i in range(start, min(len(docs), start + 1000))]
        shard.update(UpdateOperation.upsert_points(pts))
    insert = time.perf_counter() - t
    t = time.perf_counter()
    shard.optimize()
    print(f"  insert {insert:.2f}s, optimize {time.perf_counter() - t:.2f}s, peak RSS +{rss_mb() - before:.0f} MB")
    lat, _, found = run(shard, queries, lambda q: QueryRequest(limit=10, query=Query.Nearest(SparseVector(*q), using="text")))
    # Sparse search is exact in both engines: recall against our brute force is 1.0 there,
    # so report the latency here.
    report("top-10, 1 thread", lat, 10 * len(queries), len(queries))
    shard.close()


def multi(folder):
    docs = read_multi(os.path.join(folder, "multi_docs.bin"))
    queries = read_multi(os.path.join(folder, "multi_queries.bin"))
    dim = docs[0].shape[1]
    print(f"qdrant-edge multivector: {len(docs)} points x {docs[0].shape[0]} x {dim}, {len(queries)} queries")
    cfg = EdgeConfig(
        vectors={"colbert": EdgeVectorParams(size=dim, distance=Distance.Cosine,
                                             multivector_config=MultiVectorConfig(comparator=MultiVectorComparator.MaxSim))},
        optimizers=EdgeOptimizersConfig(indexing_threshold=1, default_segment_number=1),
    )
    shard = EdgeShard.create(tempfile.mkdtemp(prefix="edge-multi-"), cfg)
    before = rss_mb()
    t = time.perf_counter()
    for start in range(0, len(docs), 200):
        pts = [Point(id=i, vector={"colbert": docs[i].tolist()}) for i in range(start, min(len(docs), start + 200))]
        shard.update(UpdateOperation.upsert_points(pts))
    insert = time.perf_counter() - t
    t = time.perf_counter()
    shard.optimize()
    build = time.perf_counter() - t
    print(f"  insert {insert:.2f}s, optimize (index build) {build:.1f}s, peak RSS +{rss_mb() - before:.0f} MB")
    near = lambda q, params=None: QueryRequest(limit=10, query=Query.Nearest(q.tolist(), using="colbert"), params=params)
    lat, _, truth = run(shard, queries, lambda q: near(q, SearchParams(exact=True)))
    report("exact", lat, 10 * len(queries), len(queries))
    for ef in (None, 256):
        lat, hits, _ = run(shard, queries, lambda q: near(q, None if ef is None else SearchParams(hnsw_ef=ef)), truth)
        report(f"HNSW ef={ef or 'default'}", lat, hits, len(queries))
    shard.close()


if __name__ == "__main__":
    sparse(sys.argv[1])
    multi(sys.argv[1])
