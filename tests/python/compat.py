"""Runs the real qdrant-client (PyPI) against a node, over REST or gRPC:

    python compat.py http://127.0.0.1:PORT [GRPC_PORT|-] [ANSWERS.json]

With a gRPC port the client is made with prefer_grpc=True. The answers (ids, scores rounded
to 5 places, counts, payloads) are written to ANSWERS.json so a REST run and a gRPC run can
be compared.
"""

import json
import random
import sys
import uuid

import grpc
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

url = sys.argv[1]
grpc_port = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] != "-" else None
dump = sys.argv[3] if len(sys.argv) > 3 else None
client = QdrantClient(url=url, timeout=30, prefer_grpc=grpc_port is not None, grpc_port=grpc_port or 6334)
answers = {}


def record(key, value):
    answers[key] = value


def hit_list(points):
    return [(str(p.id), round(p.score, 5)) for p in points]


def expect_bad(what, f):
    """A client error: 400 over REST, INVALID_ARGUMENT over gRPC."""
    try:
        f()
    except UnexpectedResponse as e:
        assert e.status_code == 400, (what, e)
        return
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, (what, e.code(), e.details())
        return
    raise AssertionError(f"{what}: accepted")
name = "compat"
dim = 8
rng = random.Random(7)

if client.collection_exists(name):
    client.delete_collection(name)
client.create_collection(name, vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE))
assert client.collection_exists(name)

vectors = [[rng.uniform(-1, 1) for _ in range(dim)] for _ in range(1000)]
cities = ["Berlin", "London", "Paris", "Moscow"]
points = [
    models.PointStruct(id=i, vector=vectors[i], payload={"city": cities[i % 4], "n": i, "tags": ["t%d" % (i % 3)]})
    for i in range(900)
]
client.upsert(name, points=points, wait=True)
client.upsert(
    name,
    points=models.Batch(
        ids=list(range(900, 1000)),
        vectors=vectors[900:],
        payloads=[{"city": cities[i % 4], "n": i, "tags": ["t%d" % (i % 3)]} for i in range(900, 1000)],
    ),
    wait=True,
)
uid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
client.upsert(name, points=[models.PointStruct(id=uid, vector=vectors[0], payload={"city": "Nowhere"})], wait=True)

assert client.count(name, exact=True).count == 1001
info = client.get_collection(name)
assert info.points_count == 1001, info
assert info.config.params.vectors.size == dim

top = client.query_points(name, query=vectors[42], limit=10, with_payload=True).points
assert len(top) == 10 and top[0].id == 42, top[:2]
assert top[0].payload["n"] == 42
assert abs(top[0].score - 1.0) < 1e-4
record("query", hit_list(top))

flt = models.Filter(must=[models.FieldCondition(key="city", match=models.MatchValue(value="London"))])
london = client.query_points(name, query=vectors[1], query_filter=flt, limit=20, with_payload=True).points
assert len(london) == 20 and all(h.payload["city"] == "London" for h in london)
assert london[0].id == 1
record("filtered", hit_list(london))

rng_flt = models.Filter(
    must=[models.FieldCondition(key="n", range=models.Range(gte=100, lt=200))],
    must_not=[models.FieldCondition(key="tags", match=models.MatchAny(any=["t0"]))],
)
assert client.count(name, count_filter=rng_flt, exact=True).count == len([i for i in range(100, 200) if i % 3 != 0])
record("count", client.count(name, count_filter=rng_flt, exact=True).count)

client.create_payload_index(name, field_name="city", field_schema=models.PayloadSchemaType.KEYWORD, wait=True)
assert "city" in client.get_collection(name).payload_schema

# Facets count points per value of an indexed key: most first, ties in value order.
facet = client.facet(name, key="city", limit=3)
assert [(h.value, h.count) for h in facet.hits] == [("Berlin", 250), ("London", 250), ("Moscow", 250)], facet
facet = client.facet(name, key="city", facet_filter=models.Filter(must=[models.FieldCondition(key="n", range=models.Range(lt=8))]))
assert [(h.value, h.count) for h in facet.hits] == [(c, 2) for c in sorted(cities)], facet
record("facet", [(h.value, h.count) for h in facet.hits])

# Distance matrix of a random sample: each sampled point's nearest other sampled points.
def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (sum(x * x for x in a) ** 0.5 * sum(y * y for y in b) ** 0.5)

low = models.Filter(must=[models.FieldCondition(key="n", range=models.Range(lt=500))])
m = client.search_matrix_offsets(name, sample=12, limit=3, query_filter=low)
assert len(m.ids) == 12 and len(set(m.ids)) == 12 and all(isinstance(i, int) and i < 500 for i in m.ids), m.ids
assert len(m.scores) == len(m.offsets_row) == len(m.offsets_col) == 36
for row in range(12):
    want = sorted((cosine(vectors[m.ids[row]], vectors[m.ids[j]]) for j in range(12) if j != row), reverse=True)[:3]
    got = [(c, s) for r, c, s in zip(m.offsets_row, m.offsets_col, m.scores) if r == row]
    assert [abs(s - w) < 1e-4 for (_, s), w in zip(got, want)] == [True] * 3, (got, want)
    assert all(abs(cosine(vectors[m.ids[row]], vectors[m.ids[c]]) - s) < 1e-4 for c, s in got)
pairs = client.search_matrix_pairs(name, sample=5, limit=2).pairs
assert len(pairs) == 10 and all(p.a != p.b for p in pairs), pairs
expect_bad("facet without an index", lambda: client.facet(name, key="n"))

seen, offset = [], None
while True:
    page, offset = client.scroll(name, limit=128, offset=offset, with_payload=False)
    seen.extend(p.id for p in page)
    if offset is None:
        break
assert len(seen) == 1001 and len(set(seen)) == 1001
record("scroll", [str(i) for i in seen])

got = client.retrieve(name, ids=[3, 5, uid], with_vectors=True)
assert sorted(str(p.id) for p in got) == sorted(["3", "5", uid])
assert all(len(p.vector) == dim for p in got)

client.set_payload(name, payload={"flag": True}, points=[3, 5], wait=True)
assert client.retrieve(name, ids=[3])[0].payload["flag"] is True
client.overwrite_payload(name, payload={"only": 1}, points=[5], wait=True)
assert client.retrieve(name, ids=[5])[0].payload == {"only": 1}
client.delete_payload(name, keys=["flag"], points=[3], wait=True)
assert "flag" not in client.retrieve(name, ids=[3])[0].payload
client.clear_payload(name, points_selector=models.PointIdsList(points=[3]), wait=True)
assert client.retrieve(name, ids=[3])[0].payload == {}
record("payloads", [client.retrieve(name, ids=[i])[0].payload for i in (3, 4, 5)])

groups = client.query_points_groups(name, query=vectors[10], group_by="city", limit=3, group_size=2).groups
assert len(groups) == 3 and all(len(g.hits) == 2 for g in groups)
record("groups", [(g.id, hit_list(g.hits)) for g in groups])

# Hybrid-style queries: two prefetches fused with RRF, and a prefetch re-scored by another vector.
plain_a = client.query_points(name, query=vectors[20], limit=10).points
plain_b = client.query_points(name, query=vectors[21], limit=10).points
fused = client.query_points(
    name,
    prefetch=[models.Prefetch(query=vectors[20], limit=10), models.Prefetch(query=vectors[21], limit=10)],
    query=models.FusionQuery(fusion=models.Fusion.RRF),
    limit=5,
    with_payload=True,
).points
rrf = {}
for hits in (plain_a, plain_b):
    for rank, h in enumerate(hits):
        rrf[h.id] = rrf.get(h.id, 0.0) + 1.0 / (rank + 2)
want = sorted(rrf.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
assert [(p.id, round(p.score, 5)) for p in fused] == [(i, round(s, 5)) for i, s in want], (fused, want)
assert all("city" in p.payload for p in fused)
record("fused", hit_list(fused))
rescored = client.query_points(
    name, prefetch=models.Prefetch(query=vectors[20], limit=30, filter=flt), query=vectors[22], limit=3
).points
pool = {h.id for h in client.query_points(name, query=vectors[20], query_filter=flt, limit=30).points}
assert len(rescored) == 3 and all(p.id in pool for p in rescored), rescored
assert [p.id for p in rescored] == [h.id for h in sorted(
    client.query_points(name, query=vectors[22], query_filter=models.Filter(must=[models.HasIdCondition(has_id=list(pool))]), limit=3).points,
    key=lambda h: -h.score)]
record("rescored", hit_list(rescored))

# Recommend (average_vector): the examples' stored (normalised) vectors, 2·avg(pos) − avg(neg).
def unit(v):
    n = sum(x * x for x in v) ** 0.5
    return [x / n for x in v]

rec = client.query_points(
    name, query=models.RecommendQuery(recommend=models.RecommendInput(positive=[42, 43], negative=[7])), limit=5
).points
q = [a + b - c for a, b, c in zip(unit(vectors[42]), unit(vectors[43]), unit(vectors[7]))]
want = [h.id for h in client.query_points(name, query=q, limit=8).points if h.id not in (42, 43, 7)][:5]
assert [p.id for p in rec] == want, (rec, want)
record("recommend", hit_list(rec))

batch = client.query_batch_points(
    name, requests=[models.QueryRequest(query=vectors[7], limit=1), models.QueryRequest(query=vectors[8], limit=1)]
)
assert [r.points[0].id for r in batch] == [7, 8]
record("batch", [hit_list(r.points) for r in batch])

# Snapshots: create, list, delete.
snap = client.create_snapshot(name, wait=True)
assert snap.name in [s.name for s in client.list_snapshots(name)]
assert client.delete_snapshot(name, snap.name, wait=True)
assert snap.name not in [s.name for s in client.list_snapshots(name)]

client.delete(name, points_selector=models.PointIdsList(points=[0, 1, 2]), wait=True)
client.delete(name, points_selector=models.FilterSelector(filter=flt), wait=True)
remaining = client.count(name, exact=True).count
# Point 5 lost its city when its payload was overwritten, so the filter does not match it.
assert remaining == 1001 - 3 - len([i for i in range(3, 1000) if i % 4 == 1 and i != 5]), remaining
record("remaining", remaining)

expect_bad("wrong dimension", lambda: client.upsert(name, points=[models.PointStruct(id=1, vector=[1.0, 2.0])], wait=True))
expect_bad("limit 0", lambda: client.query_points(name, query=vectors[0], limit=0))

client.update_collection(name, hnsw_config=models.HnswConfigDiff(ef_construct=123))
assert client.get_collection(name).config.hnsw_config.ef_construct == 123

client.create_collection(
    "compat2", vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT), shard_number=2
)
client.delete_collection("compat2")
client.delete_collection(name)
client.create_collection(name, vectors_config=models.VectorParams(size=dim, distance=models.Distance.EUCLID))
assert client.count(name).count == 0
names = [c.name for c in client.get_collections().collections]
assert name in names and "compat2" not in names
if dump:
    with open(dump, "w") as f:
        json.dump(answers, f, indent=1, sort_keys=True)
print("qdrant-client compatibility: all checks passed")
