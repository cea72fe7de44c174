"""Quantization through the real qdrant-client (PyPI), unchanged: create with its models,
read the config back, query with `QuantizationSearchParams`, update to binary and to
`Disabled`; answers checked against numpy.

    python quantization.py URL GRPC_PORT|-
"""

import sys
import time

import numpy as np
from qdrant_client import QdrantClient, models

url, grpc = sys.argv[1], sys.argv[2]
host, port = url.split("//")[1].split(":")
if grpc == "-":
    client = QdrantClient(url=url, timeout=60)
else:
    client = QdrantClient(host=host, port=int(port), grpc_port=int(grpc), prefer_grpc=True, timeout=60)

NAME = "quant_" + ("rest" if grpc == "-" else "grpc")
N, DIM = 4000, 128
rng = np.random.default_rng(18)
# Embedding-like: 24 latent dimensions spread over DIM, plus noise.
mix = rng.normal(size=(24, DIM))
data = (rng.normal(size=(N, 24)) @ mix + 0.3 * rng.normal(size=(N, DIM))).astype(np.float32)
unit = data / np.linalg.norm(data, axis=1, keepdims=True)
queries = (rng.normal(size=(20, 24)) @ mix + 0.3 * rng.normal(size=(20, DIM))).astype(np.float32)


def wait_green():
    deadline = time.time() + 120
    while time.time() < deadline:
        info = client.get_collection(NAME)
        if info.status == models.CollectionStatus.GREEN and (info.indexed_vectors_count or 0) >= N - 1000:
            return
        time.sleep(0.1)
    raise AssertionError("collection not green in 120 s")


def exact(q, k=10):
    s = unit @ (q / np.linalg.norm(q))
    top = np.argsort(-s)[:k]
    return [int(i) for i in top], s


def check(params, min_recall, rescored):
    found = 0
    for q in queries:
        want, scores = exact(q)
        hits = client.query_points(NAME, query=q.tolist(), limit=10, search_params=params).points
        found += len({h.id for h in hits} & set(want))
        for h in hits:
            close = abs(h.score - scores[h.id]) < 1e-4
            assert close or not rescored, (h.id, h.score, scores[h.id])
    recall = found / (10 * len(queries))
    assert recall >= min_recall, (params, recall)
    return recall


if client.collection_exists(NAME):
    client.delete_collection(NAME)
client.create_collection(
    NAME,
    vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE),
    hnsw_config=models.HnswConfigDiff(full_scan_threshold=10),
    optimizers_config=models.OptimizersConfigDiff(indexing_threshold=10),
    quantization_config=models.ScalarQuantization(
        scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, quantile=0.99, always_ram=True)
    ),
)
for i in range(0, N, 1000):
    client.upsert(NAME, points=models.Batch(ids=list(range(i, i + 1000)), vectors=data[i:i + 1000].tolist()))
wait_green()
q = client.get_collection(NAME).config.quantization_config
assert isinstance(q, models.ScalarQuantization) and abs(q.scalar.quantile - 0.99) < 1e-6, q

rescore = models.SearchParams(hnsw_ef=64, quantization=models.QuantizationSearchParams(rescore=True, oversampling=2.0))
r1 = check(rescore, 0.9, rescored=True)
r2 = check(models.SearchParams(hnsw_ef=64, quantization=models.QuantizationSearchParams(ignore=True)), 0.9, rescored=True)

client.update_collection(NAME, quantization_config=models.BinaryQuantization(binary=models.BinaryQuantizationConfig(always_ram=True)))
wait_green()
q = client.get_collection(NAME).config.quantization_config
assert isinstance(q, models.BinaryQuantization), q
r3 = check(models.SearchParams(hnsw_ef=128, quantization=models.QuantizationSearchParams(oversampling=4.0)), 0.7, rescored=True)

client.update_collection(NAME, quantization_config=models.Disabled.DISABLED)
wait_green()
assert client.get_collection(NAME).config.quantization_config is None
r4 = check(models.SearchParams(hnsw_ef=64), 0.9, rescored=True)
client.delete_collection(NAME)
print(f"recall@10: int8 rescored {r1:.3f}, ignored {r2:.3f}, binary x4 {r3:.3f}, disabled {r4:.3f}")
print("all checks passed")
