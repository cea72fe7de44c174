"""Every vector kind through the real qdrant-client (PyPI), checked against numpy.

    python vector_kinds.py load  URL   # create the hybrid collection and upsert the points
    python vector_kinds.py check URL   # every query kind equals a brute-force computation
    python vector_kinds.py mutate URL  # updates, named-vector changes, bad input; restores the data

The data comes from a fixed seed, so `check` recomputes the expected answers on its own and
can run against any peer of a cluster, after a shard move or a snapshot restore.
"""

import sys
import time

import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

NAME = sys.argv[3] if len(sys.argv) > 3 else "kinds"
N = 10_000
VOCAB = 3000
rng = np.random.default_rng(16)


def zipf_doc(nnz):
    """Distinct indices drawn from a Zipf-like vocabulary, positive weights."""
    idx = set()
    while len(idx) < nnz:
        idx.add(int(min(rng.zipf(1.3), VOCAB) - 1))
    idx = np.array(sorted(idx), dtype=np.uint32)
    return idx, rng.uniform(0.1, 3.0, len(idx)).astype(np.float32)


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


# The points: every kind, some points without some kinds.
DENSE = rng.normal(size=(N, 32)).astype(np.float32)
TEXT = [zipf_doc(int(rng.integers(5, 30))) for _ in range(N)]
SPLADE = [zipf_doc(int(rng.integers(3, 15))) if i % 5 else None for i in range(N)]
COLBERT = [rng.normal(size=(int(rng.integers(2, 7)), 8)).astype(np.float32) if i % 7 else None for i in range(N)]
U8 = rng.uniform(-20, 280, size=(N, 8)).astype(np.float32)
HALF = rng.normal(size=(N, 16)).astype(np.float32)
GROUP = np.arange(N) % 10

# Queries.
Q = 12
Q_DENSE = rng.normal(size=(Q, 32)).astype(np.float32)
Q_TEXT = [zipf_doc(6) for _ in range(Q)]
Q_SPLADE = [zipf_doc(5) for _ in range(Q)]
Q_COLBERT = [rng.normal(size=(3, 8)).astype(np.float32) for _ in range(Q)]
Q_U8 = rng.uniform(0, 255, size=(Q, 8)).astype(np.float32)
Q_HALF = rng.normal(size=(Q, 16)).astype(np.float32)


def u8(x):
    """Qdrant's uint8 storage: truncated toward zero, saturated to 0..255."""
    return np.clip(np.trunc(x), 0, 255).astype(np.float32)


def f16(x):
    return np.asarray(x, dtype=np.float32).astype(np.float16).astype(np.float32)


def sparse(ix, vals):
    return models.SparseVector(indices=[int(i) for i in ix], values=[float(v) for v in vals])


def point_vectors(i):
    v = {
        "dense": DENSE[i].tolist(),
        "text": sparse(*TEXT[i]),
        "u8": U8[i].tolist(),
        "half": HALF[i].tolist(),
    }
    if SPLADE[i] is not None:
        v["splade"] = sparse(*SPLADE[i])
    if COLBERT[i] is not None:
        v["colbert"] = COLBERT[i].tolist()
    return v


def connect(url):
    return QdrantClient(url=url, timeout=60)


def load(url):
    client = connect(url)
    if client.collection_exists(NAME):
        client.delete_collection(NAME)
    client.create_collection(
        NAME,
        vectors_config={
            "dense": models.VectorParams(size=32, distance=models.Distance.COSINE),
            "colbert": models.VectorParams(
                size=8,
                distance=models.Distance.COSINE,
                multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM),
            ),
            "u8": models.VectorParams(
                size=8, distance=models.Distance.EUCLID, datatype=models.Datatype.UINT8,
                hnsw_config=models.HnswConfigDiff(m=0),
            ),
            "half": models.VectorParams(
                size=16, distance=models.Distance.DOT, datatype=models.Datatype.FLOAT16,
                hnsw_config=models.HnswConfigDiff(m=0),
            ),
        },
        sparse_vectors_config={
            "text": models.SparseVectorParams(modifier=models.Modifier.IDF),
            "splade": models.SparseVectorParams(index=models.SparseIndexParams(datatype=models.Datatype.FLOAT16)),
        },
        # Small enough that dense and multi vectors are searched through their HNSW graphs.
        hnsw_config=models.HnswConfigDiff(full_scan_threshold=10),
        shard_number=int(sys.argv[4]) if len(sys.argv) > 4 else None,
        replication_factor=int(sys.argv[5]) if len(sys.argv) > 5 else None,
    )
    for start in range(0, N, 500):
        pts = [
            models.PointStruct(id=i, vector=point_vectors(i), payload={"g": int(GROUP[i])})
            for i in range(start, min(N, start + 500))
        ]
        client.upsert(NAME, points=pts, wait=True)
    wait_green(client)
    print("loaded")


def wait_green(client, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = client.get_collection(NAME)
        if info.status == models.CollectionStatus.GREEN:
            return info
        time.sleep(0.2)
    raise AssertionError(f"collection not green after {timeout}s: {info}")


def top(scores, k, higher=True, mask=None):
    """Ids of the k best finite scores (ties by id), with their scores."""
    ids = np.arange(len(scores))
    ok = np.isfinite(scores)
    if mask is not None:
        ok &= mask
    ids, s = ids[ok], scores[ok]
    order = np.lexsort((ids, -s if higher else s))[:k]
    return [(int(ids[j]), float(s[j])) for j in order]


def same(got, want, what, rel=1e-4, exact_ids=True):
    """Scores equal within `rel`; ids equal except among (near) ties at the cut."""
    assert len(got) == len(want), f"{what}: {len(got)} hits, want {len(want)}"
    for (gi, gs), (wi, ws) in zip(got, want):
        assert abs(gs - ws) <= rel * max(1.0, abs(ws)), f"{what}: score {gs} vs {ws} ({gi} vs {wi})"
    if exact_ids:
        gids, wids = [g[0] for g in got], [w[0] for w in want]
        if gids != wids:
            # ids may differ only where scores tie
            for (gi, gs), (wi, ws) in zip(got, want):
                assert gi == wi or abs(gs - ws) <= rel * max(1.0, abs(ws)), f"{what}: {gids} vs {wids}"


def hits(res):
    return [(int(p.id), float(p.score)) for p in res.points]


class Csr:
    """Sparse documents as flat arrays, for vectorised brute force."""

    def __init__(self, docs):
        self.n = len(docs)
        present = [(i, d) for i, d in enumerate(docs) if d is not None]
        self.rows = np.concatenate([np.full(len(d[0]), i) for i, d in present])
        self.cols = np.concatenate([d[0] for _, d in present]).astype(np.int64)
        self.vals = np.concatenate([d[1] for _, d in present]).astype(np.float64)
        self.points = len(present)
        self.df = np.bincount(self.cols, minlength=VOCAB + 16)


def sparse_scores(csr, q_ix, q_val, weights=None):
    """Dot products of a sparse query with every doc; -inf where no index is shared."""
    w = np.zeros(len(csr.df))
    w[q_ix.astype(np.int64)] = q_val if weights is None else q_val * weights
    hit = np.zeros(len(csr.df), dtype=bool)
    hit[q_ix.astype(np.int64)] = True
    scores = np.bincount(csr.rows, weights=w[csr.cols] * csr.vals, minlength=csr.n)
    shared = np.bincount(csr.rows, weights=hit[csr.cols], minlength=csr.n) > 0
    return np.where(shared, scores, -np.inf)


def idf_weights(csr, q_ix):
    df = csr.df[q_ix.astype(np.int64)]
    return np.log((csr.points - df + 0.5) / (df + 0.5) + 1.0)


class Multi:
    """Multivector documents as one matrix of unit sub-vectors, for vectorised MaxSim."""

    def __init__(self, docs):
        self.n = len(docs)
        self.ids = np.array([i for i, d in enumerate(docs) if d is not None])
        self.subs = unit(np.concatenate([d for d in docs if d is not None]))
        counts = [len(d) for d in docs if d is not None]
        self.starts = np.concatenate([[0], np.cumsum(counts)[:-1]])

    def max_sim(self, q):
        """MaxSim of query `q` with every doc; -inf for docs without the vector."""
        best = np.maximum.reduceat(self.subs @ unit(q).T, self.starts, axis=0)
        out = np.full(self.n, -np.inf)
        out[self.ids] = best.sum(axis=1)
        return out


def check(url):
    client = connect(url)
    info = wait_green(client)
    assert info.points_count == N, info.points_count
    exact = models.SearchParams(exact=True)
    dense_unit = unit(DENSE)
    text = Csr(TEXT)
    splade16 = Csr([None if d is None else (d[0], f16(d[1])) for d in SPLADE])
    colbert = Multi(COLBERT)
    recall_dense = recall_multi = 0
    for q in range(Q):
        # Dense Cosine: exact equals numpy, the graph finds most of it.
        want = top(dense_unit @ unit(Q_DENSE[q]), 10)
        same(hits(client.query_points(NAME, query=Q_DENSE[q].tolist(), using="dense", search_params=exact, limit=10)), want, "dense exact")
        got = hits(client.query_points(NAME, query=Q_DENSE[q].tolist(), using="dense", limit=10))
        recall_dense += len({g[0] for g in got} & {w[0] for w in want})

        # Sparse with IDF over the whole collection, through the inverted index.
        ix, vals = Q_TEXT[q]
        scores = sparse_scores(text, ix, vals, idf_weights(text, ix))
        got = hits(client.query_points(NAME, query=sparse(ix, vals), using="text", limit=10))
        same(got, top(scores, 10), "sparse idf", rel=1e-3)
        # ... and filtered by payload (a filter the index path checks point by point).
        flt = models.Filter(must=[models.FieldCondition(key="g", match=models.MatchValue(value=3))])
        got = hits(client.query_points(NAME, query=sparse(ix, vals), using="text", query_filter=flt, limit=5))
        same(got, top(scores, 5, mask=GROUP == 3), "sparse idf filtered", rel=1e-3)

        # IDF over a corpus (Qdrant 1.19's `params.idf`): statistics from the points of
        # groups 1 and 2, scores over all points.
        corpus_filter = models.Filter(must=[models.FieldCondition(key="g", match=models.MatchAny(any=[1, 2]))])
        corpus = Csr([d if GROUP[i] in (1, 2) else None for i, d in enumerate(TEXT)])
        got = hits(client.query_points(NAME, query=sparse(ix, vals), using="text", limit=10,
                                       search_params=models.SearchParams(idf=models.IdfCorpusParams(corpus=corpus_filter))))
        same(got, top(sparse_scores(text, ix, vals, idf_weights(corpus, ix)), 10), "sparse idf corpus", rel=1e-3)
        got = hits(client.query_points(NAME, query=sparse(ix, vals), using="text", limit=10,
                                       search_params=models.SearchParams(idf=models.IdfScope.GLOBAL)))
        same(got, top(scores, 10), "sparse idf global", rel=1e-3)

        # Sparse without modifier, float16 index weights.
        ix, vals = Q_SPLADE[q]
        got = hits(client.query_points(NAME, query=sparse(ix, vals), using="splade", limit=10))
        same(got, top(sparse_scores(splade16, ix, vals), 10), "sparse f16", rel=1e-3)

        # Multivector MaxSim: exact equals numpy, the graph finds most of it.
        want = top(colbert.max_sim(Q_COLBERT[q]), 10)
        got = hits(client.query_points(NAME, query=Q_COLBERT[q].tolist(), using="colbert", search_params=exact, limit=10))
        same(got, want, "multi exact", rel=1e-4)
        # MaxSim is no metric and random sub-vectors are hard for a graph (Qdrant 1.18 finds
        # 0.78 of these at its default ef): a wider beam for a check with a margin.
        wide = models.SearchParams(hnsw_ef=256)
        got = hits(client.query_points(NAME, query=Q_COLBERT[q].tolist(), using="colbert", search_params=wide, limit=10))
        recall_multi += len({g[0] for g in got} & {w[0] for w in want})

        # uint8 Euclid and float16 Dot: scores of the stored widths.
        d = np.sqrt(((u8(U8) - u8(Q_U8[q])) ** 2).sum(axis=1))
        same(hits(client.query_points(NAME, query=Q_U8[q].tolist(), using="u8", limit=10)), top(d, 10, higher=False), "uint8")
        s = f16(HALF) @ f16(Q_HALF[q])
        same(hits(client.query_points(NAME, query=Q_HALF[q].tolist(), using="half", limit=10)), top(s, 10), "float16", rel=1e-3)

        # Hybrid: exact dense and sparse prefetches fused by RRF (1 / (rank + 2)).
        dense_list = top(dense_unit @ unit(Q_DENSE[q]), 40)
        ix, vals = Q_TEXT[q]
        text_list = top(sparse_scores(text, ix, vals, idf_weights(text, ix)), 40)
        rrf = {}
        for lst in (dense_list, text_list):
            for rank, (i, _) in enumerate(lst):
                rrf[i] = rrf.get(i, 0.0) + 1.0 / (rank + 2)
        want = sorted(rrf.items(), key=lambda x: (-x[1], x[0]))[:10]
        got = hits(client.query_points(
            NAME,
            prefetch=[
                models.Prefetch(query=Q_DENSE[q].tolist(), using="dense", params=exact, limit=40),
                models.Prefetch(query=sparse(ix, vals), using="text", limit=40),
            ],
            query=models.FusionQuery(fusion=models.Fusion.RRF),
            limit=10,
        ))
        same(got, want, "hybrid rrf", rel=1e-5)

    print(f"recall@10 through the graphs: dense {recall_dense / (10 * Q):.3f}, multivector {recall_multi / (10 * Q):.3f}")
    assert recall_dense >= 0.9 * 10 * Q, f"dense HNSW recall {recall_dense / (10 * Q)}"
    assert recall_multi >= 0.85 * 10 * Q, f"multivector HNSW recall {recall_multi / (10 * Q)}"

    # A point as the query (its own vector, the point left out), sparse and multi.
    got = hits(client.query_points(NAME, query=11, using="text", limit=3))
    ix, vals = TEXT[11]
    want = [w for w in top(sparse_scores(text, ix, vals, idf_weights(text, ix)), 4) if w[0] != 11][:3]
    same(got, want, "sparse by id", rel=1e-3)
    got = hits(client.query_points(NAME, query=8, using="colbert", search_params=exact, limit=3))
    want = [w for w in top(colbert.max_sim(COLBERT[8]), 4) if w[0] != 8][:3]
    same(got, want, "multi by id", rel=1e-4)

    # has_vector and with_vector by name, every kind as stored.
    has = lambda name: models.Filter(must=[models.HasVectorCondition(has_vector=name)])
    assert client.count(NAME, count_filter=has("colbert"), exact=True).count == sum(c is not None for c in COLBERT)
    assert client.count(NAME, count_filter=has("splade"), exact=True).count == sum(s is not None for s in SPLADE)
    recs = client.retrieve(NAME, ids=[1, 5, 7], with_vectors=["text", "colbert", "u8", "half", "splade"])
    by_id = {int(r.id): r.vector for r in recs}
    for i in (1, 5, 7):
        v = by_id[i]
        assert v["text"].indices == TEXT[i][0].tolist(), v["text"]
        assert np.allclose(v["text"].values, TEXT[i][1]), v["text"]
        assert ("colbert" in v) == (COLBERT[i] is not None), (i, v.keys())
        if COLBERT[i] is not None:
            assert np.allclose(np.array(v["colbert"]), unit(COLBERT[i]), atol=1e-6)
        assert ("splade" in v) == (SPLADE[i] is not None), (i, v.keys())
        assert v["u8"] == u8(U8[i]).tolist(), (v["u8"], U8[i])
        assert np.array_equal(np.array(v["half"], dtype=np.float32), f16(HALF[i]))
        assert "dense" not in v
    print("all checks passed")


def expect_4xx(what, f):
    try:
        f()
    except UnexpectedResponse as e:
        assert 400 <= e.status_code < 500, f"{what}: {e.status_code} {e.content}"
        return e.content.decode()
    raise AssertionError(f"{what}: accepted")


def mutate(url):
    client = connect(url)
    before = client.count(NAME, exact=True).count
    # Bad input of each kind: a clear 4xx, nothing written.
    bad = [
        ("duplicate sparse index", {"text": models.SparseVector(indices=[1, 1], values=[1.0, 2.0])}),
        ("sparse length mismatch", {"text": models.SparseVector(indices=[1, 2], values=[1.0])}),
        ("dense given for sparse", {"text": [1.0, 2.0]}),
        ("sparse given for dense", {"dense": models.SparseVector(indices=[1], values=[1.0])}),
        ("multi given for dense", {"dense": [[0.0] * 32]}),
        ("multi of wrong width", {"colbert": [[1.0] * 8, [1.0] * 7]}),
        ("empty multi", {"colbert": []}),
        ("wrong dimension", {"u8": [1.0] * 7}),
        ("unknown name", {"nope": [1.0]}),
    ]
    for what, vec in bad:
        msg = expect_4xx(what, lambda: client.upsert(NAME, points=[models.PointStruct(id=N + 1, vector=vec)], wait=True))
        assert "error" in msg, msg
    expect_4xx("query of the wrong kind", lambda: client.query_points(NAME, query=[1.0] * 8, using="text"))
    expect_4xx("sparse query with duplicates", lambda: client.query_points(
        NAME, query=models.SparseVector(indices=[3, 3], values=[1.0, 1.0]), using="text"))
    assert client.count(NAME, exact=True).count == before

    # update_vectors / delete_vectors per kind.
    new_text = sparse([VOCAB + 5, VOCAB + 9], [1.0, 2.0])
    client.update_vectors(NAME, points=[models.PointVectors(id=0, vector={"text": new_text, "colbert": [[1.0] * 8]})], wait=True)
    got = hits(client.query_points(NAME, query=sparse([VOCAB + 9], [1.0]), using="text", limit=3))
    assert [g[0] for g in got] == [0], got
    rec = client.retrieve(NAME, ids=[0], with_vectors=True)[0]
    assert rec.vector["text"].indices == [VOCAB + 5, VOCAB + 9] and len(rec.vector["colbert"]) == 1
    assert np.allclose(rec.vector["dense"], unit(DENSE[0]), atol=1e-6), "other vectors kept"
    client.delete_vectors(NAME, vectors=["colbert", "splade"], points=[1], wait=True)
    rec = client.retrieve(NAME, ids=[1], with_vectors=True)[0]
    assert "colbert" not in rec.vector and "splade" not in rec.vector and "text" in rec.vector, rec.vector.keys()

    # A named vector added to a collection that has points, then removed with its data.
    client.create_vector_name(NAME, vector_name="extra", vector_name_config=models.DenseVectorNameConfig(
        dense=models.DenseVectorConfig(size=4, distance=models.Distance.DOT)))
    assert "extra" in client.get_collection(NAME).config.params.vectors
    client.update_vectors(NAME, points=[models.PointVectors(id=3, vector={"extra": [1.0, 2.0, 3.0, 4.0]})], wait=True)
    got = hits(client.query_points(NAME, query=[1.0, 0.0, 0.0, 0.0], using="extra", limit=5))
    assert got == [(3, 1.0)], got
    client.create_vector_name(NAME, vector_name="words", vector_name_config=models.SparseVectorNameConfig(
        sparse=models.SparseVectorConfig(modifier=models.Modifier.IDF)))
    client.update_vectors(NAME, points=[models.PointVectors(id=4, vector={"words": sparse([7], [2.0])})], wait=True)
    got = hits(client.query_points(NAME, query=sparse([7], [1.0]), using="words", limit=5))
    assert [g[0] for g in got] == [4], got
    client.delete_vector_name(NAME, vector_name="extra")
    client.delete_vector_name(NAME, vector_name="words")
    expect_4xx("removed vector", lambda: client.query_points(NAME, query=[1.0] * 4, using="extra"))
    params = client.get_collection(NAME).config.params
    assert "extra" not in params.vectors and "words" not in (params.sparse_vectors or {}), params
    # Created again under the same name, it starts empty: the old data went with it.
    client.create_vector_name(NAME, vector_name="extra", vector_name_config=models.DenseVectorNameConfig(
        dense=models.DenseVectorConfig(size=4, distance=models.Distance.DOT)))
    assert hits(client.query_points(NAME, query=[1.0, 0.0, 0.0, 0.0], using="extra", limit=5)) == []
    assert client.count(NAME, count_filter=models.Filter(must=[models.HasVectorCondition(has_vector="extra")]), exact=True).count == 0
    client.delete_vector_name(NAME, vector_name="extra")

    # Back to the seeded data, so `check` holds again.
    for i in (0, 1, 3, 4):
        client.upsert(NAME, points=[models.PointStruct(id=i, vector=point_vectors(i), payload={"g": int(GROUP[i])})], wait=True)
    assert client.count(NAME, exact=True).count == before
    print("all mutations checked")


if __name__ == "__main__":
    {"load": load, "check": check, "mutate": mutate}[sys.argv[1]](sys.argv[2])
